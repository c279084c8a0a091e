"""3-D binary segmentation baseline: a small MONAI U-Net on DWI + ADC.

Reads ``train.csv`` / ``test.csv`` from the data folder (columns ``case_id, dwi, adc, ...``),
resamples every case to a fixed working grid, trains with Dice+BCE for a fixed number of epochs
(the ``epochs_3d`` setting, default 30), then predicts each test case, resamples the
probabilities back to the case's own DWI grid and writes a 0/1 mask with the DWI affine.

The amount of training is set by work done, not by the wall clock, so the result does not depend
on how busy the machine is (work.py). The deadline only guards the submission: the sample
submission is copied in first (always valid), and training stops early, saying so, only if
continuing would leave less than a tenth of the budget (at least 20 s) for predicting.
Deterministic for a seed on CPU. Uses CUDA when one is visible.
"""

from __future__ import annotations

import csv
import os
import shutil
import time
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch
import torch.nn.functional as F
from monai.losses import DiceCELoss
from monai.networks.nets import UNet
from work import Guard, setting, threads

GRID = (64, 64, 32)


def _env_path(name: str) -> Path:
    return Path(os.environ[name])


def _zscore(x: np.ndarray) -> np.ndarray:
    fg = x[x > 0]
    if fg.size < 10:
        return np.zeros_like(x, dtype=np.float32)
    return ((x - fg.mean()) / (fg.std() + 1e-6) * (x > 0)).astype(np.float32)


def _resize(t: torch.Tensor, size: tuple[int, ...], mode: str) -> torch.Tensor:
    kw = {"align_corners": False} if mode == "trilinear" else {}
    return F.interpolate(t[None], size=size, mode=mode, **kw)[0]


def load_case(
    data: Path, row: dict[str, str], with_mask: bool
) -> tuple[torch.Tensor, torch.Tensor | None, Any]:
    dwi_img: Any = nib.load(str(data / row["dwi"]))
    dwi = np.asarray(dwi_img.dataobj, dtype=np.float32)
    adc_img: Any = nib.load(str(data / row["adc"]))
    adc = np.asarray(adc_img.dataobj, dtype=np.float32)
    x = torch.from_numpy(np.stack([_zscore(dwi), _zscore(adc)]))
    x = _resize(x, GRID, "trilinear")
    y = None
    if with_mask:
        msk_img: Any = nib.load(str(data / row["mask"]))
        m = np.asarray(msk_img.dataobj) != 0
        y = _resize(torch.from_numpy(m[None].astype(np.float32)), GRID, "trilinear")
        y = (y > 0.5).float()
    return x, y, dwi_img


def main() -> None:
    data = _env_path("REXMLE_DATA_DIR")
    out = _env_path("REXMLE_SUBMISSION_DIR")
    seed = int(os.environ.get("REXMLE_SEED", "0"))
    guard = Guard(reserve_share=0.1, floor_s=20.0)  # predicting five to fifty cases and writing them
    epochs = int(setting("epochs_3d"))
    # a valid submission before anything else: the sample's empty masks, replaced at the end
    shutil.copytree(data / "sample_submission", out, dirs_exist_ok=True)
    torch.manual_seed(seed)
    np.random.seed(seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.set_num_threads(threads())
    print(f"baseline: device={device}, torch={torch.__version__}", flush=True)

    train_rows = list(csv.DictReader((data / "train.csv").open()))
    test_rows = list(csv.DictReader((data / "test.csv").open()))
    xs, ys = [], []
    for row in train_rows:
        x, y, _ = load_case(data, row, with_mask=True)
        xs.append(x)
        ys.append(y)
    X = torch.stack(xs).to(device)
    Y = torch.stack(ys).to(device)
    print(f"baseline: {len(xs)} training cases on a {GRID} grid", flush=True)

    model = UNet(
        spatial_dims=3, in_channels=2, out_channels=1, channels=(16, 32, 64), strides=(2, 2), num_res_units=1
    ).to(device)
    loss_fn = DiceCELoss(sigmoid=True)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    start = time.time()
    epoch, batch = 0, 4
    while epoch < epochs:
        if guard.out_of_time():
            guard.cut("baseline", epoch, epochs, "epochs")
            break
        model.train()
        perm = torch.randperm(len(X))
        total = 0.0
        for i in range(0, len(X), batch):
            idx = perm[i : i + batch]
            xb, yb = X[idx], Y[idx]
            if torch.rand(1).item() < 0.5:  # flip augmentation
                xb, yb = xb.flip(2), yb.flip(2)
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
        epoch += 1
        if epoch % 10 == 0:
            print(
                f"baseline: epoch {epoch} loss {total / len(X):.4f} ({time.time() - start:.0f}s)", flush=True
            )
    print(f"baseline: trained {epoch} epochs in {time.time() - start:.0f}s", flush=True)

    model.eval()
    (out / "predictions").mkdir(parents=True, exist_ok=True)
    lines = ["case_id,predicted_mask_path"]
    with torch.no_grad():
        for row in test_rows:
            x, _, ref = load_case(data, row, with_mask=False)
            prob = torch.sigmoid(model(x[None].to(device)))[0].cpu()
            shape = tuple(int(s) for s in ref.shape[:3])
            prob = _resize(prob, shape, "trilinear")[0].numpy()
            mask = (prob > 0.5).astype(np.uint8)
            rel = f"predictions/{row['case_id']}_pred.nii.gz"
            img = nib.Nifti1Image(mask, ref.affine)
            img.set_qform(ref.affine, code=1)
            img.set_sform(ref.affine, code=1)
            nib.save(img, str(out / rel))
            lines.append(f"{row['case_id']},{rel}")
    (out / "submission.csv").write_text("\n".join(lines) + "\n")
    print(f"baseline: wrote {len(test_rows)} predictions to {out}", flush=True)
