"""The sweep file: what to run (agents x challenges x models x seeds, budgets, executor), the
matrix it expands to, and what that costs at most."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from rexmle import agent as agents
from rexmle import challenge as challenge_registry
from rexmle.config import load_yaml_model
from rexmle.errors import ConfigError, NotFoundError, RexmleError
from rexmle.store import RunSpec


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BudgetOverrides(Frozen):
    """Per-run limits that replace the challenge's own (synthetic or real) budget."""

    wall_time_s: Annotated[int, Field(gt=0)] | None = None
    gpus: Annotated[int, Field(ge=0)] | None = None
    #: <= 0 removes the limit, as on the command line.
    llm_usd: float | None = None
    llm_tokens: int | None = None


class LocalOptions(Frozen):
    #: Concurrent runs. Default: one per GPU when the runs use GPUs and GPUs exist, otherwise
    #: as many as there are whole CPU slots of the runs' ``cpus`` budget.
    workers: Annotated[int, Field(gt=0)] | None = None


class SlurmOptions(Frozen):
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    #: One job array per resource shape instead of one job per run.
    array: bool = False
    array_parallelism: Annotated[int, Field(gt=0)] = 64
    #: Added to the run's wall-time budget for the job's time limit: data staging, grading.
    time_margin_s: Annotated[int, Field(ge=0)] = 900
    #: Added to the run's memory budget for the job: the harness and the grader.
    mem_margin_gb: Annotated[float, Field(ge=0)] = 4.0
    #: How often a job may be requeued after preemption or a SLURM timeout.
    max_requeues: Annotated[int, Field(ge=0)] = 3
    #: Lines run in the batch script before the job (``module load ...``).
    setup: list[str] = []
    #: Any other sbatch option, verbatim (``{"mail-type": "END"}``).
    additional: dict[str, str | int] = {}
    poll_s: Annotated[float, Field(gt=0)] = 10.0


class SweepSpec(Frozen):
    """The contents of sweep.yaml."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
    agents: Annotated[list[str], Field(min_length=1)]
    #: A group (``all``, ``2d``, ``3d``, ``lite``) or a list of challenge ids and groups.
    challenges: str | Annotated[list[str], Field(min_length=1)] = "all"
    #: litellm model strings, for the agents that use an LLM (others run once per seed).
    models: list[str] = []
    #: A count (``3`` -> seeds 0, 1, 2) or an explicit list.
    seeds: Annotated[int, Field(gt=0)] | Annotated[list[int], Field(min_length=1)] = 1
    synthetic: bool = False
    llm: Literal["provider", "scripted"] | None = None
    steps: Annotated[int, Field(gt=0)] | None = None
    runtime: str = "local"
    budgets: BudgetOverrides = BudgetOverrides()
    executor: Literal["local", "slurm"] = "local"
    local: LocalOptions = LocalOptions()
    slurm: SlurmOptions = SlurmOptions()
    #: The sweep folder; relative paths are relative to the sweep file.
    output: Path

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)


def load(path: Path) -> SweepSpec:
    if not path.is_file():
        raise ConfigError(f"sweep file {path} does not exist")
    spec = load_yaml_model(path, SweepSpec)
    out = spec.output if spec.output.is_absolute() else (path.parent / spec.output)
    return spec.model_copy(update={"output": out.resolve()})


def _unknown_names(spec: SweepSpec) -> list[str]:
    """Every challenge, group and agent name the sweep file gives that does not exist, each with
    the known name it most resembles."""
    known_challenges = [*challenge_registry.discover(), *challenge_registry.GROUPS]
    known_agents = list(agents.discover())
    wanted = [spec.challenges] if isinstance(spec.challenges, str) else list(spec.challenges)
    problems = []
    for kind, names, known in (("challenge", wanted, known_challenges), ("agent", spec.agents, known_agents)):
        for name in names:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                problems.append(
                    f"unknown {kind} {name!r}" + (f" (did you mean {close[0]}?)" if close else "")
                )
    return problems


def expand(spec: SweepSpec) -> list[RunSpec]:
    """The matrix, in a stable order (challenge, agent, model, seed). Every unknown name and every
    cell that cannot run is reported at once, each cell named."""
    from rexmle.run import make_spec

    unknown = _unknown_names(spec)
    if unknown:
        raise NotFoundError(f"sweep {spec.name}: " + "; ".join(unknown))
    out: dict[str, RunSpec] = {}
    problems: dict[tuple[str, str], list[str]] = {}  # (agent, why) -> the challenges it concerns
    for cid in challenge_registry.select(spec.challenges):
        for name in spec.agents:
            uses_llm = agents.get(name).spec.uses_llm
            models: list[str | None] = list(spec.models) if uses_llm and spec.models else [None]
            for model in models:
                for seed in spec.seed_list:
                    try:
                        rs = make_spec(
                            cid,
                            name,
                            model=model,
                            seed=seed,
                            runtime=spec.runtime,
                            synthetic=spec.synthetic,
                            time_limit_s=spec.budgets.wall_time_s,
                            gpus=spec.budgets.gpus,
                            llm=spec.llm if uses_llm else None,
                            max_usd=spec.budgets.llm_usd if uses_llm else None,
                            max_tokens=spec.budgets.llm_tokens if uses_llm else None,
                            steps=spec.steps if uses_llm else None,
                        )
                    except RexmleError as exc:
                        cells = problems.setdefault((name, str(exc)), [])
                        cells += [] if cid in cells else [cid]
                        continue
                    out.setdefault(rs.run_id, rs)
    if problems:
        lines = [
            f"{cids[0]} x {name}{f' (and {len(cids) - 1} more challenges)' if len(cids) > 1 else ''}: {why}"
            for (name, why), cids in problems.items()
        ]
        raise ConfigError(f"sweep {spec.name}: " + "; ".join(lines))
    return list(out.values())


def estimate(runs: Iterable[RunSpec]) -> dict[str, float]:
    """Upper bounds from the budgets: every run is assumed to use its whole wall time."""
    runs = list(runs)
    hours = [r.budgets.wall_time_s / 3600.0 for r in runs]
    return {
        "runs": len(runs),
        "gpu_hours": sum(h * r.budgets.gpus for h, r in zip(hours, runs, strict=True)),
        "cpu_hours": sum(h * r.budgets.cpus for h, r in zip(hours, runs, strict=True)),
        "wall_hours": sum(hours),
        "llm_usd_max": sum(r.budgets.llm_usd or 0.0 for r in runs if r.llm == "provider"),
    }
