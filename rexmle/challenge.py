"""ChallengeSpec and the registry that discovers ``challenges/*/challenge.yaml``.

A challenge is a folder; adding one is adding a folder. The registry searches the
built-in ``rexmle.challenges`` package first, then every directory listed in
``$REXMLE_CHALLENGES_PATH`` (``os.pathsep``-separated), so users add challenges
without forking. A malformed yaml is refused with one line naming the file and field.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from rexmle.config import load_yaml_model
from rexmle.errors import ConfigError, NotFoundError

if TYPE_CHECKING:
    import pandas as pd

Direction = Literal["higher_better", "lower_better"]
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")
LITE_MAX_GB = 3.0


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(Frozen):
    """Where the challenge's data comes from, and under which terms."""

    competition: str
    url: HttpUrl
    licence: str
    citation: str | None = None


class DataFile(Frozen):
    """One raw file to download. ``sha256`` may be unknown (null): then the first download
    records it in ``raw/downloads.json`` and every later use verifies against that."""

    name: Annotated[str, Field(pattern=r"^[^/\\]+$")]
    urls: list[HttpUrl] = []
    #: A Google Drive file id (LDCT-IQA's test set, USenhance, RAVIR): fetched through Drive's
    #: direct-download endpoint after the ``urls`` mirrors; a web page instead of the file (quota,
    #: permission) is refused with what to do by hand.
    gdrive_id: Annotated[str | None, Field(pattern=r"^[A-Za-z0-9_\-]{10,}$")] = None
    #: What a user must do by hand to get the file (a registration, a licence click). Without a
    #: download source prepare stops with this text and the path to place the file at; a placed
    #: file is verified like a downloaded one.
    manual: str | None = None
    sha256: Annotated[str | None, Field(pattern=r"^[0-9a-f]{64}$")] = None
    md5: Annotated[str | None, Field(pattern=r"^[0-9a-f]{32}$")] = None
    size_bytes: int | None = None
    #: Challenges that name the same ``shared`` key download the file once, into
    #: ``data/_shared/<key>/``, and link it into their own ``raw/`` (TopCoW's six tasks share one
    #: 14 GB release).
    shared: Annotated[str | None, Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")] = None
    #: The web page a person opens to get the file in a browser (the manual route every failed
    #: download names). Zenodo and Figshare pages, and Google Drive's, follow from the urls.
    page: HttpUrl | None = None
    #: A larger archive (in ``raw/``) that holds this file: when a user downloaded that instead
    #: (SEG.A's whole Figshare article), the file is taken out of it, then verified, not downloaded.
    inside: Annotated[str | None, Field(pattern=r"^[^/\\]+$")] = None
    #: The folder this archive unpacks to: a user who unpacked it by hand into ``raw/`` has that
    #: folder instead of the file, and prepare reads the folder (no download, nothing to verify).
    unpacked_as: Annotated[str | None, Field(pattern=r"^[^/\\]+$")] = None

    @model_validator(mode="after")
    def _has_source(self) -> DataFile:
        if not (self.urls or self.gdrive_id or self.manual):
            raise ValueError(f"{self.name}: give urls, a gdrive_id or manual instructions")
        return self


class Budgets(Frozen):
    """What the harness enforces on one run."""

    wall_time_s: Annotated[int, Field(gt=0)]
    cpus: Annotated[int, Field(gt=0)]
    memory_gb: Annotated[float, Field(gt=0)]
    gpus: Annotated[int, Field(ge=0)] = 0
    disk_gb: Annotated[float, Field(gt=0)] = 50
    #: Processes/threads the sandbox may hold at once (container runtimes): a fork bomb stops here.
    pids: Annotated[int, Field(gt=0)] = 4096
    #: LLM spend per run, enforced by the gateway; None = no limit of that kind.
    llm_usd: Annotated[float, Field(gt=0)] | None = 10.0
    llm_tokens: Annotated[int, Field(gt=0)] | None = 5_000_000


class GradingLimits(Frozen):
    """What one grading worker may spend on one case (``rexmle.grading.WorkerPool``).

    The defaults hold a 512x512x300 CT case with room to spare; a challenge whose honest
    cases need more says so in its ``challenge.yaml`` (``grading: {memory_gb: 4}``)."""

    #: Address-space cap of a worker, GiB (a worker's interpreter and libraries take ~0.6).
    memory_gb: Annotated[float, Field(gt=0.5)] = 2.0
    #: Wall-clock limit of one case's check and score, seconds (validation: at most 30 s).
    case_time_s: Annotated[float, Field(gt=0)] = 120.0


#: How a metric turns per-case results into the submission's value: ``mean`` or ``median`` of a
#: per-case value, or ``pooled`` (computed over all test cases at once: counts summed before an
#: F1, a correlation over the set, COCO AP, a root mean square).
Aggregation = Literal["mean", "median", "pooled"]

AGGREGATION_TEXT: dict[str, str] = {
    "mean": "mean over the test cases",
    "median": "median over the test cases",
    "pooled": "computed over all test cases together",
}


class Metric(Frozen):
    """One number a submission is scored on. The harness computes it (``rexmle.grading.aggregate``):
    ``mean`` / ``median`` of the per-case value the grader's ``score_case`` returns under
    ``per_case`` (default: the metric's own name), or, for ``pooled``, the value the grader computes
    over all cases at once (its ``aggregate`` or ``score_pooled``)."""

    name: str
    direction: Direction
    aggregation: Aggregation = "mean"
    #: The key of the per-case value a ``mean`` / ``median`` metric aggregates (SEG.A's ``hd_50pc``
    #: is the median of the per-case ``hd``); None: the metric's name.
    per_case: str | None = None
    #: Part of the leaderboard rank (mean position over the ranked metrics); others are reported only.
    ranked: bool = True
    description: str = ""

    @model_validator(mode="after")
    def _per_case_only_for_case_aggregates(self) -> Metric:
        if self.per_case is not None and self.aggregation == "pooled":
            raise ValueError(f"{self.name}: per_case names a per-case value; a pooled metric has none")
        return self

    @property
    def case_key(self) -> str:
        """The per-case value a ``mean`` / ``median`` metric aggregates."""
        return self.per_case or self.name


class Ranking(Frozen):
    """The human leaderboard a run is placed on (``rexmle.ranking``: mean position over the
    ranked metrics)."""

    leaderboard: str = "leaderboard.csv"


class Family(Frozen):
    """The shared code of a multi-task challenge (TopCoW's six tasks, PUMA's four): the task folder
    holds only ``challenge.yaml``, ``description.md`` and ``leaderboard.csv``, and its code is the
    family folder's ``family.py`` (``prepare``, ``generate``, ``grader``), which reads ``params``
    through its own pydantic model (``rexmle.challenge_api.family_params``)."""

    #: The family folder, a sibling of the task folder (``_topcow``).
    code: Annotated[str, Field(pattern=r"^_[a-z0-9_]+$")]
    #: What sets this task apart (modality, track, task kind), checked by the family.
    params: dict[str, str | int] = {}


class Split(Frozen):
    test_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.2
    seed: int = 42


class ChallengeSpec(Frozen):
    """The contents of ``challenge.yaml``."""

    id: str
    title: str
    source: Source
    modality: str
    task_type: str
    #: 2-D images or 3-D volumes: the sweep groups ``2d`` / ``3d`` select on it.
    dimensions: Literal["2d", "3d"]
    #: Approximate size of the real download; the sweep group ``lite`` is those of at most
    #: ``LITE_MAX_GB`` (the cheapest challenges to prepare and to train on).
    download_gb: Annotated[float, Field(gt=0)]
    data: Annotated[list[DataFile], Field(min_length=1)]
    budgets: Budgets
    synthetic_budgets: Budgets
    metrics: Annotated[list[Metric], Field(min_length=1)]
    ranking: Ranking = Ranking()
    split: Split = Split()
    grading: GradingLimits = GradingLimits()
    family: Family | None = None
    layout_version: Annotated[int, Field(ge=1)]

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not ID_RE.match(v):
            raise ValueError("must be lower-case letters, digits, '-' or '_'")
        return v

    @model_validator(mode="after")
    def _unique_metrics(self) -> ChallengeSpec:
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names):
            raise ValueError(f"metric names repeat: {names}")
        return self

    def budgets_for(self, synthetic: bool) -> Budgets:
        return self.synthetic_budgets if synthetic else self.budgets

    @property
    def directions(self) -> dict[str, Direction]:
        return {m.name: m.direction for m in self.metrics}

    @property
    def ranked_directions(self) -> dict[str, Direction]:
        """The directions of the metrics the leaderboard rank is computed on (``ranked: true``)."""
        return {m.name: m.direction for m in self.metrics if m.ranked}


class Challenge:
    """A discovered challenge folder: its spec plus lazy access to its code and files."""

    def __init__(self, spec: ChallengeSpec, folder: Path) -> None:
        self.spec = spec
        self.folder = folder

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def description_path(self) -> Path:
        return self.folder / "description.md"

    @cached_property
    def leaderboard(self) -> pd.DataFrame:
        import pandas as pd  # only ranking and the report need it: keep `rexmle --help` fast

        path = self.folder / self.spec.ranking.leaderboard
        if not path.is_file():
            raise ConfigError(f"{self.id}: leaderboard file {path} is missing")
        return pd.read_csv(path)

    def module(self, name: Literal["prepare", "synthetic", "grade"]) -> ModuleType:
        """The module that provides ``name``'s entry point: the folder's own ``<name>.py``, or for
        a family task the family's ``family.py`` (which provides all three)."""
        if self.spec.family is None:
            return challenge_module(self.folder, self.id, name)
        return family_module(self.folder.parent, self.spec.family.code)

    def __repr__(self) -> str:
        return f"Challenge({self.id!r}, {self.folder})"


def challenge_module(folder: Path, challenge_id: str, name: str) -> ModuleType:
    """Import ``<folder>/<name>.py`` under a stable name, so pool workers that get only the
    folder and id find the module a parent already imported (or import it once themselves)."""
    return load_module(folder / f"{name}.py", f"rexmle_challenge_{challenge_id.replace('-', '_')}.{name}")


def family_module(root: Path, code: str) -> ModuleType:
    """``<root>/<code>/family.py``: imported as ``rexmle.challenges.<code>.family`` for a built-in
    family (so its own absolute imports share the module), by file for one on
    ``$REXMLE_CHALLENGES_PATH``."""
    import rexmle.challenges as builtin

    path = root / code / "family.py"
    if not path.is_file():
        raise ConfigError(f"family code {path} is missing")
    if any(root.resolve() == Path(p).resolve() for p in builtin.__path__):
        return importlib.import_module(f"rexmle.challenges.{code}.family")
    return load_module(path, f"rexmle_family_{code}")


def load_module(path: Path, qualname: str) -> ModuleType:
    if qualname in sys.modules:
        return sys.modules[qualname]
    if not path.is_file():
        raise ConfigError(f"{path} is missing")
    spec = importlib.util.spec_from_file_location(qualname, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[qualname] = mod
    try:
        spec.loader.exec_module(mod)
    except Exception:
        del sys.modules[qualname]
        raise
    return mod


def load_spec(yaml_path: Path) -> ChallengeSpec:
    spec = load_yaml_model(yaml_path, ChallengeSpec)
    if spec.id != yaml_path.parent.name:
        raise ConfigError(
            f"{yaml_path}: id {spec.id!r} differs from its folder name {yaml_path.parent.name!r}"
        )
    return spec


def search_path() -> list[Path]:
    import rexmle.challenges as builtin

    dirs = [Path(p) for p in builtin.__path__]
    extra = os.environ.get("REXMLE_CHALLENGES_PATH", "")
    dirs += [Path(p).expanduser() for p in extra.split(os.pathsep) if p]
    return dirs


def discover() -> dict[str, Challenge]:
    """All challenges on the search path; the first folder with a given id wins."""
    found: dict[str, Challenge] = {}
    for root in search_path():
        if not root.is_dir():
            continue
        for yml in sorted(root.glob("*/challenge.yaml")):
            spec = load_spec(yml)
            found.setdefault(spec.id, Challenge(spec, yml.parent))
    return found


def groups(spec: ChallengeSpec) -> set[str]:
    """The named groups a challenge belongs to (``all``, ``2d``/``3d``, ``lite``)."""
    names = {"all", spec.dimensions}
    if spec.download_gb <= LITE_MAX_GB:
        names.add("lite")
    return names


GROUPS = ("all", "2d", "3d", "lite")


def select(names: str | list[str]) -> list[str]:
    """Challenge ids from a group name or a list of ids and group names, in a stable order."""
    found = discover()
    wanted = [names] if isinstance(names, str) else list(names)
    out: list[str] = []
    for name in wanted:
        if name in GROUPS:
            ids = sorted(cid for cid, ch in found.items() if name in groups(ch.spec))
            if not ids:
                raise ConfigError(f"challenge group {name!r} is empty")
        elif name in found:
            ids = [name]
        else:
            known = ", ".join(sorted(found))
            raise NotFoundError(
                f"unknown challenge or group {name!r} (groups: {', '.join(GROUPS)}; challenges: {known})"
            )
        out += [i for i in ids if i not in out]
    return out


def get(challenge_id: str) -> Challenge:
    challenges = discover()
    if challenge_id not in challenges:
        known = ", ".join(sorted(challenges)) or "none"
        raise NotFoundError(f"unknown challenge {challenge_id!r} (known: {known}); see `rexmle list`")
    return challenges[challenge_id]
