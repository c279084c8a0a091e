"""Grading is bounded and disposable: every case runs in a worker process with a memory cap and
a wall limit, and whatever a worker does (allocate without end, hang, abort, print, outlive its
harness) the submission is invalid with a one-line reason and the harness goes on.

The grader here is a fake challenge whose ``check_case`` does what a hostile file makes a real
decoder do, so each wall is climbed directly rather than through one format's quirks
(``tests/adversarial`` does it through real formats)."""

from __future__ import annotations

import fcntl
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers import fake_challenge

from rexmle import grading
from rexmle.challenge import Challenge, GradingLimits

GRADE_PY = """
import os, signal, sys, time
from pathlib import Path
from rexmle.challenge_api import InvalidSubmission, SubmissionFormat

FORMAT = SubmissionFormat(id_column="case_id", value_columns=("action",))


def check_case(case_id, files, public_dir):
    action = files["action"]
    marker = public_dir.parent / "pids"
    marker.mkdir(exist_ok=True)
    (marker / f"{case_id}.pid").write_text(str(os.getpid()))
    if action == "allocate":
        return bytearray(8 * 2**30)
    if action == "hang":
        while True:
            time.sleep(0.1)
    if action == "abort":
        os.abort()
    if action == "exit":
        os._exit(3)
    if action == "print":
        print("noise on stdout " * 1000)
        sys.stdout.flush()
        os.write(1, b"raw bytes on fd 1")
    if action == "fds":
        return sorted(os.listdir("/proc/self/fd"))
    if action == "env":
        return dict(os.environ)
    return action


def score_case(case_id, loaded, private_dir):
    return {"ok": 1.0, "n_fds": float(len(loaded)) if isinstance(loaded, list) else 0.0}


def aggregate(rows):
    return {"ok": sum(r["ok"] for r in rows) / len(rows), "n_fds": max(r["n_fds"] for r in rows)}
"""


METRICS = [
    {"name": "ok", "direction": "higher_better", "aggregation": "pooled"},
    {"name": "n_fds", "direction": "lower_better", "aggregation": "pooled"},
]


def fake(folder: Path, limits: GradingLimits) -> Challenge:
    """The fake challenge (``GRADE_PY``) with these grading limits."""
    return fake_challenge(folder, GRADE_PY, METRICS, limits)  # type: ignore[no-any-return]


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    fake(tmp_path / "bounds_fake", GradingLimits())
    (tmp_path / "public").mkdir()
    (tmp_path / "public" / "test.csv").write_text("case_id\na\nb\n")
    (tmp_path / "private").mkdir()
    return tmp_path / "bounds_fake", tmp_path / "public", tmp_path / "private"


def submit(folder: Path, actions: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{k},{v}\n" for k, v in actions.items())
    (folder / "submission.csv").write_text("case_id,action\n" + rows)
    return folder


def grade(setup: tuple[Path, Path, Path], sub: Path, **limits: float) -> grading.GradeReport:
    folder, public, private = setup
    return grading.grade(fake(folder, GradingLimits(**limits)), sub, public, private, workers=2)


def assert_one_line_invalid(report: grading.GradeReport, *words: str) -> None:
    assert not report.valid
    assert report.reason is not None and "\n" not in report.reason and "Traceback" not in report.reason
    for w in words:
        assert w in report.reason, report.reason


def test_an_honest_submission_is_graded(setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    report = grade(setup, submit(tmp_path / "s", {"a": "fine", "b": "print"}))
    assert report.valid, report.reason
    assert report.metrics["ok"] == 1.0


def test_allocation_past_the_cap_is_invalid_not_a_crash(
    setup: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    t0 = time.monotonic()
    report = grade(setup, submit(tmp_path / "s", {"a": "allocate", "b": "fine"}), memory_gb=1.0)
    assert_one_line_invalid(report, "case a", "too large")
    assert time.monotonic() - t0 < 60


def test_a_hanging_case_is_stopped_at_its_limit(setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    t0 = time.monotonic()
    report = grade(setup, submit(tmp_path / "s", {"a": "fine", "b": "hang"}), case_time_s=2)
    assert_one_line_invalid(report, "case b", "longer than its 2 s limit")
    assert time.monotonic() - t0 < 30
    pid = int((setup[1].parent / "pids" / "b.pid").read_text())
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


@pytest.mark.parametrize(("action", "words"), [("abort", "SIGABRT"), ("exit", "exited with code 3")])
def test_a_worker_that_dies_makes_the_submission_invalid(
    setup: tuple[Path, Path, Path], tmp_path: Path, action: str, words: str
) -> None:
    report = grade(setup, submit(tmp_path / "s", {"a": action, "b": "fine"}))
    assert_one_line_invalid(report, "case a", words)


def test_workers_inherit_no_file_of_the_harness(setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """A forked worker would hold the run's lock (and every open file) after the harness died."""
    lock = (tmp_path / ".lock").open("a+")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        report = grade(setup, submit(tmp_path / "s", {"a": "fds", "b": "fds"}))
    finally:
        lock.close()
    assert report.valid, report.reason
    # stdin, stdout, stderr, the request and answer pipes (dup'ed), the listing's own fd
    assert report.metrics["n_fds"] <= 7, report.metrics


def test_workers_get_no_provider_keys(
    setup: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, public, _private = setup
    ch = fake(folder, GradingLimits())
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    monkeypatch.setenv("REXMLE_HOME", str(tmp_path))
    with grading.WorkerPool(1, 2.0) as pool:
        pool.submit("a", ("case", (str(folder), ch.id, "a", {"action": "fine"}, str(public), None)), 30)
        _job, (_case, ok, _reason, _scores) = pool.next_answer(str)
        env = Path(f"/proc/{pool._idle[0].proc.pid}/environ").read_bytes()
    assert ok
    assert b"sk-must-not-leak" not in env and b"REXMLE_HOME" not in env
    assert b"OMP_NUM_THREADS=1" in env


def test_workers_die_with_a_killed_harness(setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """kill -9 of ``rexmle run`` while grading: no worker may survive it."""
    folder, public, private = setup
    sub = submit(tmp_path / "s", {"a": "hang", "b": "hang"})
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from types import SimpleNamespace
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_grading_bounds import fake
        from rexmle import grading
        from rexmle.challenge import GradingLimits
        ch = fake(Path({str(folder)!r}), GradingLimits(case_time_s=600))
        grading.grade(ch, Path({str(sub)!r}), Path({str(public)!r}), Path({str(private)!r}), workers=2)
        """
    )
    harness = subprocess.Popen([sys.executable, "-c", script])
    pids_dir = public.parent / "pids"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(pids_dir.glob("*.pid"))) < 2:
        time.sleep(0.1)
    pids = [int(p.read_text()) for p in pids_dir.glob("*.pid")]
    assert len(pids) == 2, "the workers never started"
    harness.send_signal(signal.SIGKILL)
    harness.wait()
    deadline = time.monotonic() + 10
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [p for p in pids if _alive(p)]
        time.sleep(0.1)
    assert not alive, f"grading workers {alive} outlived the harness"


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


def test_millions_of_rows_are_refused_unread(setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """An 8-million-row CSV under the 16 MiB cap took 35 s and 2 GB before being refused."""
    sub = tmp_path / "s"
    sub.mkdir()
    with (sub / "submission.csv").open("w") as f:
        f.write("case_id,action\n")
        f.write("a,\n" * 5_000_000)
    assert (sub / "submission.csv").stat().st_size < grading.MAX_CSV_BYTES
    t0 = time.monotonic()
    report = grade(setup, sub)
    assert_one_line_invalid(report, "far more rows than the 2 test case(s)")
    assert time.monotonic() - t0 < 60  # a hang guard; the cost is measured in make bench (grading_bench)


@pytest.mark.parametrize("header", ["case_id, action", " case_id ,action ", "case_id,action "])
def test_blanks_around_header_and_cells_are_ignored(
    setup: tuple[Path, Path, Path], tmp_path: Path, header: str
) -> None:
    sub = tmp_path / "s"
    sub.mkdir()
    (sub / "submission.csv").write_text(f"{header}\n a , fine\nb,  fine \n")
    report = grade(setup, sub)
    assert report.valid, report.reason
