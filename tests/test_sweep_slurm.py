"""Sweeps on a real SLURM cluster through submitit: jobs run, one is cancelled mid-run and the
sweep resumes it; job arrays; the report of the sweep renders in Chromium.

Needs slurmctld, slurmd and slurmdbd (accounting, so job states are real): `bash .ci/slurm`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import rexmle_cli, wait_for
from helpers import write_sweep as write_sweep_file

from rexmle import sweep as sweeps
from rexmle.store import RunDir, RunState

pytestmark = pytest.mark.slurm
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(autouse=True)
def _cluster() -> None:
    from helpers import needs

    if shutil.which("sinfo") is None or subprocess.run(["sinfo", "-h"], capture_output=True).returncode != 0:
        needs("a SLURM cluster", "bash .ci/slurm installs and starts one")


#: One challenge per kind of baseline run that finishes fast (box, edge list) plus ISLES'22, whose
#: baseline trains for its whole budget and is the job the test cancels. Every challenge's own
#: baseline is run by `make test-baselines`; a matrix of all of them here would be 20 minutes of
#: queue on a 2-core node and prove nothing more about SLURM.
MATRIX = ["isles22", "topcow-track1-task2", "topcow-track1-task3"]
BASE = {
    "name": "slurm-ci",
    "agents": ["dummy", "baseline"],
    "challenges": MATRIX,
    "seeds": 2,
    "synthetic": True,
    "budgets": {"wall_time_s": 40},
    "executor": "slurm",
    "slurm": {"time_margin_s": 300, "mem_margin_gb": 1, "poll_s": 1},
}


def write_sweep(folder: Path, **fields: object) -> Path:
    return write_sweep_file(folder, BASE, **fields)


def sacct_state(job_id: str) -> str:
    proc = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-o", "State", "-j", job_id], capture_output=True, text=True
    )
    return proc.stdout.strip().split()[0] if proc.stdout.strip() else ""


def test_slurm_sweep_with_a_cancelled_job_resumes_and_reports(
    home: Path, tmp_path: Path, browser_page
) -> None:  # type: ignore[no-untyped-def]
    path = write_sweep(tmp_path)
    out = tmp_path / "out"
    expected = 2 * 2 * len(MATRIX)
    first = rexmle_cli("sweep", str(path), "--no-wait", "--json")
    assert first.returncode == 0, first.stderr
    assert len(json.loads(first.stdout)["submitted_jobs"]) == expected

    # cancel a baseline job while its agent trains
    def baseline_running() -> bool:
        for r in sweeps.status(out):
            rec = RunDir(out / "runs" / r.run_id).read_record()
            if (
                r.agent == "baseline"
                and r.challenge == "isles22"  # trains for its whole budget: still running at the cancel
                and rec is not None
                and rec.state is RunState.running
                and rec.runtime_info
            ):
                return True
        return False

    wait_for(baseline_running, 300, "a baseline run to start on the cluster")
    victim = next(
        r
        for r in sweeps.status(out)
        if r.agent == "baseline"
        and r.challenge == "isles22"
        and r.phase == "running"
        and r.state == "running"
    )
    assert victim.job_id
    subprocess.run(["scancel", victim.job_id], check=True)
    wait_for(
        lambda: victim.job_id not in sweeps.slurm_active_jobs(), 120, "the cancelled job to leave the queue"
    )
    wait_for(lambda: sacct_state(victim.job_id).startswith("CANCELLED"), 60, "accounting to record CANCELLED")

    # the rest of the sweep finishes on its own; the cancelled run is left interrupted, cleanly
    wait_for(
        lambda: (
            sweeps.counts(sweeps.status(out))["queued"] + sweeps.counts(sweeps.status(out))["running"] == 0
        ),
        600,
        "the other jobs",
    )
    rows = {r.run_id: r for r in sweeps.status(out)}
    assert rows[victim.run_id].phase == "interrupted"
    assert sweeps.counts(rows.values())["done"] == expected - 1
    record = RunDir(out / "runs" / victim.run_id).read_record()
    assert record is not None and record.state is RunState.interrupted and "signal 15" in (record.error or "")
    status = rexmle_cli("sweep", "status", str(out), "--json")
    assert json.loads(status.stdout)["counts"]["interrupted"] == 1

    # re-running the sweep submits exactly the cancelled run again, and waits for it
    again = rexmle_cli("sweep", str(path), "--json")
    assert again.returncode == 0, again.stderr
    outcome = json.loads(again.stdout)
    assert outcome["started"] == [victim.run_id] and len(outcome["submitted_jobs"]) == 1
    assert outcome["counts"]["done"] == expected
    resubmitted = outcome["submitted_jobs"][0]
    # slurmdbd records a job's end a moment after squeue forgets it: wait for accounting
    wait_for(
        lambda: sacct_state(resubmitted) == "COMPLETED", 60, f"sacct to record job {resubmitted} COMPLETED"
    )
    dirs = sorted(p.name for p in (out / "runs").iterdir())
    assert len(dirs) == expected
    for rid in dirs:
        rec = RunDir(out / "runs" / rid).read_record()
        assert rec is not None and rec.attempts == (2 if rid == victim.run_id else 1)
        assert RunDir(out / "runs" / rid).read_result() is not None

    # the report of this sweep, in a real browser
    ARTIFACTS.mkdir(exist_ok=True)
    html = ARTIFACTS / "slurm-report.html"
    made = rexmle_cli("report", str(out), "-o", str(html), "--json")
    assert made.returncode == 0, made.stderr
    info = json.loads(made.stdout)
    assert info["n_runs"] == expected and info["size_bytes"] == html.stat().st_size
    page = browser_page
    page.goto(html.as_uri())
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#cohort-synthetic .heatmap .main-svg")
    assert page.locator("table.runs tbody tr").count() == expected
    assert page.locator("#cohort-synthetic table.leaderboard tbody tr").count() == 2
    page.locator("#cohort-synthetic").screenshot(path=str(ARTIFACTS / "slurm-report.png"))
    bad = [e for e in page.events if e[0] in ("error", "pageerror", "request")]
    assert bad == [], bad
    (ARTIFACTS / "slurm-report.json").write_text(json.dumps(info, indent=2))


def test_job_array_sweep(home: Path, tmp_path: Path) -> None:
    path = write_sweep(
        tmp_path, agents=["dummy"], challenges=["isles22"], seeds=3, slurm={"array": True, "poll_s": 1}
    )
    done = rexmle_cli("sweep", str(path), "--json")
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    jobs = outcome["submitted_jobs"]
    assert len(jobs) == 3 and len({j.split("_")[0] for j in jobs}) == 1 and all("_" in j for j in jobs)
    assert outcome["counts"]["done"] == 3
    wait_for(
        lambda: all(sacct_state(j) == "COMPLETED" for j in jobs), 60, "sacct to record the array COMPLETED"
    )
    again = json.loads(rexmle_cli("sweep", str(path), "--json").stdout)
    assert again["started"] == [] and again["submitted_jobs"] == []


def test_requeued_job_restarts_its_run_in_the_same_job(home: Path, tmp_path: Path) -> None:
    """What preemption with requeue does: SLURM signals the job and queues it again. The run
    stops cleanly, shows as queued (not interrupted: nothing to resubmit), then finishes in
    the same job as attempt 2."""
    path = write_sweep(tmp_path, agents=["baseline"], challenges=["isles22"], seeds=1)
    out = tmp_path / "out"
    first = rexmle_cli("sweep", str(path), "--no-wait", "--json")
    assert first.returncode == 0, first.stderr
    (job,) = json.loads(first.stdout)["submitted_jobs"]

    def agent_running() -> bool:
        rows = sweeps.status(out)
        rec = RunDir(out / "runs" / rows[0].run_id).read_record() if (out / "runs").exists() else None
        return rec is not None and rec.state is RunState.running and bool(rec.runtime_info)

    wait_for(agent_running, 300, "the agent to start")
    subprocess.run(["scontrol", "requeue", job], check=True)
    wait_for(lambda: sweeps.status(out)[0].phase == "queued", 60, "the run to be queued again")
    record = RunDir(out / "runs" / sweeps.status(out)[0].run_id).read_record()
    assert record is not None and record.state is RunState.interrupted and "signal 15" in (record.error or "")
    # a requeued job waits ~2 minutes before it is eligible again; let it start now
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True)
    again = rexmle_cli("sweep", str(path), "--json")  # resubmits nothing: the job is still queued
    assert again.returncode == 0, again.stderr
    outcome = json.loads(again.stdout)
    assert outcome["started"] == [] and outcome["submitted_jobs"] == [] and outcome["counts"]["done"] == 1
    (row,) = sweeps.status(out)
    record = RunDir(out / "runs" / row.run_id).read_record()
    assert record is not None and record.attempts == 2 and row.job_id == job
    wait_for(lambda: sacct_state(job) == "COMPLETED", 60, "sacct to record the requeued job COMPLETED")
