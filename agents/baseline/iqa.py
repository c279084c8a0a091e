"""No-reference image-quality baseline (LDCT-IQA): hand-made noise and texture features and a
scikit-learn regressor.

No LLM, no GPU, seconds of CPU. Every slice (any 2-D image tifffile or Pillow reads) becomes a
short feature vector: robust noise estimates (the median absolute deviation of the
diagonal-difference and Laplacian residuals, Donoho-style, inside the body and overall), the
spread of the residual after 3x3 and 5x5 smoothing, gradient-magnitude percentiles and the
image's own mean and spread. A ridge regression (standardised features, alpha chosen by
leave-one-out cross-validation) maps them to the training scores; the predictions are
written in the sample submission's rows and columns. Correlation metrics ignore the scale, so
nothing is clipped.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from scipy import ndimage
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from split import load_sample, load_split


def read_image(path: Path) -> np.ndarray:
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        arr = tifffile.imread(str(path))
    else:
        from PIL import Image

        arr = np.asarray(Image.open(path))
    arr = np.asarray(arr, dtype=np.float64)
    return arr if arr.ndim == 2 else arr.reshape(arr.shape[0], arr.shape[1], -1).mean(axis=2)


def mad(x: np.ndarray) -> float:
    return float(np.median(np.abs(x - np.median(x)))) / 0.6745 if x.size else 0.0


def features(img: np.ndarray) -> np.ndarray:
    body = img > np.percentile(img, 30)
    diag = (img[1:, 1:] - img[:-1, :-1] - img[1:, :-1] + img[:-1, 1:]) / 2.0
    lap = ndimage.laplace(img)
    r3 = img - ndimage.uniform_filter(img, 3)
    r5 = img - ndimage.uniform_filter(img, 5)
    grad = np.hypot(ndimage.sobel(img, 0), ndimage.sobel(img, 1))
    inner = body[1:, 1:] & body[:-1, :-1]
    feats = [
        mad(diag),
        mad(diag[inner]),
        mad(lap[body]),
        float(r3[body].std()),
        float(r5[body].std()),
        float(r5.std()),
        *np.percentile(grad[body], [25, 50, 75, 95]).tolist(),
        float(img[body].mean()),
        float(img[body].std()),
    ]
    f = np.asarray(feats, dtype=np.float64)
    return np.concatenate([f, np.log(np.abs(f[:6]) + 1e-6)])


def main() -> None:
    data, out, train, test = load_split()
    X = np.stack([features(read_image(data / r["image_path"])) for r in train])
    y = np.array([float(r["quality_score"]) for r in train])
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
    model.fit(X, y)
    print(
        f"baseline: ridge on {X.shape[1]} image features of {len(train)} slices (train R^2 {model.score(X, y):.3f})",
        flush=True,
    )
    paths = {r["image_id"]: r["image_path"] for r in test}
    columns, sample = load_sample(data)
    value_col = next(c for c in columns if c != "image_id")
    out.mkdir(parents=True, exist_ok=True)
    with (out / "submission.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        for row in sample:
            pred = float(model.predict(features(read_image(data / paths[row["image_id"]]))[None])[0])
            w.writerow({**row, value_col: f"{pred:.6f}"})
    print(f"baseline: wrote {len(sample)} quality scores", flush=True)
