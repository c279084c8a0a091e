"""The contract between ReX-MLE and a challenge's code.

A challenge module imports from here and from ``rexmle.graders`` (the metric formulas), nothing
else of the harness. A challenge folder ``challenges/<id>/`` provides three entry points:

``prepare.py``    ``prepare(raw_dir, public_dir, private_dir, spec, progress=None) -> {"train": n, "test": n}``
                  (:class:`Preparer`). Reads the release in place (:class:`Release`: the zip, or the
                  folder a user unpacked it into), writes ``public_dir`` (what the agent sees:
                  ``train.csv``, ``test.csv``, images, ``sample_submission/``) and ``private_dir``
                  (``test_labels.csv`` and the labels). It never downloads: every ``DataFile`` of
                  challenge.yaml is present and verified before it runs. Split with
                  :func:`train_test_split_ids`, write the three held-out tables with
                  :func:`held_out_tables`, report progress with :func:`ticker`; a broken release is a
                  one-line :class:`DataError`.
``synthetic.py``  ``generate(raw_dir, spec, seed=0) -> Path`` (:class:`SyntheticGenerator`): raw files
                  with the real download's names, archive form and inner layout, so the same
                  ``prepare`` runs on them.
``grade.py``      module-level names that make a :class:`Grader`: ``FORMAT`` (a
                  :class:`SubmissionFormat`), ``check_case``, and ``score_case`` (plus ``aggregate``
                  when a metric is pooled) or ``score_pooled``. The harness, not the grader, turns
                  per-case values into ``mean`` / ``median`` metrics, as challenge.yaml's
                  ``metrics`` say (``rexmle.grading.aggregate``); a grader computes only the
                  ``pooled`` ones. A submission the grader cannot score raises
                  :class:`InvalidSubmission` with a short reason.

The tasks of a multi-task challenge (TopCoW's six, PUMA's four) hold no code: their
challenge.yaml names a family (``family: {code: _topcow, params: {modality: ct, task: seg}}``)
whose ``family.py`` provides ``prepare`` and ``generate`` with the signatures above and
``grader(spec) -> Grader``, all three from one :class:`Family` object, which reads
``spec.family.params`` through the family's :class:`FamilyParams` model.

A worked example, a binary 2-D segmentation scored by mean Dice (``metrics: [{name: dice,
direction: higher_better, aggregation: mean}]`` in challenge.yaml)::

    # grade.py
    import numpy as np
    from PIL import Image
    from rexmle.challenge_api import InvalidSubmission, SubmissionFormat, check_image
    from rexmle.graders import dice

    FORMAT = SubmissionFormat(id_column="image_id", file_columns={"predicted_mask_path": (".png",)})

    def check_case(case_id, files, public_dir):       # public files only; runs for /validate too
        path = files["predicted_mask_path"]
        check_image(path, f"case {case_id}", 4096 * 4096, "pillow")  # header first: no decompression bomb
        mask = np.asarray(Image.open(path))
        if mask.ndim != 2 or mask.max() > 1:
            raise InvalidSubmission(f"case {case_id}: a 2-D 0/1 mask is expected")
        return mask

    def score_case(case_id, mask, private_dir):       # -> {"dice": ...}; the harness takes the mean
        gt = np.asarray(Image.open(private_dir / "test" / "labels" / f"{case_id}.png"))
        return {"dice": dice(mask > 0, gt > 0)}

Every call of ``check_case`` / ``score_case`` runs in a disposable worker with a memory cap and
a wall limit (``rexmle.grading``): a grader may load a whole case, never the whole test set.
"""

from __future__ import annotations

import csv
import math
import re
import shutil
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import IO, Any, Generic, NamedTuple, Protocol, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from rexmle.challenge import Challenge, ChallengeSpec, challenge_module, load_spec
from rexmle.errors import ConfigError, DataError, InvalidSubmission
from rexmle.imaging import load_nifti, read_label_map, voxel_volume_ml, write_empty_mask_like
from rexmle.safe_io import check_image, check_pixels, check_volume, load_json, read_text
from rexmle.submission import SubmissionFormat

__all__ = [
    "ChallengeSpec",
    "DataError",
    "Family",
    "FamilyParams",
    "Grader",
    "HeldOutTables",
    "InvalidSubmission",
    "Preparer",
    "ProgressFn",
    "RawFile",
    "Release",
    "SubmissionFormat",
    "SyntheticGenerator",
    "check_image",
    "check_pixels",
    "check_volume",
    "family_params",
    "held_out_tables",
    "load_json",
    "load_nifti",
    "raw_files",
    "read_label_map",
    "read_text",
    "sibling_module",
    "ticker",
    "train_test_split_ids",
    "voxel_volume_ml",
    "write_empty_mask_like",
    "zip_members",
]

#: ``progress(task, done, total)``: how prepare reports how far it is.
ProgressFn = Callable[[str, int, int], None]
CaseScores = dict[str, float]


class Preparer(Protocol):
    """``prepare.prepare``: the release in ``raw_dir`` -> the public and private folders."""

    def __call__(
        self,
        raw_dir: Path,
        public_dir: Path,
        private_dir: Path,
        spec: ChallengeSpec,
        progress: ProgressFn | None = None,
    ) -> dict[str, int]: ...


class SyntheticGenerator(Protocol):
    """``synthetic.generate``: a small release in the real one's exact form, written to ``raw_dir``."""

    def __call__(self, raw_dir: Path, spec: ChallengeSpec, seed: int = 0) -> Path: ...


@dataclass(frozen=True)
class Grader:
    """A challenge's grading code, however it is written (a ``grade.py`` module's names, or a family's
    ``grader(spec)``).

    ``check_case(case_id, files, public_dir) -> loaded``: the format check of one case against public
    files only (also what an agent's ``validate-submission`` runs); returns the loaded prediction.
    ``score_case(case_id, loaded, private_dir) -> {key: value}``: the organisers' per-case values.
    ``aggregate(rows) -> {metric: value}``: the ``pooled`` metrics from every case's row.
    ``score_pooled(loaded_by_case, private_dir) -> {metric: value}``: instead of ``score_case``, for a
    metric that needs every case's prediction at once (COCO AP); ``loaded`` must then be picklable.
    """

    format: SubmissionFormat
    check_case: Callable[[str, dict[str, Path], Path], Any]
    score_case: Callable[[str, Any, Path], Mapping[str, float]] | None = None
    aggregate: Callable[[list[dict[str, float]]], Mapping[str, float]] | None = None
    score_pooled: Callable[[dict[str, Any], Path], Mapping[str, float]] | None = None

    def __post_init__(self) -> None:
        if (self.score_case is None) == (self.score_pooled is None):
            raise ConfigError("a grader defines either score_case or score_pooled, not both or neither")
        if self.score_pooled is not None and self.aggregate is not None:
            raise ConfigError("a grader with score_pooled computes every pooled metric there; drop aggregate")

    @classmethod
    def from_module(cls, mod: ModuleType, spec: ChallengeSpec) -> Grader:
        """The grader a ``grade.py`` module (its names) or a ``family.py`` (its ``grader(spec)``) defines."""
        if hasattr(mod, "grader"):
            made = mod.grader(spec)
            if not isinstance(made, Grader):
                raise ConfigError(f"{mod.__name__}.grader() returned {type(made).__name__}, not a Grader")
            return made
        try:
            return cls(
                format=mod.FORMAT,
                check_case=mod.check_case,
                score_case=getattr(mod, "score_case", None),
                aggregate=getattr(mod, "aggregate", None),
                score_pooled=getattr(mod, "score_pooled", None),
            )
        except AttributeError as exc:
            raise ConfigError(f"{mod.__name__}: {exc}") from None


_GRADERS: dict[tuple[str, str], Grader] = {}


def grader_of(challenge: Challenge) -> Grader:
    """The challenge's :class:`Grader`, made once per process."""
    key = (str(challenge.folder), challenge.id)
    if key not in _GRADERS:
        _GRADERS[key] = Grader.from_module(challenge.module("grade"), challenge.spec)
    return _GRADERS[key]


def grader_at(folder: Path, challenge_id: str) -> Grader:
    """The grader of the challenge in ``folder`` (what a grading worker is told: folder and id)."""
    key = (str(folder), challenge_id)
    if key not in _GRADERS:
        spec = load_spec(folder / "challenge.yaml")
        if spec.id != challenge_id:
            raise ConfigError(f"{folder} holds challenge {spec.id!r}, not {challenge_id!r}")
        return grader_of(Challenge(spec, folder))
    return _GRADERS[key]


def sibling_module(file: str, name: str) -> ModuleType:
    """The challenge module ``<name>.py`` beside ``file`` (pass ``__file__``), for a folder whose
    name is no Python package name (``neurips-cellseg``): the same module object the harness
    loads for that challenge."""
    folder = Path(file).resolve().parent
    return challenge_module(folder, folder.name, name)


P = TypeVar("P", bound=BaseModel)


class FamilyParams(BaseModel):
    """Base of a family's parameter model: frozen, and a key it does not know is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def family_params(spec: ChallengeSpec, model: type[P]) -> P:
    """``spec.family.params`` read through the family's own (frozen) pydantic model; a task whose
    yaml misses or misspells one is refused with one line naming the challenge."""
    if spec.family is None:
        raise ConfigError(f"{spec.id}: challenge.yaml names no family")
    try:
        return model.model_validate(spec.family.params)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{spec.id}: challenge.yaml family.params.{where}: {err['msg']}") from None


@dataclass(frozen=True)
class Family(Generic[P]):
    """The code of a multi-task challenge, written once: how to prepare, generate and grade a
    task given its parameters (``params``, the family's :class:`FamilyParams` model). A family's
    ``family.py`` exposes the three entry points the harness calls::

        FAMILY = Family(Params, prepare_task=..., generate_release=..., make_grader=...)
        prepare, generate, grader = FAMILY.prepare, FAMILY.generate, FAMILY.grader
    """

    params: type[P]
    #: ``(raw_dir, public_dir, private_dir, spec, params, progress) -> {"train": n, "test": n}``
    prepare_task: Callable[[Path, Path, Path, ChallengeSpec, P, ProgressFn | None], dict[str, int]]
    #: ``(raw_dir, params, seed) -> the archive written`` (the same release for every task is fine)
    generate_release: Callable[[Path, P, int], Path]
    #: ``params -> the task's Grader``
    make_grader: Callable[[P], Grader]

    def prepare(
        self,
        raw_dir: Path,
        public_dir: Path,
        private_dir: Path,
        spec: ChallengeSpec,
        progress: ProgressFn | None = None,
    ) -> dict[str, int]:
        """The :class:`Preparer` of the task ``spec`` names."""
        return self.prepare_task(
            raw_dir, public_dir, private_dir, spec, family_params(spec, self.params), progress
        )

    def generate(self, raw_dir: Path, spec: ChallengeSpec, seed: int = 0) -> Path:
        """The :class:`SyntheticGenerator` of the task ``spec`` names."""
        return self.generate_release(raw_dir, family_params(spec, self.params), seed)

    def grader(self, spec: ChallengeSpec) -> Grader:
        """The :class:`Grader` of the task ``spec`` names."""
        return self.make_grader(family_params(spec, self.params))


# --- splitting ------------------------------------------------------------------------------


def train_test_split_ids(ids: Iterable[str], test_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Split case ids exactly as the ReX-MLE reference does.

    The reference sorts the ids and calls scikit-learn's ``train_test_split(test_size=f,
    random_state=seed, shuffle=True)``: n_test = ceil(f * n), a permutation from
    ``numpy.random.RandomState(seed)``, the first n_test permuted indices are the test set.
    We reproduce that arithmetic (cross-checked against scikit-learn in the tests) so the
    split equals the paper's without depending on scikit-learn. Both lists come back sorted.
    """
    ordered = sorted(set(ids))
    n = len(ordered)
    if n < 2:
        raise DataError(f"need at least 2 cases to split, found {n}")
    n_test = math.ceil(test_fraction * n)
    perm = np.random.RandomState(seed).permutation(n)
    test = sorted(ordered[i] for i in perm[:n_test])
    train = sorted(ordered[i] for i in perm[n_test:])
    return train, test


# --- the held-out tables --------------------------------------------------------------------


class HeldOutTables(NamedTuple):
    """The writers of a split's test half: public ``test.csv``, private ``test_labels.csv`` and the
    sample submission's ``submission.csv``, and the sample submission's folder."""

    test: Any
    labels: Any
    sample: Any
    sample_dir: Path


@contextmanager
def held_out_tables(
    public_dir: Path,
    private_dir: Path,
    test_header: Sequence[str],
    label_header: Sequence[str],
    sample_header: Sequence[str],
) -> Iterator[HeldOutTables]:
    """Open the three tables every prepare writes for its test cases, headers written."""
    sub = public_dir / "sample_submission"
    sub.mkdir(parents=True, exist_ok=True)
    with (
        (public_dir / "test.csv").open("w", newline="") as ft,
        (private_dir / "test_labels.csv").open("w", newline="") as fl,
        (sub / "submission.csv").open("w", newline="") as fs,
    ):
        t = HeldOutTables(csv.writer(ft), csv.writer(fl), csv.writer(fs), sub)
        t.test.writerow(test_header)
        t.labels.writerow(label_header)
        t.sample.writerow(sample_header)
        yield t


def ticker(progress: ProgressFn | None, task: str, total: int) -> Callable[[], None]:
    """A callable that reports one more of ``total`` items of ``task`` done to ``progress``."""
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(task, done, total)

    return tick


# --- reading a release in place -------------------------------------------------------------


class Release:
    """A release as relative name -> member, read in place from its zip in ``raw/`` or from the
    folder a user unpacked it into (never unpacked twice onto the disk).

    ``archive``: the zip's name; ``folder``: the folder it unpacks to (default: the zip's name
    without ``.zip``); ``top``: a top folder inside the zip whose prefix is dropped from the names,
    so zip and folder give the same names. Use as a context manager, or ``close()``."""

    def __init__(
        self, raw_dir: Path, archive: str, folder: str | None = None, top: str | None = None
    ) -> None:
        self.zip: zipfile.ZipFile | None = None
        path, unpacked = raw_dir / archive, raw_dir / (folder or archive.removesuffix(".zip"))
        if path.exists():
            try:
                self.zip = zipfile.ZipFile(path)
            except zipfile.BadZipFile:
                raise DataError(f"{path} is not a valid zip; delete it and prepare again") from None
            prefix = re.compile(rf"^(?:{re.escape(top)}/)?") if top else None
            self.names = {
                prefix.sub("", n) if prefix else n: n for n in self.zip.namelist() if not n.endswith("/")
            }
        elif unpacked.is_dir():
            self.names = {
                p.relative_to(unpacked).as_posix(): str(p) for p in sorted(unpacked.rglob("*")) if p.is_file()
            }
        else:
            raise DataError(f"neither {path} nor {unpacked} exists")

    def __enter__(self) -> Release:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        member = self.names[name]
        with self.zip.open(member) if self.zip else Path(member).open("rb") as f:
            yield f

    def read(self, name: str) -> bytes:
        with self.open(name) as f:
            return f.read()

    def read_text(self, name: str) -> str:
        return self.read(name).decode("utf-8")

    def copy(self, name: str, dst: Path) -> None:
        dst.parent.mkdir(parents=True, exist_ok=True)
        with self.open(name) as src, dst.open("wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)

    def close(self) -> None:
        if self.zip:
            self.zip.close()


class RawFile(NamedTuple):
    """One file of a release that spans several zips (:func:`raw_files`): a member of a zip in
    ``raw/`` (``zip_path``), or a file a user unpacked by hand (``zip_path`` None, ``name`` its path)."""

    zip_path: Path | None
    name: str

    def read(self) -> bytes:
        if self.zip_path is None:
            return Path(self.name).read_bytes()
        with zipfile.ZipFile(self.zip_path) as zf:
            return zf.read(self.name)

    def copy(self, dst: Path) -> None:
        dst.parent.mkdir(parents=True, exist_ok=True)
        if self.zip_path is None:
            shutil.copyfile(self.name, dst)
            return
        with zipfile.ZipFile(self.zip_path) as zf, zf.open(self.name) as src, dst.open("wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)


def zip_members(archive: Path) -> list[str]:
    """The file (not folder) members of ``archive``; a corrupt zip is a one-line DataError."""
    try:
        with zipfile.ZipFile(archive) as zf:
            return [i.filename for i in zf.infolist() if not i.is_dir()]
    except zipfile.BadZipFile:
        raise DataError(f"{archive} is not a valid zip; delete it and prepare again") from None


#: Files in ``raw/`` that are ours, not the release's.
_BOOKKEEPING = {"downloads.json", ".lock"}


def raw_files(raw_dir: Path) -> dict[str, RawFile]:
    """Every file of a release by its posix path: the members of each ``raw/*.zip`` (the
    path inside the zip) and the files unpacked by hand (the path below ``raw/``). A member
    wins over a loose file of the same path; zips, partial downloads and our bookkeeping are
    not files of the release."""
    found: dict[str, RawFile] = {}
    for archive in sorted(raw_dir.glob("*.zip")):
        for name in zip_members(archive):
            found.setdefault(name, RawFile(archive, name))
    for p in sorted(raw_dir.rglob("*")):
        if p.is_file() and p.suffix not in (".zip", ".part") and p.name not in _BOOKKEEPING:
            found.setdefault(p.relative_to(raw_dir).as_posix(), RawFile(None, str(p)))
    return found
