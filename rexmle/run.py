"""One run: prepare -> sandbox -> agent -> collect -> validate -> grade -> rank -> record.

A run is keyed by its spec's hash. Calling :func:`execute` again for a finished run
returns the stored result (resume, never duplicate); a run whose previous attempt was
killed is detected through its lock file and restarted from a clean sandbox. Every
transition is written to run.json before the work it names starts, and result.json is
written last, so a crash at any point leaves a record that says where it stopped.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import jinja2
import pandas as pd

from rexmle import agent as agents
from rexmle import challenge as challenge_registry
from rexmle import data, grading, paths, ranking
from rexmle.challenge import AGGREGATION_TEXT, Budgets, Challenge
from rexmle.challenge_api import grader_of
from rexmle.errors import ConfigError
from rexmle.gateway.meter import Budget, summarise
from rexmle.runtime import ExitStatus, Runtime, SandboxSpec, get_runtime
from rexmle.runtime.base import SANDBOX_GATEWAY_PORT
from rexmle.store import (
    Result,
    ResultGrade,
    ResultRank,
    ResultSpec,
    ResultTiming,
    ResultUsage,
    RunDir,
    RunRecord,
    RunSpec,
    RunState,
    versions,
)

if TYPE_CHECKING:
    from rexmle.runtime.images import ImageRef

Notify = Callable[[str], None]


def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("rexmle", "templates"), keep_trailing_newline=True, autoescape=False
    )
    return env.get_template("instructions.md.j2")


def render_instructions(
    challenge: Challenge,
    budgets: Budgets,
    synthetic: bool,
    sandbox_paths: dict[str, str],
    agent: agents.Agent | None = None,
    settings: dict[str, Any] | None = None,
    isolated: bool = False,
    public_dir: Path | None = None,
) -> str:
    """The task statement every agent gets: the parts that must agree with the grader (the files
    to write, each metric's direction and aggregation, the format check, the budgets) rendered
    from challenge.yaml and the grader's ``FORMAT``; the domain prose from description.md.
    ``public_dir``: the prepared public folder, whose ``test.csv`` header says which value
    columns repeat it."""
    test_columns: list[str] = []
    if public_dir is not None and (public_dir / "test.csv").is_file():
        with (public_dir / "test.csv").open(newline="") as f:
            test_columns = [c.strip() for c in next(csv.reader(f), [])]
    return _template().render(
        fmt=grader_of(challenge).format,
        test_columns=test_columns,
        metrics=challenge.spec.metrics,
        aggregation_text=AGGREGATION_TEXT,
        challenge=challenge,
        budgets=budgets,
        synthetic=synthetic,
        paths=sandbox_paths,
        scaffold=agent.spec.instructions if agent else None,
        uses_llm=bool(agent and agent.spec.uses_llm),
        settings=settings or {},
        isolated=isolated,
        stack=agent.spec.image_stack if agent else None,
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
    gpus: int | None = None,
    llm: str | None = None,
    max_usd: float | None = None,
    max_tokens: int | None = None,
    steps: int | None = None,
    embedding_model: str | None = None,
    llm_script: Path | None = None,
) -> RunSpec:
    """Build a run spec, refusing combinations that cannot run (one clear line each).

    ``max_usd`` / ``max_tokens``: override the challenge's LLM budget; a value <= 0 removes
    that limit. LLM agents need ``model`` (a litellm model string) unless ``llm="scripted"``.
    """
    ch = challenge_registry.get(challenge_id)
    ag = agents.get(agent_name)  # fail early on an unknown agent
    budgets = ch.spec.budgets_for(synthetic)
    update: dict[str, Any] = {}
    if time_limit_s is not None:
        if time_limit_s <= 0:
            raise ConfigError("--time-limit must be a positive number of seconds")
        update["wall_time_s"] = int(time_limit_s)
    if gpus is not None:
        if gpus < 0:
            raise ConfigError("--gpus must be 0 or more")
        update["gpus"] = int(gpus)
    get_runtime(runtime)  # an unknown runtime: one line naming those that exist
    if max_usd is not None:
        update["llm_usd"] = float(max_usd) if max_usd > 0 else None
    if max_tokens is not None:
        update["llm_tokens"] = int(max_tokens) if max_tokens > 0 else None
    budgets = budgets.model_copy(update=update)
    settings: dict[str, Any] = {}
    mode, model = _llm_choice(ag, agent_name, budgets, model, llm, llm_script)
    if steps is not None:
        if steps <= 0:
            raise ConfigError("--steps must be positive")
        settings["steps"] = int(steps)
    return RunSpec(
        challenge=challenge_id,
        agent=agent_name,
        model=model,
        seed=seed,
        runtime=runtime,
        synthetic=synthetic,
        budgets=budgets,
        llm=mode,
        embedding_model=embedding_model if ag.spec.uses_llm else None,
        settings=settings,
        llm_script=str(llm_script.resolve()) if llm_script is not None else None,
    )


def _llm_choice(
    ag: agents.Agent,
    agent_name: str,
    budgets: Budgets,
    model: str | None,
    llm: str | None,
    llm_script: Path | None,
) -> tuple[Literal["provider", "scripted"] | None, str | None]:
    """The run's LLM mode and model, refusing what cannot run before any install or sandbox."""
    if not ag.spec.uses_llm:
        if llm is not None or model is not None:
            raise ConfigError(f"agent {agent_name!r} does not use an LLM; drop --model/--llm")
        return None, None
    if llm not in (None, "provider", "scripted"):
        raise ConfigError(f"--llm must be 'provider' or 'scripted', not {llm!r}")
    mode: Literal["provider", "scripted"] = "scripted" if llm == "scripted" else "provider"
    from rexmle.gateway.server import CHAT_ALIAS, GatewayConfig, Route, check_config
    from rexmle.gateway.session import SCRIPTED_MODEL

    if mode == "scripted":
        model = model or SCRIPTED_MODEL
    elif not model:
        raise ConfigError(
            f"agent {agent_name!r} needs an LLM: give --model PROVIDER/MODEL (for example "
            "anthropic/claude-sonnet-4-5) or --llm scripted for the offline replay"
        )
    if llm_script is not None and mode != "scripted":
        raise ConfigError("--llm-script needs --llm scripted")
    if llm_script is not None and not llm_script.is_file():
        raise ConfigError(f"--llm-script {llm_script}: no such file")
    if budgets.llm_usd is not None:  # fail before any install or sandbox, not at the gateway
        check_config(GatewayConfig(routes=(Route(alias=CHAT_ALIAS, model=model),), budget=Budget(max_usd=1)))
    return mode, model


def grade_and_rank(
    challenge: Challenge,
    submission_dir: Path,
    data_root: Path,
    progress: grading.ProgressFn | None = None,
) -> tuple[grading.GradeReport, ranking.RankResult | None]:
    """Grade against ``data_root`` and rank. The public folder is first checked against the
    manifest's hashes: grading reads reference files from it, so a changed file (an agent that
    wrote through to the master copy) makes the submission invalid (``tampered``) and the
    folder is rebuilt before anything else reads it."""
    tampered = data.check_public(data_root)
    if tampered:
        data.restore_public(challenge, data_root)
        more = f" (+{len(tampered) - 1} more)" if len(tampered) > 1 else ""
        reason = (
            f"tampered: {tampered[0]} since prepare{more}; the public data was restored from the raw files"
        )
        return grading.GradeReport(valid=False, reason=reason), None
    report = grading.grade(
        challenge, submission_dir, data_root / "public", data_root / "private", progress=progress
    )
    if not report.valid:
        return report, None
    rank = ranking.rank_against(report.metrics, challenge.leaderboard, challenge.spec.ranked_directions)
    return report, rank


@dataclass(frozen=True)
class Provisioned:
    """What the provision phase made ready: the prepared data, the runtime and, for a container
    runtime, the agent's image (None: the agent's environment on the host)."""

    data_root: Path
    runtime: Runtime
    image: ImageRef | None


@dataclass(frozen=True)
class SessionOutcome:
    """How the sandbox session ended: the runtime's exit status and why the harness stopped it."""

    status: ExitStatus
    stopped: str | None


def provision_data(ch: Challenge, synthetic: bool, home: Path, say: Notify) -> Path:
    """The challenge's prepared data (synthetic: generated and prepared if missing; real: it must
    have been prepared), its public folder checked against the manifest and rebuilt if an earlier
    run changed it."""
    if synthetic:
        say(f"preparing {ch.id}@synthetic")
        data_root = data.prepare(ch, synthetic=True, home=home)
    else:
        data_root = data.require_prepared(ch, synthetic=False, home=home)
    changed = data.check_public(data_root)
    if changed:  # an earlier, unisolated run wrote into it: no agent starts on that
        say(f"public data changed since prepare ({changed[0]}); rebuilding it from the raw files")
        data.restore_public(ch, data_root)
    return data_root


def provision_agent(
    ag: agents.Agent, runtime: Runtime, gpus: int, home: Path, log: Path, say: Notify
) -> ImageRef | None:
    """The agent's image for a container runtime (None for the local runtime, whose agent
    environment is installed on the host instead, once)."""
    image = runtime.prepare_image(ag, gpus, home, log)
    if image is None:
        if not ag.is_installed(home):
            if ag.uses_stack() and not agents.stack_installed(ag.spec.image_stack, home):
                say(
                    f"installing the shared {ag.spec.image_stack} stack (torch, MONAI, ...) once for "
                    f"every agent: a few minutes (log {log})"
                )
            say(f"installing agent {ag.name} into {ag.venv(home)}")
        ag.install(home, log=log)
    else:
        say(f"{runtime.name} image {image.tag} ({image.image_id[:19]})")
    return image


def provision(
    spec: RunSpec, ch: Challenge, ag: agents.Agent, home: Path, rd: RunDir, record: RunRecord, say: Notify
) -> Provisioned:
    """Phase 1: the data and the agent's environment or image (a sweep provisions the same way,
    once per challenge and agent, before its runs start)."""
    data_root = provision_data(ch, spec.synthetic, home, say)
    runtime = get_runtime(spec.runtime)
    image = provision_agent(ag, runtime, spec.budgets.gpus, home, rd.path / "install.log", say)
    if image is not None:
        record.image, record.image_id = image.tag, image.image_id
        rd.write_record(record)
    return Provisioned(data_root, runtime, image)


def _sandbox_env(spec: RunSpec, ch: Challenge, settings: dict[str, Any]) -> dict[str, str]:
    """The ``REXMLE_*`` variables every agent gets (the gateway's are added by the session)."""
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
        "REXMLE_AGENT_SETTINGS": json.dumps(settings, sort_keys=True),
        "REXMLE_METRICS": json.dumps(
            [m.model_dump(mode="json", include={"name", "direction"}) for m in ch.spec.metrics]
        ),
    }
    if spec.model:
        env["REXMLE_MODEL"] = spec.model
    assigned = os.environ.get("CUDA_VISIBLE_DEVICES")
    if spec.budgets.gpus > 0 and assigned:  # the GPUs a sweep worker or SLURM gave this run
        env["CUDA_VISIBLE_DEVICES"] = assigned
    return env


def _wait_for_agent(
    spec: RunSpec,
    runtime: Runtime,
    sandbox: SandboxSpec,
    gateway: Any,
    rd: RunDir,
    record: RunRecord,
    say: Notify,
) -> SessionOutcome:
    """Start the sandbox and wait for it; any exit from here on (Ctrl-C, SIGTERM, an error) stops
    the sandbox first. Collects the submission."""
    record.state = RunState.running
    rd.write_record(record)
    say(f"running agent {spec.agent} (limit {spec.budgets.wall_time_s} s, log {rd.agent_log})")
    handle = runtime.start(sandbox)
    try:
        record.runtime_info = runtime.info(handle)
        rd.write_record(record)
        status = runtime.wait(handle, timeout=spec.budgets.wall_time_s, should_stop=lambda: gateway.exhausted)
    except BaseException:
        runtime.stop(handle)
        raise
    stopped = _why_stopped(status)
    record.agent_ended_at = time.time()
    record.stopped = stopped
    if stopped == "llm_budget":
        say(f"stopped the agent: {gateway.meter.reason}")
    if stopped == "memory":
        record.error = f"agent killed by the out-of-memory killer at the {spec.budgets.memory_gb:g} GiB limit"
        say(record.error)
    if stopped == "disk":
        record.error = f"agent stopped at its {spec.budgets.disk_gb:g} GiB disk budget"
        say(record.error)
    runtime.collect(handle, rd.submission)
    return SessionOutcome(status, stopped)


def sandbox_session(
    spec: RunSpec,
    ch: Challenge,
    ag: agents.Agent,
    home: Path,
    rd: RunDir,
    record: RunRecord,
    ready: Provisioned,
    say: Notify,
    log_llm_bodies: bool = False,
) -> SessionOutcome:
    """Phase 2: the task statement, the gateway (LLM routes for an agent that uses one, the format
    check for every agent; provider keys stay here), the sandbox started, waited for, stopped."""
    runtime, image, public = ready.runtime, ready.image, ready.data_root / "public"
    seen, host = runtime.agent_paths(rd.sandbox), runtime.host_paths(rd.sandbox)
    settings = ag.settings(spec.synthetic, spec.settings)
    instructions = render_instructions(
        ch,
        spec.budgets,
        spec.synthetic,
        {k: str(v) for k, v in seen.items()},
        ag,
        settings,
        isolated=runtime.isolation != "none",
        public_dir=public,
    )
    env = _sandbox_env(spec, ch, settings)
    with contextlib.ExitStack() as stack:
        socket_dir: Path | None = None
        if runtime.gateway_via_socket:  # short path: a Unix socket path has ~100 bytes
            socket_dir = Path(tempfile.mkdtemp(prefix=f"rexmle-{spec.run_id[:12]}-"))
            socket_dir.chmod(0o755)
            stack.callback(shutil.rmtree, socket_dir, True)
        roots = {seen[k]: host[k] for k in ("REXMLE_SUBMISSION_DIR", "REXMLE_CODE_DIR")}
        unix_socket = socket_dir / "gateway.sock" if socket_dir else None
        gateway = stack.enter_context(
            _gateway_for(spec, ag, ch, rd, ready.data_root, roots, log_llm_bodies, unix_socket)
        )
        inside = f"http://127.0.0.1:{SANDBOX_GATEWAY_PORT}" if socket_dir else gateway.url
        env.update(_gateway_env(ag, gateway, inside))
        if ag.spec.uses_llm:
            say(f"LLM gateway on {gateway.url} ({spec.llm}: {spec.model})")
        sandbox = SandboxSpec(
            run_id=spec.run_id,
            command=ag.command(home) if image is None else ag.image_command(),
            env=env,
            public_dir=public,
            workdir=rd.sandbox,
            instructions=instructions,
            budgets=spec.budgets,
            log_path=rd.agent_log,
            image=image.tag if image else None,
            gateway_socket_dir=socket_dir,
            read_only_root=ag.spec.read_only_root,
        )
        return _wait_for_agent(spec, runtime, sandbox, gateway, rd, record, say)


def record_result(
    spec: RunSpec,
    ch: Challenge,
    rd: RunDir,
    record: RunRecord,
    ready: Provisioned,
    outcome: SessionOutcome,
    graded: tuple[grading.GradeReport, ranking.RankResult | None],
    timing: tuple[float, float],
) -> Result:
    """Phase 4: the result (grade, rank, LLM usage, timing) written, then the record's final state."""
    report, rank = graded
    status = outcome.status
    if report.per_case:
        pd.DataFrame(report.per_case).to_csv(rd.path / "per_case.csv", index=False)
    final = (
        RunState.timed_out
        if status.timed_out
        else (RunState.done if status.exit_code == 0 or status.stopped else RunState.failed)
    )
    if final is RunState.failed and record.error is None:
        record.error = f"agent exited with code {status.exit_code}"
    usage = summarise(rd.llm_jsonl)
    result = Result(
        spec=ResultSpec.of(spec.run_id, spec),
        state=final,
        stopped=outcome.stopped,
        isolation=str(record.runtime_info.get("isolation", ready.runtime.isolation)),
        agent_exit_code=status.exit_code,
        grade=ResultGrade(
            valid=report.valid, reason=report.reason, metrics=report.metrics, n_cases=report.n_cases
        ),
        ranking=_ranking(rank, len(ch.leaderboard)),
        usage=ResultUsage(
            llm=spec.llm,
            cost_usd=usage.cost_usd,
            tokens_in=usage.prompt_tokens,
            tokens_out=usage.completion_tokens,
            llm_calls=usage.calls,
            unpriced_llm_calls=usage.unpriced_calls,
        ),
        timing=ResultTiming(
            wall_time_s=timing[0],
            provision_s=timing[1],
            agent_time_s=status.agent_time_s,
            gpu_hours=spec.budgets.gpus * status.agent_time_s / 3600.0,
        ),
    )
    rd.write_result(result)
    record.state = final
    rd.write_record(record)
    return result


def _ranking(rank: ranking.RankResult | None, n_leaderboard: int) -> ResultRank:
    """The result's ranking section: empty (all None) for an unranked submission."""
    if rank is None:
        return ResultRank(n_leaderboard=n_leaderboard)
    return ResultRank(
        score=rank.mean_position,
        positions=rank.positions,
        rank=rank.rank,
        n_leaderboard=rank.n_entries,
        percentile=rank.percentile,
        beats_median=rank.above_median,
        beats_share=rank.beats_share,
        medal=rank.medal,
    )


def _new_attempt(spec: RunSpec, rd: RunDir, say: Notify) -> RunRecord:
    """The record of a new attempt; the previous attempt's files are kept beside the new ones, so
    a --force (or a kill during the new attempt) never loses a finished result."""
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
    rd.archive_attempt(record.attempts - 1)
    if rd.submission.is_dir():
        shutil.rmtree(rd.submission)
    rd.write_record(record)
    return record


def execute(
    spec: RunSpec,
    home: Path | None = None,
    force: bool = False,
    notify: Notify | None = None,
    grade_progress: grading.ProgressFn | None = None,
    log_llm_bodies: bool = False,
    runs_root: Path | None = None,
) -> Result:
    """Execute ``spec`` into ``runs_root/<run_id>`` (default ``$REXMLE_HOME/runs``; a sweep
    passes its own output folder). Data and agent environments always come from ``home``.

    The phases: :func:`provision`, :func:`sandbox_session`, :func:`grade_and_rank`,
    :func:`record_result`; the run record says which one a killed run was in."""
    say = notify or (lambda _msg: None)
    home = home or paths.home()
    rd = RunDir((runs_root or paths.runs_dir(home)) / spec.run_id)
    if not spec.synthetic:  # refused before it starts: no run folder is made for it
        data.require_prepared(challenge_registry.get(spec.challenge), synthetic=False, home=home)
    with rd.lock():
        existing = rd.read_result()
        if existing is not None and not force:
            say(f"run {spec.run_id} already finished; returning its result (use --force to run again)")
            return existing
        ch = challenge_registry.get(spec.challenge)
        ag = agents.get(spec.agent)
        record = _new_attempt(spec, rd, say)
        t0 = time.monotonic()
        try:
            ready = provision(spec, ch, ag, home, rd, record, say)
            provision_s, t0 = time.monotonic() - t0, time.monotonic()
            outcome = sandbox_session(spec, ch, ag, home, rd, record, ready, say, log_llm_bodies)
            record.agent_exit_code = outcome.status.exit_code
            record.state = RunState.grading
            rd.write_record(record)
            say("grading")
            graded = grade_and_rank(ch, rd.submission, ready.data_root, grade_progress)
            return record_result(
                spec, ch, rd, record, ready, outcome, graded, (time.monotonic() - t0, provision_s)
            )
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM turned into one by the CLI / a worker
            record.state = RunState.interrupted
            record.error = f"interrupted ({exc or 'Ctrl-C'}); run it again to resume"
            rd.write_record(record)
            raise
        except BaseException as exc:
            record.state = RunState.failed
            record.error = " ".join(f"{type(exc).__name__}: {exc}".split())[:500]
            rd.write_record(record)
            raise


def _why_stopped(status: ExitStatus) -> str | None:
    if status.disk_exceeded:
        return "disk"
    if status.timed_out:
        return "time_limit"
    if status.stopped:
        return "llm_budget"
    return "memory" if status.oom_killed else None


def _gateway_for(
    spec: RunSpec,
    ag: agents.Agent,
    ch: Challenge,
    rd: RunDir,
    data_root: Path,
    validate_roots: dict[Path, Path],
    log_bodies: bool = False,
    unix_socket: Path | None = None,
) -> contextlib.AbstractContextManager[Any]:
    from rexmle.gateway.session import open_gateway, open_validation_service

    public = data_root / "public"

    def validator(folder: Path) -> dict[str, Any]:
        report = grading.validate(ch, folder, public)
        return {"valid": report.valid, "reason": report.reason, "n_cases": report.n_cases}

    if spec.llm is None:
        return open_validation_service(
            ledger=rd.llm_jsonl,
            validator=validator,
            validate_roots=validate_roots,
            unix_socket=unix_socket,
        )
    assert spec.model is not None
    return open_gateway(
        mode=spec.llm,
        model=spec.model,
        embedding_model=spec.embedding_model,
        budget=Budget(max_usd=spec.budgets.llm_usd, max_tokens=spec.budgets.llm_tokens),
        ledger=rd.llm_jsonl,
        script=Path(spec.llm_script)
        if spec.llm_script
        else ((ag.folder / ag.spec.scripted) if ag.spec.scripted else None),
        scripted_log=rd.path / "scripted_llm.jsonl",
        validator=validator,
        # the submission and code folders are where an agent's candidates live (as the agent
        # names them -> where they are on the host)
        validate_roots=validate_roots,
        unix_socket=unix_socket,
        extra_chat_aliases=tuple(ag.spec.extra_chat_aliases),
        log_bodies=log_bodies,
    )


def _gateway_env(ag: agents.Agent, gateway: Any, url: str) -> dict[str, str]:
    """The gateway as the agent sees it (``url``): the format check for every agent; for an LLM
    agent also the generic REXMLE_LLM_* variables plus the scaffold's own."""
    from rexmle.gateway.server import CHAT_ALIAS, EMBEDDING_ALIAS

    validate = {"REXMLE_VALIDATE_URL": url + "/validate", "REXMLE_VALIDATE_TOKEN": gateway.token}
    if not ag.spec.uses_llm:
        return validate

    values = {
        "base_url": url + "/v1",
        "token": gateway.token,
        "chat_model": CHAT_ALIAS,
        "embedding_model": EMBEDDING_ALIAS,
        "validate_url": url + "/validate",
    }
    env = {
        "REXMLE_LLM_BASE_URL": values["base_url"],
        "REXMLE_LLM_API_KEY": values["token"],
        "REXMLE_LLM_MODEL": CHAT_ALIAS,
        "REXMLE_EMBEDDING_MODEL": EMBEDDING_ALIAS,
        **validate,
    }
    env.update({k: v.format(**values) for k, v in ag.spec.llm_env.items()})
    return env


def run_dir(spec: RunSpec, home: Path | None = None) -> Path:
    return paths.runs_dir(home) / spec.run_id
