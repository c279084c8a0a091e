"""Sweeps: the spec, the matrix, local execution, and resuming after the orchestrator is killed."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import rexmle_cli, wait_for
from helpers import write_sweep as write_sweep_file

from rexmle import challenge as challenges
from rexmle import sweep as sweeps
from rexmle.errors import ConfigError, NotFoundError
from rexmle.store import RunDir, RunState

BASE = {"name": "t", "agents": ["dummy"], "challenges": "all", "synthetic": True}


def write_sweep(folder: Path, **fields: object) -> Path:
    return write_sweep_file(folder, BASE, **fields)


def test_spec_expands_groups_seeds_and_resolves_output(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, agents=["dummy", "baseline"], seeds=3, budgets={"wall_time_s": 30})
    spec = sweeps.load(path)
    assert spec.output == (tmp_path / "out").resolve()
    runs = sweeps.expand(spec)
    n_challenges = len(challenges.select("all"))
    assert len(runs) == 2 * 3 * n_challenges
    assert len({r.run_id for r in runs}) == len(runs)
    assert {r.seed for r in runs} == {0, 1, 2} and all(r.budgets.wall_time_s == 30 for r in runs)
    assert [r.run_id for r in sweeps.expand(sweeps.load(path))] == [r.run_id for r in runs]  # stable
    est = sweeps.estimate(runs)
    assert est["runs"] == len(runs) and est["gpu_hours"] == 0
    assert est["cpu_hours"] == pytest.approx(len(runs) * 30 * 2 / 3600)


def test_groups_select_by_dimensions_and_size() -> None:
    assert "isles22" in challenges.select("3d") and "isles22" in challenges.select("lite")
    two_d = [c for c, ch in challenges.discover().items() if ch.spec.dimensions == "2d"]
    if two_d:
        assert set(challenges.select("2d")) == set(two_d) and "isles22" not in two_d
    else:
        with pytest.raises(ConfigError, match="challenge group '2d' is empty"):
            challenges.select("2d")
    assert challenges.select(["isles22", "3d"]).count("isles22") == 1
    with pytest.raises(NotFoundError, match="unknown challenge or group 'nope'"):
        challenges.select("nope")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"agents": []}, "agents: List should have at least 1 item"),
        ({"executor": "k8s"}, "executor: Input should be 'local' or 'slurm'"),
        ({"seeds": 0}, "seeds"),
        ({"budgets": {"wall_time_s": -1}}, "budgets.wall_time_s"),
        ({"slurm": {"partiton": "gpu"}}, "slurm.partiton: unknown key (did you mean partition?)"),
        ({"name": "a b"}, "name: String should match pattern"),
    ],
)
def test_bad_spec_is_one_line(tmp_path: Path, fields: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=r"sweep\.yaml: ") as err:
        sweeps.load(write_sweep(tmp_path, **fields))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_every_problem_of_a_sweep_file_at_once_with_suggestions(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, agnets=["dummy"], seeds=-1, budgets={"wall_time": 30})
    with pytest.raises(ConfigError) as err:
        sweeps.load(path)
    text = str(err.value)
    assert "\n" not in text and "3 problems: " in text
    assert "agnets: unknown key (did you mean agents?)" in text
    assert "budgets.wall_time: unknown key (did you mean wall_time_s?)" in text
    assert "seeds: Input should be greater than 0 or input should be a valid list (got -1)" in text
    spec = sweeps.load(write_sweep(tmp_path, agents=["dummy", "baselin"], challenges=["isles2", "lite"]))
    with pytest.raises(NotFoundError) as nf:
        sweeps.expand(spec)
    assert str(nf.value) == (
        "sweep t: unknown challenge 'isles2' (did you mean isles22?); unknown agent 'baselin' (did you mean baseline?)"
    )


def test_matrix_errors_name_the_cell(tmp_path: Path) -> None:
    spec = sweeps.load(write_sweep(tmp_path, agents=["aide"], challenges=["isles22"]))
    with pytest.raises(ConfigError, match=r"sweep t: isles22 x aide: agent 'aide' needs an LLM"):
        sweeps.expand(spec)
    spec = sweeps.load(write_sweep(tmp_path, agents=["aide"], challenges=["isles22", "seg_a"]))
    with pytest.raises(
        ConfigError, match=r"sweep t: isles22 x aide \(and 1 more challenges\): agent 'aide' needs"
    ):
        sweeps.expand(spec)
    spec = sweeps.load(write_sweep(tmp_path, agents=["nobody"]))
    with pytest.raises(NotFoundError, match="nobody"):
        sweeps.expand(spec)


def test_llm_agents_run_once_per_model_and_others_once(tmp_path: Path) -> None:
    spec = sweeps.load(
        write_sweep(
            tmp_path,
            agents=["dummy", "aide"],
            challenges=["isles22"],
            models=["openai/gpt-4o", "anthropic/claude-sonnet-4-5"],
            seeds=[7],
        )
    )
    runs = sweeps.expand(spec)
    assert sorted((r.agent, r.model) for r in runs) == [
        ("aide", "anthropic/claude-sonnet-4-5"),
        ("aide", "openai/gpt-4o"),
        ("dummy", None),
    ]


def test_local_slots_are_disjoint_and_take_one_gpu_each(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spec = sweeps.load(write_sweep(tmp_path, challenges=["isles22"], seeds=4))
    runs = sweeps.expand(spec)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3, 4, 5})
    slots = sweeps.local_slots(runs, None)  # synthetic budget: 2 CPUs a run -> 3 slots
    assert [s.cpus for s in slots] == [[0, 1], [2, 3], [4, 5]] and all(not s.gpus for s in slots)
    gpu_runs = [r.model_copy(update={"budgets": r.budgets.model_copy(update={"gpus": 1})}) for r in runs]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    slots = sweeps.local_slots(gpu_runs, None)
    assert [s.gpus for s in slots] == [["3"], ["5"]]


def test_slurm_resources_come_from_the_budget_plus_margin(tmp_path: Path) -> None:
    spec = sweeps.load(
        write_sweep(
            tmp_path,
            challenges=["isles22"],
            synthetic=False,
            executor="slurm",
            slurm={
                "partition": "gpu",
                "account": "lab",
                "qos": "high",
                "constraint": "a100",
                "time_margin_s": 600,
            },
        )
    )
    (rs,) = sweeps.expand(spec)  # real budget: 43200 s, 8 CPUs, 64 GB, 1 GPU
    p = sweeps.slurm_parameters(spec, rs)
    assert p["timeout_min"] == (43200 + 600) // 60 and p["cpus_per_task"] == 8 and p["mem_gb"] == 68
    assert p["gpus_per_node"] == 1
    assert (p["slurm_partition"], p["slurm_account"], p["slurm_qos"], p["slurm_constraint"]) == (
        "gpu",
        "lab",
        "high",
        "a100",
    )


def test_sigterm_stops_the_runs_and_leaves_them_for_the_next_sweep(home: Path, tmp_path: Path) -> None:
    path = write_sweep(
        tmp_path, agents=["sleeper"], challenges=["isles22"], seeds=2, budgets={"wall_time_s": 120}
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "rexmle.cli", "sweep", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    out = tmp_path / "out"

    def recorded_and_running() -> bool:
        """One run holds its lock *and* has written run.json: a SIGTERM that lands between the
        two (a few milliseconds) stops a run that never started, which is rightly "pending"."""
        if not (out / "sweep.json").exists():
            return False
        rows = sweeps.status(out)
        return sum(r.phase == "running" and r.state is not None for r in rows) == 1

    wait_for(recorded_and_running, 120, "a run that has recorded its start")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130, proc.stderr.read() if proc.stderr else ""
    rows = sweeps.status(out)
    assert sweeps.counts(rows)["interrupted"] == 1 and sweeps.counts(rows)["pending"] == 1
    (stopped,) = [r for r in rows if r.phase == "interrupted"]
    record = RunDir(out / "runs" / stopped.run_id).read_record()
    assert record is not None and record.state is RunState.interrupted and "signal 15" in (record.error or "")


THREE = ["isles22", "topcow-track1-task2", "topcow-track1-task3"]


@pytest.mark.parametrize(
    ("matrix", "wall_time_s", "seeds"),
    [
        pytest.param(THREE, 20, 3, id="three"),
        # every synthetic challenge, one seed: each baseline trains for ~60% of 40 s, so the
        # whole matrix (2 runs per challenge) costs ~15 min on two cores; `make test-baselines`
        # (CI) runs it
        pytest.param("all", 40, 1, id="all", marks=[pytest.mark.baselines, pytest.mark.timeout(3000)]),
    ],
)
def test_local_sweep_killed_halfway_resumes_to_exactly_the_matrix(
    home: Path, tmp_path: Path, matrix: str | list[str], wall_time_s: int, seeds: int
) -> None:
    """dummy and baseline x the challenges x the seeds; SIGKILL the orchestrator and its workers
    while a baseline run trains; the re-run finishes exactly the missing runs.

    ``three`` (the default suite): ISLES'22, whose baseline trains for its whole budget (the
    run the kill lands on), and two whose baselines finish in a second (box, edge list), 3
    seeds. ``all``: every synthetic challenge there is, as the sweep contract asks."""
    path = write_sweep(
        tmp_path,
        agents=["dummy", "baseline"],
        challenges=matrix,
        seeds=seeds,
        budgets={"wall_time_s": wall_time_s},
    )
    out = tmp_path / "out"
    expected = len(sweeps.expand(sweeps.load(path)))
    assert expected == 2 * seeds * len(challenges.select(matrix))
    proc = subprocess.Popen(
        [sys.executable, "-m", "rexmle.cli", "sweep", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def halfway() -> bool:
        """Three runs done and a baseline training: in ``three`` ISLES'22's (it takes its whole
        budget, so it is still running when the kill lands; the other two finish in a second),
        in ``all`` any (most train for their whole budget)."""
        if not (out / "sweep.json").exists():
            return False
        rows = sweeps.status(out)
        training = [
            r
            for r in rows
            if r.phase == "running"
            and r.agent == "baseline"
            and (r.challenge == "isles22" or matrix != THREE)
            and r.state == "running"
        ]
        return sweeps.counts(rows)["done"] >= 3 and bool(training)

    wait_for(halfway, 600 if matrix == THREE else 2400, "three finished runs and a baseline training")
    running = [r for r in sweeps.status(out) if r.phase == "running"]

    def agent_pid(run_id: str) -> int | None:
        record = RunDir(out / "runs" / run_id).read_record()
        pid = record.runtime_info.get("pid") if record is not None else None
        return int(pid) if pid is not None else None

    agent_pids = []
    for r in running:
        wait_for(lambda r=r: agent_pid(r.run_id) is not None, 60, "the agent's pid in run.json")
        agent_pids.append(agent_pid(r.run_id))
    os.killpg(proc.pid, signal.SIGKILL)  # a node failure: orchestrator and workers at once
    proc.wait()

    def agents_gone() -> bool:
        for pid in agent_pids:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            return False
        return True

    wait_for(agents_gone, 30, "the orphaned agents to die with their harness")
    rows = {r.run_id: r for r in sweeps.status(out)}
    before = {rid for rid, r in rows.items() if r.phase == "done"}
    interrupted = {rid for rid, r in rows.items() if r.phase == "interrupted"}
    assert len(before) >= 3 and interrupted and not any(r.phase == "running" for r in rows.values())
    stamps = {rid: (out / "runs" / rid / "result.json").stat().st_mtime_ns for rid in before}

    again = rexmle_cli("sweep", str(path), "--json", timeout=2400)
    assert again.returncode == 0, again.stderr
    outcome = json.loads(again.stdout)
    assert set(outcome["started"]) == set(rows) - before
    assert outcome["counts"]["done"] == expected and outcome["skipped_finished"] == len(before)

    dirs = sorted(p.name for p in (out / "runs").iterdir())
    assert len(dirs) == expected and set(dirs) == set(rows)
    for rid in dirs:
        rd = RunDir(out / "runs" / rid)
        record, result = rd.read_record(), rd.read_result()
        assert record is not None and result is not None and result.valid
        assert record.attempts == (2 if rid in interrupted else 1)
    assert {rid: (out / "runs" / rid / "result.json").stat().st_mtime_ns for rid in before} == stamps
    index = (out / "index.csv").read_text().splitlines()
    assert len(index) == expected + 1

    third = rexmle_cli("sweep", str(path), "--json")
    assert third.returncode == 0 and json.loads(third.stdout)["started"] == []
    status = rexmle_cli("sweep", "status", str(out), "--json")
    assert json.loads(status.stdout)["counts"] == {**dict.fromkeys(sweeps.PHASES, 0), "done": expected}


def test_unprepared_real_data_fails_up_front_with_one_line(home: Path, tmp_path: Path) -> None:
    path = write_sweep(tmp_path, challenges=["isles22"], synthetic=False)
    proc = rexmle_cli("sweep", str(path))
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "rexmle prepare isles22" in lines[0], proc.stderr
    assert not (tmp_path / "out" / "runs").exists()  # nothing started


def test_sweep_run_and_status_are_subcommands_and_a_bare_file_still_runs(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, challenges=["isles22"], seeds=2)
    run = rexmle_cli("sweep", "run", str(path), "--dry-run", "--json")
    bare = rexmle_cli("sweep", str(path), "--dry-run", "--json")
    assert run.returncode == bare.returncode == 0, run.stderr + bare.stderr
    assert json.loads(run.stdout) == json.loads(bare.stdout)
    assert len(json.loads(run.stdout)["runs"]) == 2
    helped = rexmle_cli("sweep", "--help")
    assert helped.returncode == 0 and "run" in helped.stdout and "status" in helped.stdout
    missing = rexmle_cli("sweep", "status", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and missing.stderr.startswith("error:") and "sweep.json" in missing.stderr


def test_the_worker_command_line_is_parsed_and_refuses_what_it_cannot_run(tmp_path: Path) -> None:
    from rexmle.sweep import worker

    cmd = worker.command(tmp_path / "out", "abc", tmp_path / "home", True)
    args = worker.parser().parse_args(cmd[3:])
    assert (args.out, args.run_id, args.home, args.force) == (
        tmp_path / "out",
        "abc",
        tmp_path / "home",
        True,
    )
    spec = sweeps.load(write_sweep(tmp_path, challenges=["isles22"]))
    sweeps.write_manifest(spec, sweeps.expand(spec))
    unknown = subprocess.run(
        [sys.executable, "-m", "rexmle.sweep.worker", str(spec.output), "not-a-run"],
        capture_output=True,
        text=True,
    )
    assert unknown.returncode == 2 and "not in the sweep" in unknown.stderr
    usage = subprocess.run([sys.executable, "-m", "rexmle.sweep.worker"], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage:" in usage.stderr
    # the older command line (`python -m rexmle.sweep worker ...`) still reaches the same worker
    legacy = subprocess.run(
        [sys.executable, "-m", "rexmle.sweep", "worker", str(spec.output), "not-a-run"],
        capture_output=True,
        text=True,
    )
    assert legacy.returncode == 2 and "not in the sweep" in legacy.stderr
    bare = subprocess.run([sys.executable, "-m", "rexmle.sweep"], capture_output=True, text=True)
    assert bare.returncode == 1
    assert bare.stderr.strip() == "usage: python -m rexmle.sweep.worker OUT RUN_ID [--home H] [--force]"


def test_progress_lines_say_how_each_run_ended_and_how_far_the_sweep_is(tmp_path: Path) -> None:
    import time

    from bench.synthetic_results import write_runs
    from rexmle.sweep.local import ended_how, tally_of

    made = write_runs(tmp_path / "out", ["dummy", "broken"], seeds=2, invalid_every=2)
    ids = [p.name for p in made]
    tally = tally_of(tmp_path / "out", ids[:3], 8, 2, time.monotonic() - 60)
    assert (tally.done, tally.total, tally.failed, tally.running) == (3, 8, 1, 2)
    assert 95 < tally.eta_s < 110  # 60 s for 3 runs: 5 left take ~100 s
    line = tally.line()
    assert re.fullmatch(r"\[3/8, 1 failed, 2 running, ETA [0-9]+ min, \$[0-9.]+\]", line), line
    texts = [ended_how(RunDir(p)) for p in made]
    assert any(t.endswith("invalid: prediction for case 3 is missing") for t in texts)
    assert any(re.search(r" done, valid, percentile [0-9.]+$", t) for t in texts)


def test_in_a_terminal_the_sweep_draws_a_bar_with_failed_running_and_cost(home: Path, tmp_path: Path) -> None:
    from helpers import run_in_terminal

    path = write_sweep(tmp_path, agents=["dummy"], challenges=["isles22"], seeds=2)
    code, shown = run_in_terminal(["sweep", str(path)], timeout=300)
    assert code == 0, shown[-2000:]
    assert "\x1b[" in shown and "runs" in shown and "2/2" in shown
    assert re.search(r"sweep \S+: 0 failed, [0-9] running, \$0\.00 of LLM use", shown), shown[-2000:]


@pytest.mark.baselines
@pytest.mark.timeout(1800)
def test_the_readme_example_sweep_gives_18_valid_runs_and_the_baseline_beats_the_dummy(
    home: Path, tmp_path: Path
) -> None:
    """The README's `rexmle sweep examples/sweep.yaml`, as shipped (only its output folder moved
    here): dummy + baseline on the nine lite challenges, every run valid, and on each challenge
    the baseline ranks above doing nothing (it once lost 4 of 9 runs to a 30 s budget)."""
    import yaml

    body = yaml.safe_load((Path(__file__).resolve().parents[1] / "examples" / "sweep.yaml").read_text())
    body["output"] = str(tmp_path / "example-sweep")
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(body))
    r = rexmle_cli("sweep", str(path), timeout=1700)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    from rexmle import store

    table = store.index([tmp_path / "example-sweep"])
    assert len(table) == 18 and table["valid"].all() and (table["state"] == "done").all(), table
    for cid, part in table.groupby("challenge"):
        score = dict(zip(part["agent"], part["score"], strict=True))
        assert score["baseline"] < score["dummy"], (cid, score)  # mean position: lower is better
