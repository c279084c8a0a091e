"""3-D segmentation baseline from image/label pairs (TopCoW, TopBrain, SEG.A, PANTHER): a MONAI
U-Net on patches.

Reads ``train.csv`` / ``test.csv`` (columns ``image_id, image_path[, label_path]``), volumes in
any format SimpleITK reads (NIfTI, NRRD, MHA), as (z, y, x) arrays. The label values are taken
from the training labels (whatever map the challenge uses) and mapped to contiguous class
indices. For a binary task (``REXMLE_TASK_TYPE=segmentation-3d-binary``) the training labels may
hold more classes than the answer (PANTHER: 1 tumour, 2 pancreas): the model learns them all and
the submission is label 1 alone. The submission copies the sample submission's columns, rows and
file names (the challenge's own format), one prediction per row on the test image's grid.

Every training case is cropped to its labels' bounding box plus a margin (the vessels of a head CTA fill a small part of it), normalised (intensities clipped to
their 0.5-99.5 percentiles, then z-scored) and kept in memory as float16. Training draws random
patches for a fixed number of optimiser steps (the ``steps_3d`` setting, default 150: work done,
not wall-clock time, so a busy machine gives the same result; the deadline only cuts training
short, loudly, to keep time for the submission: work.py) with Dice + cross-entropy;
prediction runs a Gaussian-weighted sliding window over each whole test volume and writes the
arg-max label map with the test image's geometry. No left/right flips: the labels are sided.
Uses CUDA when one is visible; deterministic for a seed on CPU.
"""

from __future__ import annotations

import csv
import os
import time

import numpy as np
import SimpleITK as sitk
import torch
from monai.inferers import sliding_window_inference
from monai.losses import DiceCELoss
from monai.networks.nets import UNet
from split import load_sample, load_split
from work import Guard, setting, threads

PATCH = (48, 96, 96)  # voxels, (z, y, x); each a multiple of 8
MARGIN = 16


def normalise(x: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(x, [0.5, 99.5])
    x = np.clip(x, lo, hi)
    return ((x - x.mean()) / (x.std() + 1e-6)).astype(np.float16)


def crop_to_labels(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    nz = np.nonzero(y)
    if not nz[0].size:
        return x, y
    box = tuple(
        slice(max(0, int(a.min()) - MARGIN), min(n, int(a.max()) + MARGIN + 1))
        for a, n in zip(nz, y.shape, strict=True)
    )
    return x[box], y[box]


def pad_to(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.pad(a, [(0, max(0, s - n)) for n, s in zip(a.shape, shape, strict=True)])


def patch_size(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The patch for a volume: PATCH, or the volume rounded up to a multiple of 8 if smaller."""
    return tuple(min(p, -(-n // 8) * 8) for p, n in zip(PATCH, shape, strict=True))


def main() -> None:
    seed = int(os.environ.get("REXMLE_SEED", "0"))
    guard = Guard()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.set_num_threads(threads())
    print(f"baseline: device={device}, torch={torch.__version__}", flush=True)
    data, out, train, test = load_split()
    cases: list[tuple[np.ndarray, np.ndarray]] = []
    values: set[int] = {0}
    for row in train:
        x = sitk.GetArrayFromImage(sitk.ReadImage(str(data / row["image_path"]))).astype(np.float32)
        y = sitk.GetArrayFromImage(sitk.ReadImage(str(data / row["label_path"]))).astype(np.int64)
        values |= {int(v) for v in np.unique(y)}
        cases.append(crop_to_labels(normalise(x), y))
    labels = sorted(values)
    lut = np.zeros(max(labels) + 1, dtype=np.uint8)
    lut[labels] = np.arange(len(labels))
    cases = [(x, lut[y]) for x, y in cases]
    n_cls = len(labels)
    print(f"baseline: {len(cases)} training crops, {n_cls} classes {labels}", flush=True)

    model = UNet(
        spatial_dims=3,
        in_channels=1,
        out_channels=n_cls,
        channels=(16, 32, 64, 128),
        strides=(2, 2, 2),
        num_res_units=1,
    ).to(device)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    start = time.time()
    steps = int(setting("steps_3d"))
    # one patch shape for every batch: PATCH, or the largest crop rounded up to a multiple of 8
    p = patch_size(tuple(int(max(c[0].shape[a] for c in cases)) for a in range(3)))
    step, batch = 0, 2
    while step < steps:
        if guard.out_of_time():
            guard.cut("baseline", step, steps, "steps")
            break
        xs, ys = [], []
        for i in rng.integers(0, len(cases), batch):
            x, y = cases[int(i)]
            x, y = pad_to(x, p), pad_to(y, p)
            o = [int(rng.integers(0, n - s + 1)) for n, s in zip(x.shape, p, strict=True)]
            sl = tuple(slice(a, a + s) for a, s in zip(o, p, strict=True))
            xs.append(x[sl])
            ys.append(y[sl])
        xb = torch.from_numpy(np.stack(xs)[:, None].astype(np.float32)).to(device)
        yb = torch.from_numpy(np.stack(ys)[:, None].astype(np.int64)).to(device)
        model.train()
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            print(f"baseline: step {step} loss {float(loss):.4f} ({time.time() - start:.0f}s)", flush=True)
    print(f"baseline: trained {step} steps in {time.time() - start:.0f}s", flush=True)

    model.eval()
    binary = os.environ.get("REXMLE_TASK_TYPE") == "segmentation-3d-binary"
    sample = load_sample(data).rows
    column = next(c for c in sample[0] if c.startswith("predicted_"))
    images = {row["image_id"]: row["image_path"] for row in test}
    with torch.no_grad():
        for row in sample:
            ref = sitk.ReadImage(str(data / images[row["image_id"]]))
            vol = normalise(sitk.GetArrayFromImage(ref).astype(np.float32))
            roi = patch_size(tuple(vol.shape))
            # pad as training did (zeros after the volume, up to the patch), not centred as
            # sliding_window_inference would: a small volume then sits where it sat in
            # training, and the labels that only position tells apart stay apart
            x = torch.from_numpy(pad_to(vol, roi).astype(np.float32))
            logits = sliding_window_inference(
                x[None, None].to(device),
                roi_size=roi,
                sw_batch_size=2,
                predictor=model,
                overlap=0.25,
                mode="gaussian",
                device=torch.device("cpu"),
            )
            assert isinstance(logits, torch.Tensor)
            crop = tuple(slice(0, n) for n in vol.shape)
            pred = np.asarray(labels, dtype=np.uint8)[logits[0].argmax(0).numpy()[crop]]
            if binary:
                pred = (pred == 1).astype(np.uint8)
            img = sitk.GetImageFromArray(pred)
            img.CopyInformation(ref)
            (out / row[column]).parent.mkdir(parents=True, exist_ok=True)
            sitk.WriteImage(img, str(out / row[column]), useCompression=True)
    with (out / "submission.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(sample[0]))
        w.writeheader()
        w.writerows(sample)
    print(f"baseline: wrote {len(sample)} label maps to {out}", flush=True)
