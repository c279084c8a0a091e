"""LDCT-IQA 2023 on synthetic data: the two release zips, no re-split, pooled correlations
(perfect, reversed, constant, hand-computed), malformed values and ids, and baseline vs dummy."""

from __future__ import annotations

import csv
import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
from helpers import public_ids
from scipy import stats

from rexmle import challenge, data, grading
from rexmle import run as runs

CID = "ldct-iqa"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return data.prepare(challenge.get(CID), synthetic=True, home=tmp_path_factory.mktemp("ldct-home"))


def _table(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _truth(root: Path) -> dict[str, float]:
    return {r["image_id"]: float(r["quality_score"]) for r in _table(root / "private" / "test_labels.csv")}


def _submit(folder: Path, rows: list[tuple[str, str]], header: str = "image_id,quality_score") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "submission.csv").write_text(header + "\n" + "".join(f"{i},{v}\n" for i, v in rows))
    return folder


def _grade(root: Path, folder: Path) -> grading.GradeReport:
    return grading.grade(challenge.get(CID), folder, root / "public", root / "private", workers=1)


def test_prepare_keeps_official_split_and_layout(root: Path) -> None:
    train, test = public_ids(root, "train.csv"), public_ids(root)
    assert train == [f"{i:04d}" for i in range(60)] and test == [f"{i:04d}" for i in range(20)]
    with zipfile.ZipFile(root / "raw" / "LDCTIQAG2023_train.zip") as zf:
        official = json.loads(zf.read("LDCTIQAG2023_train/train.json"))
    rows = _table(root / "public" / "train.csv")
    assert {r["image_id"]: float(r["quality_score"]) for r in rows} == {
        k.removesuffix(".tif"): v for k, v in official.items()
    }
    img = tifffile.imread(root / "public" / rows[0]["image_path"])
    assert img.dtype == np.float32 and img.shape == (64, 64)
    assert (root / "public" / "test" / "images" / "0019.tiff").is_file()
    assert list(_table(root / "public" / "test.csv")[0]) == ["image_id", "image_path"]
    with zipfile.ZipFile(root / "raw" / "test_dataset.zip") as zf:
        test_json = json.loads(zf.read("LDCTIQAC_test/test.json"))
    truth = _truth(root)
    assert truth == {k.removesuffix(".tiff"): v for k, v in test_json.items()}
    # reader means: steps of 0.2, with ties (the tau-b / mean-rank branches are exercised)
    assert all(abs(v * 5 - round(v * 5)) < 1e-9 for v in truth.values()) and len(set(truth.values())) < 20
    # the sample submission is the training mean, constant
    mean = round(sum(official.values()) / len(official), 4)
    assert {
        float(r["quality_score"]) for r in _table(root / "public" / "sample_submission" / "submission.csv")
    } == {mean}
    assert not list((root / "public").rglob("test_labels.csv"))


def test_grade_perfect_reversed_constant_and_by_hand(root: Path, tmp_path: Path) -> None:
    truth = _truth(root)
    ids = sorted(truth)
    perfect = _grade(root, _submit(tmp_path / "perfect", [(i, repr(truth[i])) for i in ids]))
    assert perfect.valid and perfect.n_cases == 20
    assert perfect.metrics == pytest.approx({"score": 3.0, "plcc": 1.0, "srocc": 1.0, "krocc": 1.0})
    # exactly backwards (negatively correlated) scores the same: absolute values
    reversed_ = _grade(root, _submit(tmp_path / "rev", [(i, repr(10 - 2 * truth[i])) for i in ids]))
    assert reversed_.valid and reversed_.metrics == pytest.approx(perfect.metrics)
    # the dummy's constant prediction: every coefficient undefined -> 0, a valid grade
    sample = _grade(root, root / "public" / "sample_submission")
    assert sample.valid and sample.metrics == {"score": 0.0, "plcc": 0.0, "srocc": 0.0, "krocc": 0.0}
    # a monotone but non-linear prediction: the rank coefficients stay 1, Pearson drops
    t = np.array([truth[i] for i in ids])
    curved = _grade(root, _submit(tmp_path / "exp", [(i, repr(math.exp(2 * truth[i]))) for i in ids]))
    r = float(np.corrcoef(np.exp(2 * t), t)[0, 1])
    assert curved.metrics == pytest.approx({"score": r + 2, "plcc": r, "srocc": 1.0, "krocc": 1.0})
    assert 0.6 < r < 0.9
    # noise: each coefficient as scipy computes it, pooled over all 20 images
    p = t + np.random.default_rng(0).normal(0, 0.5, t.size)
    noisy = _grade(
        root, _submit(tmp_path / "noisy", [(i, repr(float(v))) for i, v in zip(ids, p, strict=True)])
    )
    want = [abs(stats.pearsonr(p, t)[0]), abs(stats.spearmanr(p, t)[0]), abs(stats.kendalltau(p, t)[0])]
    assert [noisy.metrics[k] for k in ("plcc", "srocc", "krocc")] == pytest.approx(want)
    assert noisy.metrics["score"] == pytest.approx(sum(want))
    assert {r["case_id"]: r["truth"] for r in noisy.per_case} == truth


def test_prepare_from_unpacked_folders_and_extensionless_keys(root: Path, tmp_path: Path) -> None:
    """A user may unpack the zips by hand, and a release's json may name files without their
    extension: the same ids and scores come out."""
    raw = tmp_path / "raw"
    for name in ("LDCTIQAG2023_train.zip", "test_dataset.zip"):
        with zipfile.ZipFile(root / "raw" / name) as zf:
            zf.extractall(raw / "unpacked")
    train_json = raw / "unpacked" / "LDCTIQAG2023_train" / "train.json"
    scores = json.loads(train_json.read_text())
    train_json.write_text(json.dumps({k.removesuffix(".tif"): v for k, v in scores.items()}))
    pub, priv = tmp_path / "pub", tmp_path / "priv"
    pub.mkdir()
    priv.mkdir()
    ch = challenge.get(CID)
    counts = ch.module("prepare").prepare(raw, pub, priv, ch.spec)
    assert counts == {"train": 60, "test": 20}
    assert (pub / "train.csv").read_text() == (root / "public" / "train.csv").read_text()
    assert (priv / "test_labels.csv").read_text() == (root / "private" / "test_labels.csv").read_text()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("abc", "case 0003: quality_score 'abc' is not a number"),
        ("nan", "case 0003: quality_score 'nan' is not a finite number"),
        ("-inf", "case 0003: quality_score '-inf' is not a finite number"),
        ("", "case 0003: quality_score is empty"),
    ],
)
def test_malformed_values_are_one_line_reasons(root: Path, tmp_path: Path, value: str, reason: str) -> None:
    rows = [(i, "2.0" if i != "0003" else value) for i in public_ids(root)]
    sub = _submit(tmp_path / "bad", rows)
    report = _grade(root, sub)
    assert not report.valid and report.reason == reason
    # the format check an agent can run (public files only) says the same
    checked = grading.validate(challenge.get(CID), sub, root / "public", workers=1)
    assert not checked.valid and checked.reason == reason


def test_missing_unpadded_duplicate_and_extra_ids(root: Path, tmp_path: Path) -> None:
    ids = public_ids(root)

    def reason(rows: list[tuple[str, str]], header: str = "image_id,quality_score") -> str:
        report = _grade(root, _submit(tmp_path / str(len(list(tmp_path.iterdir()))), rows, header))
        assert not report.valid and report.reason and "\n" not in report.reason
        return report.reason

    assert reason([(i, "1") for i in ids[1:]]) == "missing 1 of 20 test case(s): 0000"
    # an id read as a number loses its zero padding: "7" is not "0007"
    unpadded = [(str(int(i)) if i == "0007" else i, "1") for i in ids]
    assert reason(unpadded) == "missing 1 of 20 test case(s): 0007"
    assert reason([(i, "1") for i in ids] + [("0000", "2")]) == (
        "submission.csv: image_id '0000' appears more than once"
    )
    assert reason([(i, "1") for i in ids] + [("9999", "2")]) == "unknown case id(s) not in the test set: 9999"
    assert reason([(i, "1") for i in ids], "image_id,score") == (
        "submission.csv lacks column(s) quality_score (header: image_id, score)"
    )


@pytest.mark.baselines
def test_baseline_beats_dummy(home: Path) -> None:
    base = runs.execute(runs.make_spec(CID, "baseline", synthetic=True))
    dummy = runs.execute(runs.make_spec(CID, "dummy", synthetic=True))
    assert base.valid and dummy.valid and base.percentile is not None and dummy.percentile is not None
    assert base.metrics["score"] > 2.0 and dummy.metrics["score"] == 0.0
    assert base.percentile > dummy.percentile
