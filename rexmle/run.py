"""One run: prepare -> sandbox -> agent -> collect -> validate -> grade -> rank -> record.

A run is keyed by its spec's hash. Calling :func:`execute` again for a finished run
returns the stored result (resume, never duplicate); a run whose previous attempt was
killed is detected through its lock file and restarted from a clean sandbox. Every
transition is written to run.json before the work it names starts, and result.json is
written last, so a crash at any point leaves a record that says where it stopped.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import jinja2
import pandas as pd

from rexmle import agent as agents
from rexmle import challenge as challenges
from rexmle import data, grading, paths, ranking
from rexmle.challenge import Budgets, Challenge
from rexmle.errors import RexmleError
from rexmle.runtime import SandboxSpec, get_runtime
from rexmle.store import Result, RunDir, RunRecord, RunSpec, RunState, versions

Notify = Callable[[str], None]


def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("rexmle", "templates"), keep_trailing_newline=True, autoescape=False
    )
    return env.get_template("instructions.md.j2")


def render_instructions(
    challenge: Challenge, budgets: Budgets, synthetic: bool, sandbox_paths: dict[str, str]
) -> str:
    return _template().render(
        challenge=challenge,
        budgets=budgets,
        synthetic=synthetic,
        paths=sandbox_paths,
        description=challenge.description_path.read_text(),
    )


def make_spec(
    challenge_id: str,
    agent_name: str,
    *,
    model: str | None = None,
    seed: int = 0,
    runtime: str = "local",
    synthetic: bool = False,
    time_limit_s: int | None = None,
) -> RunSpec:
    ch = challenges.get(challenge_id)
    agents.get(agent_name)  # fail early on an unknown agent
    budgets = ch.spec.budgets_for(synthetic)
    if time_limit_s is not None:
        budgets = budgets.model_copy(update={"wall_time_s": int(time_limit_s)})
    return RunSpec(
        challenge=challenge_id,
        agent=agent_name,
        model=model,
        seed=seed,
        runtime=runtime,
        synthetic=synthetic,
        budgets=budgets,
    )


class RunInProgress(RexmleError):
    pass


@contextlib.contextmanager
def _lock(run_dir: Path) -> Iterator[IO[str]]:
    run_dir.mkdir(parents=True, exist_ok=True)
    f = (run_dir / ".lock").open("a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise RunInProgress(f"run {run_dir.name} is being executed by another process") from None
    try:
        yield f
    finally:
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()


def grade_and_rank(
    challenge: Challenge,
    submission_dir: Path,
    data_root: Path,
    progress: grading.ProgressFn | None = None,
) -> tuple[grading.GradeReport, ranking.RankResult | None]:
    report = grading.grade(
        challenge, submission_dir, data_root / "public", data_root / "private", progress=progress
    )
    if not report.valid:
        return report, None
    rank = ranking.rank_against(report.metrics, challenge.leaderboard, challenge.spec.directions)
    return report, rank


def execute(
    spec: RunSpec,
    home: Path | None = None,
    force: bool = False,
    notify: Notify | None = None,
    grade_progress: grading.ProgressFn | None = None,
) -> Result:
    say = notify or (lambda _msg: None)
    home = home or paths.home()
    rd = RunDir(paths.runs_dir(home) / spec.run_id)
    with _lock(rd.path):
        existing = rd.read_result()
        if existing is not None and not force:
            say(f"run {spec.run_id} already finished; returning its result (use --force to run again)")
            return existing
        ch = challenges.get(spec.challenge)
        ag = agents.get(spec.agent)
        previous = rd.read_record()
        record = RunRecord(
            run_id=spec.run_id,
            spec=spec,
            created_at=previous.created_at if previous else time.time(),
            updated_at=time.time(),
            attempts=(previous.attempts if previous else 0) + 1,
            versions=versions(),
        )
        if previous is not None and not previous.state.finished:
            say(f"previous attempt stopped in state {previous.state.value}; restarting from a clean sandbox")
        for stale in (rd.result_json, rd.submission):
            if stale.is_dir():
                shutil.rmtree(stale)
            else:
                stale.unlink(missing_ok=True)
        rd.write_record(record)
        t0 = time.monotonic()
        try:
            if spec.synthetic:
                say(f"preparing {spec.challenge}@synthetic")
                data_root = data.prepare(ch, synthetic=True, home=home)
            else:
                data_root = data.require_prepared(ch, synthetic=False, home=home)
            if not ag.is_installed(home):
                say(f"installing agent {ag.name} into {ag.venv(home)}")
            ag.install(home, log=rd.path / "install.log")
            runtime = get_runtime(spec.runtime)
            seen = runtime.agent_paths(rd.sandbox)
            instructions = render_instructions(
                ch, spec.budgets, spec.synthetic, {k: str(v) for k, v in seen.items()}
            )
            deadline = time.time() + spec.budgets.wall_time_s
            env = {
                "REXMLE_CHALLENGE": ch.id,
                "REXMLE_TASK_TYPE": ch.spec.task_type,
                "REXMLE_SEED": str(spec.seed),
                "REXMLE_TIME_LIMIT_S": str(spec.budgets.wall_time_s),
                "REXMLE_DEADLINE": f"{deadline:.0f}",
                "REXMLE_CPUS": str(spec.budgets.cpus),
                "REXMLE_GPUS": str(spec.budgets.gpus),
                "REXMLE_SYNTHETIC": "1" if spec.synthetic else "0",
            }
            if spec.model:
                env["REXMLE_MODEL"] = spec.model
            sandbox = SandboxSpec(
                run_id=spec.run_id,
                command=ag.command(home),
                env=env,
                public_dir=data_root / "public",
                workdir=rd.sandbox,
                instructions=instructions,
                budgets=spec.budgets,
                log_path=rd.agent_log,
            )
            record.state = RunState.running
            rd.write_record(record)
            say(f"running agent {ag.name} (limit {spec.budgets.wall_time_s} s, log {rd.agent_log})")
            handle = runtime.start(sandbox)
            record.runtime_info = runtime.info(handle)
            rd.write_record(record)
            try:
                status = runtime.wait(handle, timeout=spec.budgets.wall_time_s)
            except BaseException:
                runtime.stop(handle)
                raise
            runtime.collect(handle, rd.submission)
            record.agent_exit_code = status.exit_code
            record.state = RunState.grading
            rd.write_record(record)
            say("grading")
            report, rank = grade_and_rank(ch, rd.submission, data_root, grade_progress)
            if report.per_case:
                pd.DataFrame(report.per_case).to_csv(rd.path / "per_case.csv", index=False)
            final = (
                RunState.timed_out
                if status.timed_out
                else (RunState.done if status.exit_code == 0 else RunState.failed)
            )
            if final is RunState.failed:
                record.error = f"agent exited with code {status.exit_code}"
            result = Result(
                run_id=spec.run_id,
                challenge=spec.challenge,
                agent=spec.agent,
                model=spec.model,
                seed=spec.seed,
                synthetic=spec.synthetic,
                state=final,
                valid=report.valid,
                reason=report.reason,
                metrics=report.metrics,
                n_cases=report.n_cases,
                score=rank.mean_position if rank else None,
                positions=rank.positions if rank else {},
                rank=rank.rank if rank else None,
                n_leaderboard=rank.n_entries if rank else len(ch.leaderboard),
                percentile=rank.percentile if rank else None,
                beats_median=rank.above_median if rank else None,
                beats_share=rank.beats_share if rank else None,
                medal=rank.medal if rank else None,
                wall_time_s=time.monotonic() - t0,
                agent_time_s=status.agent_time_s,
                gpu_hours=spec.budgets.gpus * status.agent_time_s / 3600.0,
                isolation=runtime.isolation,
                agent_exit_code=status.exit_code,
            )
            rd.write_result(result)
            record.state = final
            rd.write_record(record)
            return result
        except BaseException as exc:
            record.state = RunState.failed
            record.error = " ".join(f"{type(exc).__name__}: {exc}".split())[:500]
            rd.write_record(record)
            raise


def run_dir(spec: RunSpec, home: Path | None = None) -> Path:
    return paths.runs_dir(home) / spec.run_id
