"""CI's mutation gate (`bench/mutate.py --check`): a record counts only for the code it was made
on, a score under 95 % fails, and stale records that would cost more than CI's budget fail with
the command that refreshes them (no cosmic-ray run in these tests: those paths never mutate)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import mutate


@pytest.fixture
def two_targets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tree of two targets with their tests, and an empty results file, in tmp_path."""
    for rel in ("pkg/a.py", "pkg/b.py", "tests/test_a.py", "tests/test_b.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(f'"""{rel}"""\n\nx = 1\n')
    monkeypatch.setattr(mutate, "ROOT", tmp_path)
    monkeypatch.setattr(mutate, "RESULTS", tmp_path / "mutation.json")
    monkeypatch.setattr(mutate, "TARGETS", {"pkg/a.py": "tests/test_a.py", "pkg/b.py": "tests/test_b.py"})
    return tmp_path


def record(root: Path, **entries: dict[str, object]) -> None:
    (root / "mutation.json").write_text(json.dumps({f"pkg/{k}.py": v for k, v in entries.items()}))


def entry(
    module: str, score: float | None, *, seconds: float = 10.0, fresh: bool = True
) -> dict[str, object]:
    survived = 0 if score in (None, 1.0) else 1
    return {
        "fingerprint": mutate.fingerprint(f"pkg/{module}.py", f"tests/test_{module}.py")
        if fresh
        else "0" * 16,
        "score": score,
        "killed": 19 if survived else 20,
        "survived": survived,
        "survivors": [{"line": 3, "diff": "-x\n+y"}] * survived,
        "seconds": seconds,
    }


def test_current_records_at_the_threshold_pass(two_targets: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record(two_targets, a=entry("a", 1.0), b=entry("b", 0.95))
    assert mutate.check() == 0
    assert "2 of 2 targets at >= 95%" in capsys.readouterr().out


def test_a_score_under_the_threshold_fails_and_names_the_survivor(
    two_targets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record(two_targets, a=entry("a", 1.0), b=entry("b", 0.9499))
    assert mutate.check() == 1
    out = capsys.readouterr().out
    assert "FAIL pkg/b.py: score 0.9499" in out and "survivor line 3" in out


def test_a_target_with_no_mutant_scored_fails(two_targets: Path) -> None:
    record(two_targets, a=entry("a", 1.0), b=entry("b", None))
    assert mutate.check() == 1


def test_an_edit_to_the_module_or_its_tests_makes_the_record_stale(
    two_targets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record(two_targets, a=entry("a", 1.0, seconds=800), b=entry("b", 1.0, seconds=800))
    assert mutate.check() == 0
    (two_targets / "tests/test_b.py").write_text('"""tests/test_b.py"""\n')  # a test deleted
    (two_targets / "pkg/a.py").write_text('"""pkg/a.py"""\n\nx = 2\n')  # a number changed
    assert mutate.check() == 1  # 1,600 s of stale mutation is over CI's 900 s
    out = capsys.readouterr().out
    assert "stale for 2 target(s) (pkg/a.py, pkg/b.py)" in out and "run `make mutate`" in out


def test_a_missing_record_is_stale(two_targets: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record(two_targets, a=entry("a", 1.0))
    assert mutate.check() == 1  # b never ran: its cost is unknown, so it is never run in CI
    assert "pkg/b.py" in capsys.readouterr().out


def test_a_stale_record_within_budget_is_mutated_again(
    two_targets: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The rerun's own score decides, not the stale record's."""
    record(two_targets, a=entry("a", 1.0), b=entry("b", 1.0, fresh=False))
    ran: list[str] = []

    def rerun(module: str, tests: str) -> dict[str, object]:
        ran.append(module)
        return entry("b", 0.5)

    monkeypatch.setattr(mutate, "mutate", rerun)
    assert mutate.check() == 1
    assert ran == ["pkg/b.py"]
    assert "FAIL pkg/b.py: score 0.5" in capsys.readouterr().out


def test_docstrings_comments_and_layout_keep_the_record(two_targets: Path) -> None:
    record(two_targets, a=entry("a", 1.0, seconds=1000), b=entry("b", 1.0))
    (two_targets / "pkg/a.py").write_text('"""Reworded, at length."""\n\n\n# why x is one\nx = (1)\n')
    assert mutate.check() == 0
    (two_targets / "pkg/a.py").write_text('"""Reworded, at length."""\n\nx = "1"\n')
    assert mutate.check() == 1  # stale, and over the budget


def test_a_target_whose_test_file_is_gone_is_stale_not_a_crash(
    two_targets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record(two_targets, a=entry("a", 1.0), b=entry("b", 1.0, seconds=1000))
    (two_targets / "tests/test_b.py").unlink()
    assert mutate.check() == 1
    assert "stale for 1 target(s) (pkg/b.py)" in capsys.readouterr().out
