"""The public data is the grader's truth and every later run's input: a change to it since
``prepare`` makes grading refuse (``tampered``) and the folder is rebuilt before anything reads it."""

from __future__ import annotations

import shutil
from pathlib import Path

from rexmle import data
from rexmle import run as runs


def test_tampered_public_data_invalidates_the_grade_and_is_restored(home: Path, tmp_path: Path) -> None:
    """What an unisolated agent (or anything else) could do: rewrite the master's test.csv so
    the grader expects one case. Grading refuses (tampered) and rebuilds the public folder."""
    from rexmle import challenge

    ch = challenge.get("isles22")
    root = data.prepare(ch, synthetic=True, home=tmp_path / "home")
    test_csv = root / "public" / "test.csv"
    lines = test_csv.read_text().splitlines()
    before = test_csv.read_bytes()
    test_csv.write_text("\n".join(lines[:2]) + "\n")
    sub = tmp_path / "sub"
    case = lines[1].split(",")[0]
    sample = root / "public" / "sample_submission"
    shutil.copytree(sample, sub)
    (sub / "submission.csv").chmod(0o644)
    (sub / "submission.csv").write_text(
        "\n".join(
            [(sample / "submission.csv").read_text().splitlines()[0]]
            + [r for r in (sample / "submission.csv").read_text().splitlines()[1:] if r.startswith(case)]
        )
        + "\n"
    )
    report, rank = runs.grade_and_rank(ch, sub, root)
    assert not report.valid and rank is None
    assert report.reason is not None and report.reason.startswith("tampered: public/test.csv changed")
    assert test_csv.read_bytes() == before
    assert data.check_public(root) == []


def test_the_expected_cases_come_from_the_manifest_not_the_public_file(tmp_path: Path) -> None:
    """Even read without the hash check, a shortened public test.csv does not shorten the test set."""
    from rexmle import challenge, grading

    ch = challenge.get("isles22")
    root = data.prepare(ch, synthetic=True, home=tmp_path / "home")
    full = grading.expected_ids(ch, root / "public")
    test_csv = root / "public" / "test.csv"
    test_csv.write_text("\n".join(test_csv.read_text().splitlines()[:2]) + "\n")
    assert len(full) > 1
    assert grading.expected_ids(ch, root / "public") == full
    assert data.public_expected_ids(ch, root / "public") == full[:1]
