"""The ``rexmle`` command line: thin; parses, calls the library, prints with rich or --json."""

from __future__ import annotations

import contextlib
import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from typer.core import TyperGroup

from rexmle import paths
from rexmle.errors import RexmleError
from rexmle.lazy import lazy_module

if TYPE_CHECKING:
    from rexmle import agent as agents
    from rexmle import challenge as challenge_registry
    from rexmle import data, grading, ranking
    from rexmle import manifest as prepared_state
    from rexmle import run as runs
    from rexmle.store import Result, RunSpec
    from rexmle.sweep import SweepSpec
else:  # imported at first use: `rexmle --help` and `rexmle list` start fast (make bench measures it)
    agents = lazy_module("rexmle.agent")
    challenge_registry = lazy_module("rexmle.challenge")
    data = lazy_module("rexmle.data")
    grading = lazy_module("rexmle.grading")
    ranking = lazy_module("rexmle.ranking")
    runs = lazy_module("rexmle.run")
    prepared_state = lazy_module("rexmle.manifest")

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="ReX-MLE: benchmark ML-engineering agents on medical imaging challenges.",
)
agents_app = typer.Typer(no_args_is_help=True, help="List and install agents.")
app.add_typer(agents_app, name="agents")
images_app = typer.Typer(
    no_args_is_help=True, help="Build and list the sandbox images (Docker/Podman/Apptainer)."
)
app.add_typer(images_app, name="images")


def _console(stderr: bool = False) -> Console:
    """A terminal's width when there is one; piped or redirected, wide enough that no table cuts an
    id, a path or a URL (a script or a log file reads the whole value)."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 1000)


out = _console()
err = _console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
SyntheticOpt = Annotated[
    bool, typer.Option("--synthetic", help="Use the small synthetic dataset (data/<id>@synthetic).")
]


def lit(value: object) -> str:
    """``value`` as literal text inside rich markup. Everything the CLI prints that it did not
    write itself (ids, reasons, paths, names, log lines, error messages) goes through this: a
    ``[/bold]`` in a case id would otherwise crash the print and ``[x, y, w, h]`` would vanish."""
    return escape(str(value))


def one_line_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RexmleError as exc:
            err.print(f"[bold red]error:[/] {lit(exc)}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("[bold red]interrupted[/]")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _terminate_as_interrupt(signum: int, _frame: Any) -> None:
    """SIGTERM (a scheduler's cancel, `kill`) unwinds like Ctrl-C: sandboxes are stopped and
    removed and run.json says where the run stopped, instead of dying mid-write."""
    raise KeyboardInterrupt(f"signal {signum}")


def _print_version(value: bool) -> None:
    if value:
        from rexmle import __version__

        out.print(f"rexmle {__version__}")
        raise typer.Exit()


#: Printed wherever a synthetic run's position, percentile or medal appears: synthetic data is a
#: stand-in, so its place among the real leaderboard's humans means nothing about the agent.
SYNTHETIC_RANK_NOTE = (
    "synthetic data: ranked against the real human leaderboard only to exercise the pipeline; "
    "the position, percentile and medal say nothing about the agent"
)


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate_as_interrupt)


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


class _Bars:
    """Progress bars by task name (``bars(task, done, total)``) and one status line above them
    (``bars.status(text)``: a running run's phase, time, LLM use and log line)."""

    def __init__(self, prog: Progress | None) -> None:
        self.prog = prog
        self.tasks: dict[str, Any] = {}

    def __call__(self, task: str, done: int, total: int) -> None:
        if self.prog is None:
            return
        if task not in self.tasks:
            self.tasks[task] = self.prog.add_task(lit(task), total=total or None)
        self.prog.update(self.tasks[task], completed=done, total=total or None)

    def status(self, text: str) -> None:
        if self.prog is None:
            return
        if "\0status" not in self.tasks:
            self.tasks["\0status"] = self.prog.add_task("", total=None)
        self.prog.update(self.tasks["\0status"], description=lit(text))


@contextmanager
def progress_bar(enabled: bool, download: bool = False) -> Iterator[_Bars]:
    if not enabled:
        yield _Bars(None)
        return
    cols: list[Any] = [TextColumn("{task.description}"), BarColumn()]
    cols += [DownloadColumn()] if download else [MofNCompleteColumn()]
    cols.append(TimeRemainingColumn())
    with Progress(*cols, console=err, transient=False) as prog:
        yield _Bars(prog)


@app.command("list")
@one_line_errors
def list_cmd(as_json: JsonOpt = False) -> None:
    """List the challenges."""
    found = challenge_registry.discover()
    rows: list[dict[str, Any]] = [
        {
            "id": c.id,
            "title": c.spec.title,
            "modality": c.spec.modality,
            "task_type": c.spec.task_type,
            "prepared": prepared_state.is_prepared(c, paths.data_dir(c.id, False)),
            "prepared_synthetic": prepared_state.is_prepared(c, paths.data_dir(c.id, True)),
        }
        for c in found.values()
    ]
    if as_json:
        emit_json(rows)
        return
    t = Table("id", "title", "task", "prepared", "synthetic")
    for r in rows:
        t.add_row(
            lit(r["id"]),
            lit(r["title"]),
            lit(r["task_type"]),
            "yes" if r["prepared"] else "-",
            "yes" if r["prepared_synthetic"] else "-",
        )
    out.print(t)


def _gb(n_bytes: float, known: bool = True) -> str:
    return f"{'' if known else '~'}{n_bytes / 1e9:,.1f} GB"


@app.command()
@one_line_errors
def info(challenge_id: str, as_json: JsonOpt = False) -> None:
    """Show a challenge's source, licence, data files, prepared state, budgets, metrics and leaderboard."""
    c = challenge_registry.get(challenge_id)
    state = {
        "prepared": prepared_state.is_prepared(c, paths.data_dir(c.id, False)),
        "prepared_synthetic": prepared_state.is_prepared(c, paths.data_dir(c.id, True)),
    }
    if as_json:
        emit_json(
            {
                "spec": c.spec.model_dump(mode="json"),
                "folder": str(c.folder),
                "data_dir": str(paths.data_dir(c.id, False)),
                **state,
                "leaderboard": c.leaderboard.to_dict("records"),
            }
        )
        return
    s = c.spec
    out.print(
        f"[bold]{lit(s.title)}[/] ({lit(s.id)})\n{lit(s.source.competition)} — {lit(s.source.url)}\n"
        f"licence: {lit(s.source.licence)}"
    )
    out.print(f"modality: {lit(s.modality)}; task: {lit(s.task_type)}; layout v{lit(s.layout_version)}")
    out.print(
        f"data: about {s.download_gb:g} GB to download; prepared: {'yes' if state['prepared'] else 'no'}; "
        f"synthetic prepared: {'yes' if state['prepared_synthetic'] else 'no'} ({lit(paths.data_dir(c.id, False))})"
    )
    files = Table("file", "size", "checksum", "get it from", box=None)
    for df in s.data:
        check = (
            f"sha256 {df.sha256[:12]}…"
            if df.sha256
            else f"md5 {df.md5}"
            if df.md5
            else "recorded at first use"
        )
        size = f"{df.size_bytes:,} B" if df.size_bytes is not None else "-"
        files.add_row(lit(df.name), size, check, lit(data.source_page(df) or "by hand"))
    out.print(files)
    b = s.budgets
    out.print(
        f"budget: {b.wall_time_s} s, {b.cpus} CPU, {b.memory_gb} GB, {b.gpus} GPU (synthetic: {s.synthetic_budgets.wall_time_s} s)"
    )
    t = Table("metric", "direction", "aggregation")
    for m in s.metrics:
        t.add_row(lit(m.name), lit(m.direction), lit(m.aggregation))
    out.print(t)
    out.print(
        f"leaderboard: {len(c.leaderboard)} human entries; best mean position {c.leaderboard['mean_position'].min()}"
    )


def _check_sources(ids: list[str], as_json: bool) -> None:
    """``prepare --check``: ask every source, download nothing; exit 1 unless every file has a
    source that answers with it."""
    rows: list[dict[str, Any]] = []
    downloadable: dict[str, bool] = {}
    stuck: list[str] = []
    for cid in ids:
        c = challenge_registry.get(cid)
        for df in c.spec.data:
            answers = data.check_sources([df])
            rows += [{"challenge": cid, **a.model_dump()} for a in answers]
            downloadable[df.name] = any(a.usable for a in answers)
            if not downloadable[df.name]:
                target = data.file_target(df, paths.data_dir(cid, False) / "raw")
                stuck.append(
                    f"{df.name}: no source answers with the file; get it by hand: {data.by_hand(df, target)}"
                )
            if not as_json:
                for a in answers:
                    colour = "green" if a.usable else "red"
                    out.print(f"{lit(cid)} {lit(df.name)}: [{colour}]{lit(a.line())}[/] — {lit(a.url)}")
    if as_json:
        emit_json({"sources": rows, "downloadable": downloadable})
    else:
        for line in stuck:
            out.print(lit(line), soft_wrap=True)
    if stuck:
        raise typer.Exit(1)


@app.command()
@one_line_errors
def prepare(
    target: Annotated[
        str, typer.Argument(help="A challenge id or a group: lite, 2d, 3d, all.", metavar="CHALLENGE|GROUP")
    ],
    synthetic: SyntheticOpt = False,
    force: Annotated[
        bool, typer.Option("--force", help="Prepare again even if the manifest matches.")
    ] = False,
    verify: Annotated[
        bool, typer.Option("--verify", help="Re-hash prepared files against the manifest.")
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Ask every download source whether it answers, and with what size; download nothing.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Download (or generate with --synthetic) and prepare challenges' public/private data.

    Every data file can also be saved by hand where the error message says; prepare picks it up.
    """
    ids = challenge_registry.select(target)
    if check:
        _check_sources(ids, as_json)
        return
    chs = [challenge_registry.get(cid) for cid in ids]
    if not synthetic and not as_json:
        plan = [f for f in data.download_plan([] if force else chs) if not f.present]
        if plan:
            total = sum(f.size_bytes for f in plan)
            known = all(f.size_known for f in plan)
            out.print(
                f"to download: {len(plan)} file(s), {_gb(total, known)} in total, into {lit(paths.home() / 'data')}:"
            )
            for f in plan:
                out.print(f"  {lit(f.challenge)} {lit(f.file.name)} {_gb(f.size_bytes, f.size_known)}")
    summaries: list[dict[str, Any]] = []
    failed = False
    for c in chs:
        with progress_bar(not as_json, download=not synthetic) as prog:
            root = data.prepare(c, synthetic=synthetic, force=force, progress=prog)
        problems = data.verify(root) if verify else []
        failed = failed or bool(problems)
        m = data.read_manifest(root)
        assert m is not None
        summaries.append(
            {
                "challenge": c.id,
                "data_dir": str(root),
                "synthetic": synthetic,
                "n_train": m.n_train,
                "n_test": m.n_test,
                "problems": problems,
            }
        )
        if not as_json:
            out.print(
                f"prepared {lit(c.id)}{'@synthetic' if synthetic else ''}: {m.n_train} train / {m.n_test} test "
                f"cases in {lit(root)}"
            )
            for p in problems:
                out.print(f"[red]{lit(p)}[/]")
    if as_json:
        emit_json(summaries[0] if target not in challenge_registry.GROUPS else summaries)
    if failed:
        raise typer.Exit(1)


def _print_report(
    report: grading.GradeReport, rank: ranking.RankResult | None, synthetic: bool = False
) -> None:
    if not report.valid:
        out.print(f"[bold red]invalid:[/] {lit(report.reason)}", highlight=False)
        return
    t = Table("metric", "value", "position")
    for k, v in report.metrics.items():
        t.add_row(lit(k), f"{v:.4f}", lit(rank.positions.get(k, "-")) if rank else "-")
    out.print(t)
    if rank:
        out.print(
            f"mean position {rank.mean_position:.2f} of {rank.n_entries + 1}; percentile {rank.percentile:.3f}; "
            f"rank {rank.rank}; medal {lit(rank.medal or '-')}; beats median: {'yes' if rank.above_median else 'no'}"
        )
        if synthetic:
            out.print(f"note: {SYNTHETIC_RANK_NOTE}")


@app.command()
@one_line_errors
def grade(
    challenge_id: str,
    submission_dir: Path,
    synthetic: SyntheticOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Grade a submission folder against the private test answers and rank it."""
    c = challenge_registry.get(challenge_id)
    root = data.require_prepared(c, synthetic)
    with progress_bar(not as_json) as prog:
        report, rank = runs.grade_and_rank(c, submission_dir, root, lambda d, n: prog("grading", d, n))
    if as_json:
        emit_json({**report.model_dump(), "ranking": rank.model_dump() if rank else None})
    else:
        _print_report(report, rank, synthetic)
    if not report.valid:
        raise typer.Exit(1)


@app.command()
@one_line_errors
def validate(
    challenge_id: str,
    submission_dir: Path,
    synthetic: SyntheticOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Check a submission's format using public files only (never scores it)."""
    c = challenge_registry.get(challenge_id)
    root = data.require_prepared(c, synthetic)
    report = grading.validate(c, submission_dir, root / "public")
    if as_json:
        emit_json({"valid": report.valid, "reason": report.reason, "n_cases": report.n_cases})
    elif report.valid:
        out.print(f"[green]valid[/]: {report.n_cases} cases")
    else:
        out.print(f"[bold red]invalid:[/] {lit(report.reason)}", highlight=False)
    if not report.valid:
        raise typer.Exit(1)


def _print_result(r: Result, run_dir: Path) -> None:
    t = Table(title=f"{lit(r.agent)} on {lit(r.challenge)}{' (synthetic)' if r.synthetic else ''}")
    t.add_column("field")
    t.add_column("value")
    t.add_row("state", lit(r.state.value))
    t.add_row("valid", "yes" if r.valid else f"no: {lit(r.reason)}")
    for k, v in r.metrics.items():
        t.add_row(lit(k), f"{v:.4f}  (position {lit(r.positions.get(k, '-'))})")
    if r.score is not None:
        t.add_row("mean position", f"{r.score:.2f} among {r.n_leaderboard} human entries + this run")
        t.add_row("percentile", f"{r.percentile:.3f}")
        t.add_row("medal / beats median", f"{lit(r.medal or '-')} / {'yes' if r.beats_median else 'no'}")
        if r.synthetic:
            t.add_row("note", SYNTHETIC_RANK_NOTE)
    t.add_row("agent time", f"{r.agent_time_s:.1f} s (isolation: {lit(r.isolation)})")
    if r.stopped:
        t.add_row("stopped by harness", lit(r.stopped))
    if r.llm:
        cost = f"${r.cost_usd:.4f}" + (
            f" (+{r.unpriced_llm_calls} unpriced calls)" if r.unpriced_llm_calls else ""
        )
        t.add_row(
            "LLM",
            f"{lit(r.model)} ({lit(r.llm)}): {r.llm_calls} calls, {r.tokens_in} in / {r.tokens_out} out tokens, {cost}",
        )
    out.print(t)
    out.print(f"run directory: {lit(run_dir)}")


@app.command()
@one_line_errors
def run(
    agent: Annotated[str, typer.Option("--agent", "-a", help="Agent name (see `rexmle agents list`).")],
    challenge: Annotated[str, typer.Option("--challenge", "-c", help="Challenge id (see `rexmle list`).")],
    synthetic: SyntheticOpt = False,
    model: Annotated[
        str | None,
        typer.Option(help="LLM for LLM agents, a litellm model string (e.g. anthropic/claude-sonnet-4-5)."),
    ] = None,
    llm: Annotated[
        str | None,
        typer.Option(
            help="'provider' (default: the real model) or 'scripted' (offline replay, no key needed)."
        ),
    ] = None,
    max_usd: Annotated[
        float | None, typer.Option("--max-usd", help="LLM dollar budget for the run (<= 0: no dollar limit).")
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", help="LLM token budget for the run (<= 0: no token limit).")
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Override the agent's step count.")] = None,
    embedding_model: Annotated[
        str | None, typer.Option("--embedding-model", help="Embedding model behind the gateway's alias.")
    ] = None,
    log_llm_bodies: Annotated[
        bool, typer.Option("--log-llm-bodies", help="Also write request and response bodies to llm.jsonl.")
    ] = False,
    llm_script: Annotated[
        Path | None,
        typer.Option("--llm-script", help="With --llm scripted: your own conversation script (YAML)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed passed to the agent (part of the run id).")] = 0,
    runtime: Annotated[
        str, typer.Option(help="Where the agent runs: local, docker, podman or apptainer (`rexmle doctor`).")
    ] = "local",
    gpus: Annotated[
        int | None, typer.Option("--gpus", help="Override the challenge's GPU budget (0: CPU only).")
    ] = None,
    time_limit: Annotated[
        int | None, typer.Option("--time-limit", help="Override the wall-clock budget (s).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Run again even if this spec already has a result.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run one agent on one challenge, grade and rank the submission."""
    spec = runs.make_spec(
        challenge,
        agent,
        model=model,
        seed=seed,
        runtime=runtime,
        synthetic=synthetic,
        time_limit_s=time_limit,
        gpus=gpus,
        llm=llm,
        max_usd=max_usd,
        max_tokens=max_tokens,
        steps=steps,
        embedding_model=embedding_model,
        llm_script=llm_script,
    )
    rd = runs.run_dir(spec)
    result = _execute_watched(spec, rd, force, log_llm_bodies, as_json)
    if as_json:
        emit_json({**result.model_dump(mode="json"), "run_dir": str(rd)})
    else:
        _print_result(result, rd)


def _execute_watched(spec: RunSpec, rd: Path, force: bool, log_llm_bodies: bool, as_json: bool) -> Result:
    """Execute the run; unless --json, with its notes and a live status line (phase, agent time
    against the limit, LLM use so far, the log's last line) and the grading bar."""
    note = (lambda _m: None) if as_json else (lambda m: err.print(f"[dim]· {lit(m)}[/]", highlight=False))
    with progress_bar(not as_json) as prog, contextlib.ExitStack() as stack:
        if not as_json:
            from rexmle.store import RunDir
            from rexmle.watch import RunWatch

            stack.enter_context(RunWatch(RunDir(rd), spec.budgets.wall_time_s, err, prog.status))
        return runs.execute(
            spec,
            force=force,
            notify=note,
            grade_progress=lambda d, n: prog("grading", d, n),
            log_llm_bodies=log_llm_bodies,
        )


@agents_app.command("list")
@one_line_errors
def agents_list(as_json: JsonOpt = False) -> None:
    """List the agents and whether their environment is installed."""
    rows: list[dict[str, Any]] = [
        {
            "name": a.name,
            "kind": a.spec.kind,
            "uses_llm": a.spec.uses_llm,
            "installed": a.is_installed(),
            "description": a.spec.description.strip(),
        }
        for a in agents.discover().values()
    ]
    if as_json:
        emit_json(rows)
        return
    t = Table("name", "kind", "LLM", "installed", "description")
    for r in rows:
        t.add_row(
            lit(r["name"]),
            lit(r["kind"]),
            "yes" if r["uses_llm"] else "no",
            "yes" if r["installed"] else "-",
            lit(r["description"]),
        )
    out.print(t)


@agents_app.command("install")
@one_line_errors
def agents_install(
    name: str,
    force: Annotated[bool, typer.Option("--force")] = False,
    source: Annotated[
        Path | None, typer.Option("--source", help="Local checkout of a scaffold that installs from source.")
    ] = None,
) -> None:
    """Create or refresh an agent's own environment under $REXMLE_HOME/agents/NAME."""
    a = agents.get(name)
    log = paths.agents_dir() / f"{name}.install.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    if a.uses_stack() and not agents.stack_installed(a.spec.image_stack):
        out.print(
            f"installing the shared {a.spec.image_stack} stack (torch, MONAI, ...) once for every agent"
        )
    python = a.install(log=log, force=force, source=source)
    out.print(f"{lit(name)}: {lit(python)} (log {lit(log)})")


@images_app.command("build")
@one_line_errors
def images_build(
    agent: Annotated[
        list[str] | None, typer.Option("--agent", "-a", help="Build this agent's image (repeatable).")
    ] = None,
    gpu: Annotated[bool, typer.Option("--gpu", help="The CUDA variant (torch CUDA build).")] = False,
    root: Annotated[
        str | None,
        typer.Option(
            help="Root image with Python 3.11 (default $REXMLE_IMAGE_ROOT or python:3.11-slim-bookworm)."
        ),
    ] = None,
    engine: Annotated[
        str | None, typer.Option(help="Engine API socket, e.g. unix:///run/podman/podman.sock.")
    ] = None,
    source: Annotated[
        Path | None, typer.Option("--source", help="Checkout of a scaffold that installs from source.")
    ] = None,
    apptainer: Annotated[
        bool, typer.Option("--apptainer", help="Also convert each agent image to a SIF.")
    ] = False,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Build even if the tag exists.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Build the base images (no --agent) or agents' images; tags are content hashes."""
    from rexmle.runtime import images

    c = images.client(engine)
    root_ref = root or images.default_root()
    accel: images.Accelerator = "cuda" if gpu else "cpu"
    log_path = images.images_dir() / "build.log"
    built: list[images.ImageRef] = []
    with log_path.open("ab") as log:
        if not agent:
            for stack in ("minimal", "imaging"):
                if not as_json:
                    err.print(f"[dim]· base {stack}-{accel} (log {lit(log_path)})[/]", highlight=False)
                built.append(
                    images.ensure_base(
                        c, root=root_ref, stack=stack, accelerator=accel, log=log, rebuild=rebuild
                    )
                )
        for name in agent or []:
            a = agents.get(name)
            if not as_json:
                err.print(f"[dim]· agent {lit(name)} (log {lit(log_path)})[/]", highlight=False)
            built.append(
                images.ensure_agent(
                    c, a, root=root_ref, accelerator=accel, log=log, source=source, rebuild=rebuild
                )
            )
    if apptainer:
        from rexmle.runtime.apptainer import ApptainerRuntime

        for name in agent or []:
            ref = ApptainerRuntime().prepare_image(agents.get(name), 1 if gpu else 0, paths.home(), log_path)
            built.append(ref)
    if as_json:
        emit_json([r.model_dump() for r in built])
        return
    for r in built:
        out.print(f"{lit(r.tag)}  {lit(r.image_id[:19])}", highlight=False)


@images_app.command("rootfs")
@one_line_errors
def images_rootfs(
    tar: Annotated[
        Path | None,
        typer.Option("--tar", help="Import this root filesystem tarball instead of bootstrapping."),
    ] = None,
    mirror: Annotated[str | None, typer.Option(help="Debian mirror for debootstrap.")] = None,
    tag: Annotated[str, typer.Option(help="Tag of the imported root image.")] = "rexmle/root:bookworm",
    engine: Annotated[str | None, typer.Option(help="Engine API socket.")] = None,
) -> None:
    """Make a root image without any image registry: debootstrap Debian + Python, then import."""
    from rexmle.runtime import images

    c = images.client(engine)
    if tar is None:
        tar = images.images_dir() / "rootfs-bookworm.tar"
        if not tar.is_file():
            err.print(f"[dim]· debootstrap bookworm -> {lit(tar)} (about a minute)[/]", highlight=False)
            with (images.images_dir() / "build.log").open("ab") as log:
                images.bootstrap_rootfs(tar, log, mirror=mirror)
    image_id = images.import_rootfs(c, tar, tag)
    out.print(
        f"{lit(tag)}  {lit(image_id[:19])}  (use --root {lit(tag)} or REXMLE_IMAGE_ROOT={lit(tag)})",
        highlight=False,
    )


@images_app.command("list")
@one_line_errors
def images_list(
    engine: Annotated[str | None, typer.Option(help="Engine API socket.")] = None, as_json: JsonOpt = False
) -> None:
    """The rexmle images in the engine."""
    from rexmle.runtime import images

    c = images.client(engine)
    rows = [
        {"tag": t, "id": i.id, "size_mb": round((i.attrs.get("Size") or 0) / 1e6)}
        for i in c.images.list()
        for t in i.tags
        if t.startswith("rexmle/")
    ]
    if as_json:
        emit_json(rows)
        return
    t = Table("tag", "id", "MB")
    for r in sorted(rows, key=lambda r: r["tag"]):
        t.add_row(lit(r["tag"]), lit(r["id"][:19]), str(r["size_mb"]))
    out.print(t)


RUN_STATES = ("pending", "running", "grading", "done", "failed", "timed_out", "interrupted")


@app.command("runs")
@one_line_errors
def runs_cmd(
    folders: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Run folders, runs folders or sweep folders (default: $REXMLE_HOME/runs).",
            metavar="[DIR]...",
        ),
    ] = None,
    state: Annotated[
        str | None, typer.Option("--state", help=f"Only runs in this state ({', '.join(RUN_STATES)}).")
    ] = None,
    challenge: Annotated[str | None, typer.Option("--challenge", help="Only runs of this challenge.")] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="Only runs of this agent.")] = None,
    show_all: Annotated[bool, typer.Option("--all", help="List every run (default: the 40 latest).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List single runs (and the runs of sweep folders), the latest first.

    Examples: `rexmle runs --state failed`, `rexmle runs runs/my-sweep --agent aide --json`.
    A run whose process died mid-run shows as interrupted; `rexmle run` with the same options
    resumes it."""
    from rexmle import store

    if state is not None and state not in RUN_STATES:
        raise typer.BadParameter(f"--state must be one of {', '.join(RUN_STATES)}, not {state!r}")
    rows = [
        r
        for r in store.run_rows(folders or [paths.runs_dir()])
        if (state is None or r.state == state)
        and (challenge is None or r.challenge == challenge)
        and (agent is None or r.agent == agent)
    ]
    if as_json:
        emit_json([r.model_dump(mode="json") for r in rows])
        return
    limit = len(rows) if show_all else 40
    colour = {
        "done": "green",
        "failed": "red",
        "timed_out": "yellow",
        "interrupted": "yellow",
        "running": "cyan",
    }
    t = Table(
        "run id", "challenge", "agent", "model", "seed", "data", "state", "valid", "percentile", title="runs"
    )
    for r in rows[:limit]:
        valid = "-" if r.valid is None else ("yes" if r.valid else "no")
        pct = "-" if r.percentile is None else f"{r.percentile:.2f}" + (" (synthetic)" if r.synthetic else "")
        t.add_row(
            lit(r.run_id),
            lit(r.challenge),
            lit(r.agent),
            lit(r.model or "-"),
            str(r.seed),
            "synthetic" if r.synthetic else "real",
            f"[{colour.get(r.state, 'white')}]{lit(r.state)}[/]",
            valid,
            pct,
        )
    if len(rows) > limit:
        t.caption = f"{len(rows) - limit} more; --all lists every run"
    out.print(t if rows else "no runs match")


@app.command()
@one_line_errors
def doctor(as_json: JsonOpt = False) -> None:
    """What this machine can run (engines, GPUs, Apptainer, SLURM, disk) and how to fix the rest."""
    from rexmle.doctor import run_checks

    checks = run_checks()
    if as_json:
        emit_json([c.model_dump() for c in checks])
        return
    t = Table("component", "status", "detail", "what to do")
    colour = {"ok": "green", "warning": "yellow", "missing": "red"}
    for c in checks:
        t.add_row(lit(c.component), f"[{colour[c.status]}]{lit(c.status)}[/]", lit(c.detail), lit(c.fix))
    out.print(t)


def _status_table(rows: list[Any], title: str, limit: int) -> Table:
    from rexmle import sweep as sweeps

    c = sweeps.counts(rows)
    colour = {"done": "green", "failed": "red", "interrupted": "yellow", "running": "cyan", "queued": "blue"}
    t = Table(
        "run", "phase", "state", "valid", "percentile", "attempts", "job", "note",
        title=f"{lit(title)}: " + "  ".join(f"[{colour.get(k, 'white')}]{lit(k)} {v}[/]" for k, v in c.items()),
        title_justify="left",
    )  # fmt: skip
    t.columns[0].overflow = "fold"  # a run id is only useful whole
    order = {p: i for i, p in enumerate(("running", "interrupted", "failed", "queued", "pending", "done"))}
    for r in sorted(rows, key=lambda r: (order[r.phase], r.run_id))[:limit]:
        t.add_row(
            lit(r.run_id),
            f"[{colour.get(r.phase, 'white')}]{lit(r.phase)}[/]",
            lit(r.state or ""),
            "" if r.valid is None else ("yes" if r.valid else "no"),
            "" if r.percentile is None else f"{r.percentile:.3f}",
            str(r.attempts or ""),
            lit(r.job_id or ""),
            lit((r.error or "")[:60]),
        )
    if len(rows) > limit:
        t.caption = f"{len(rows) - limit} more rows; --all shows every run"
    return t


class _SweepGroup(TyperGroup):
    """`rexmle sweep FILE` stays what it always was: a first word that is no subcommand is the
    sweep file of `rexmle sweep run FILE`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # ctx: typer's vendored click Context
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


sweep_app = typer.Typer(
    cls=_SweepGroup,
    no_args_is_help=True,
    help="Run a sweep (agents x challenges x models x seeds) or follow one.\n\n"
    "Examples:\n\n"
    "  rexmle sweep run examples/sweep-local.yaml --dry-run\n\n"
    "  rexmle sweep examples/sweep-local.yaml   (the same as `sweep run`)\n\n"
    "  rexmle sweep status runs/my-sweep --watch",
)
app.add_typer(sweep_app, name="sweep")


@sweep_app.command("run")
@one_line_errors
def sweep_run(
    file: Annotated[Path, typer.Argument(help="The sweep file (sweep.yaml).", metavar="FILE")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the matrix and estimated hours; run nothing.")
    ] = False,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Also run again the runs that finished as failed.")
    ] = False,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="SLURM: submit and return; `rexmle sweep status` follows it.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run what is missing or broken in a sweep and skip what is finished, so it is safe to run
    again after Ctrl-C, a killed job or a new seed."""
    from rexmle import sweep as sweeps

    spec = sweeps.load(file)
    if dry_run:
        _sweep_dry_run(spec, as_json)
        return
    note = (lambda _m: None) if as_json else (lambda m: err.print(f"[dim]· {lit(m)}[/]", highlight=False))
    # in a terminal, a bar under the lines: done of total, failed, running, dollars, time left
    with progress_bar(not as_json and err.is_terminal) as bars:

        def tally(t: sweeps.Tally) -> None:
            bars("runs", t.done, t.total)
            bars.status(
                f"sweep {spec.name}: {t.failed} failed, {t.running} running, ${t.cost_usd:.2f} of LLM use"
            )

        outcome = sweeps.run_sweep(
            spec, notify=note, retry_failed=retry_failed, wait=not no_wait, on_tally=tally
        )
    left = outcome.counts["interrupted"] + outcome.counts["pending"]
    if as_json:
        emit_json(outcome.model_dump(mode="json"))
        if left and not no_wait:
            raise typer.Exit(1)
        return
    out.print(_status_table(sweeps.status(spec.output), str(spec.output), 40))
    out.print(
        f"index: {lit(spec.output / 'index.csv')}; report: rexmle report {lit(spec.output)} -o report.html"
    )
    if outcome.counts["failed"]:
        err.print(
            f"{outcome.counts['failed']} run(s) failed: `rexmle runs {lit(spec.output)} --state failed` lists "
            f"them, `rexmle view RUN` shows one, `rexmle sweep run {lit(file)} --retry-failed` runs them again"
        )
    if left and not no_wait:
        err.print(
            f"[bold red]{left} run(s) did not finish[/] (their harness.log says why); run the sweep again to retry them"
        )
        raise typer.Exit(1)


@sweep_app.command("status")
@one_line_errors
def sweep_status(
    folder: Annotated[Path, typer.Argument(help="The sweep folder (sweep.yaml's `output`).", metavar="DIR")],
    watch: Annotated[
        bool, typer.Option("--watch", help="Refresh the table until nothing is queued or running.")
    ] = False,
    show_all: Annotated[bool, typer.Option("--all", help="List every run (default: 40 rows).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Counts of pending / queued / running / interrupted / done / failed runs and a table."""
    _sweep_status(folder, watch, show_all, as_json)


def _sweep_status(folder: Path, watch: bool, show_all: bool, as_json: bool) -> None:
    """`rexmle sweep status DIR`: counts and a table, refreshed with --watch, or --json."""
    from rexmle import sweep as sweeps

    limit = 10**9 if show_all else 40
    if as_json:
        rows = sweeps.status(folder)
        emit_json({"counts": sweeps.counts(rows), "runs": [r.model_dump(mode="json") for r in rows]})
        return
    if not watch:
        out.print(_status_table(sweeps.status(folder), str(folder), limit))
        return
    import time

    from rich.live import Live

    with Live(_status_table(sweeps.status(folder), str(folder), limit), console=out) as live:
        while True:
            rows = sweeps.status(folder)
            live.update(_status_table(rows, str(folder), limit))
            c = sweeps.counts(rows)
            if c["queued"] + c["running"] == 0:
                return
            time.sleep(2)


def _sweep_dry_run(spec: SweepSpec, as_json: bool) -> None:
    """`rexmle sweep FILE --dry-run`: the matrix and the most it can cost; runs nothing."""
    from rexmle import sweep as sweeps

    matrix = sweeps.expand(spec)
    est = sweeps.estimate(matrix)
    if as_json:
        emit_json(
            {"runs": [{"run_id": r.run_id, **r.model_dump(mode="json")} for r in matrix], "estimate": est}
        )
        return
    t = Table(
        "challenge",
        "agent",
        "model",
        "seed",
        "wall limit",
        "cpus",
        "gpus",
        "run id",
        title=f"sweep {lit(spec.name)}",
    )
    for r in matrix:
        b = r.budgets
        t.add_row(
            lit(r.challenge),
            lit(r.agent),
            lit(r.model or "-"),
            str(r.seed),
            f"{b.wall_time_s} s",
            str(b.cpus),
            str(b.gpus),
            lit(r.run_id),
        )
    out.print(t)
    out.print(
        f"{est['runs']:.0f} runs on {lit(spec.executor)} ({lit(spec.runtime)} runtime) into {lit(spec.output)}; "
        "at most "
        f"{est['gpu_hours']:.1f} GPU-hours, {est['cpu_hours']:.1f} CPU-hours, "
        f"{est['wall_hours']:.1f} run-hours, ${est['llm_usd_max']:.2f} of LLM spend"
    )


@app.command()
@one_line_errors
def view(
    run: Annotated[
        str, typer.Argument(help="A run folder, or a run id (or its prefix) under $REXMLE_HOME/runs.")
    ],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Where to write the page (default: RUN/view.html).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write one run's trajectory as an offline HTML page: outcome, the agent's steps (AIDE's
    journal: plan, code, output, metric, buggy), the best solution, every LLM call, the log.

    Example: `rexmle runs --state failed`, then `rexmle view 3fa2c1 -o run.html`."""
    from rexmle.report import view as views

    rd = views.resolve(run, paths.runs_dir())
    path = views.write(rd, output)
    if as_json:
        emit_json({"run_dir": str(rd.path), "view": str(path)})
        return
    out.print(f"wrote {lit(path)} (open it in a browser)")


@app.command()
@one_line_errors
def report(
    folders: Annotated[list[Path], typer.Argument(help="Sweep folders, runs folders or run folders.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    as_json: JsonOpt = False,
) -> None:
    """One self-contained HTML page comparing agents (leaderboard, heat map, per challenge, per run).

    Headline numbers use real data run in an isolated sandbox only; synthetic runs and runs on
    the local runtime are shown in their own marked sections.
    """
    from rexmle.report import build

    info = build(folders, output)
    if as_json:
        emit_json(info.model_dump(mode="json"))
        return
    err.print(
        f"wrote {lit(output)} ({info.size_bytes / 1e6:.1f} MB; {info.n_runs} runs, {info.n_agents} agents)"
    )


if __name__ == "__main__":
    app()
