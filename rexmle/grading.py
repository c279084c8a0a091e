"""Validate and grade a submission directory for one challenge.

The contract with ``challenges/<id>/grade.py`` is four names:

``FORMAT``                 a :class:`SubmissionFormat` (CSV columns and allowed file suffixes)
``check_case(case_id, files, public_dir)``
                           format check of one case using public files only; returns the loaded
                           prediction; raises :class:`InvalidSubmission` with a short reason
``score_case(case_id, loaded, private_dir) -> dict[str, float]``
                           the official per-case metrics
``aggregate(rows) -> dict[str, float]``
                           per-case rows -> the challenge's aggregate metrics

The test cases a submission must cover are the ``FORMAT.id_column`` values of the public
``test.csv``; a module whose cases are listed elsewhere defines ``expected_ids(public_dir)``.

A metric pooled over every test case (COCO AP ranks all detections of all images together)
cannot be a mean of per-case numbers. Such a module defines, instead of ``score_case`` and
``aggregate``, the optional hook

``score_pooled(loaded, private_dir) -> dict[str, float]``
                           ``loaded`` maps every case id to its ``check_case`` result (which
                           must then be small and picklable: it travels back from the pool
                           workers); called once, in the parent, after every case passed

Everything generic lives here: reading ``submission.csv``, the id set, path safety (no
absolute paths, nothing that resolves outside the submission directory, symlinks
included), a process pool that streams one case per task so memory is bounded by one
case per worker, and turning every failure into ``valid: false`` with a one-line reason.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from rexmle.challenge import Challenge, challenge_module
from rexmle.errors import InvalidSubmission

SUBMISSION_CSV = "submission.csv"
MAX_CSV_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class SubmissionFormat:
    id_column: str
    file_columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    value_columns: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        return [self.id_column, *self.file_columns, *self.value_columns]


class GradeReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    valid: bool
    reason: str | None = None
    n_cases: int = 0
    metrics: dict[str, float] = {}
    per_case: list[dict[str, Any]] = []


ProgressFn = Callable[[int, int], None]


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def resolve_member(submission_dir: Path, rel: str, what: str) -> Path:
    """Resolve a path written in the CSV, refusing anything that leaves the submission dir."""
    if not rel or rel.strip() != rel:
        raise InvalidSubmission(f"{what}: empty path or surrounding whitespace: {rel!r}")
    if "\x00" in rel or os.path.isabs(rel) or rel.startswith("~"):
        raise InvalidSubmission(f"{what}: path must be relative to the submission folder: {rel!r}")
    root = submission_dir.resolve()
    candidate = submission_dir / rel
    resolved = candidate.resolve()
    if not _inside(resolved, root):
        kind = "symlink" if any(p.is_symlink() for p in [candidate, *candidate.parents]) else "path"
        raise InvalidSubmission(f"{what}: {kind} {rel!r} leaves the submission folder")
    if not resolved.exists():
        raise InvalidSubmission(f"{what}: file {rel!r} does not exist")
    if not resolved.is_file():
        raise InvalidSubmission(f"{what}: {rel!r} is not a regular file")
    return resolved


def read_submission(
    submission_dir: Path, fmt: SubmissionFormat, expected_ids: list[str]
) -> dict[str, dict[str, Any]]:
    """Parse and check ``submission.csv``; returns case_id -> {column: Path | str}."""
    if not submission_dir.is_dir():
        raise InvalidSubmission(f"submission folder {submission_dir} does not exist")
    csv_path = resolve_member(submission_dir, SUBMISSION_CSV, SUBMISSION_CSV)
    if csv_path.stat().st_size > MAX_CSV_BYTES:
        raise InvalidSubmission(f"{SUBMISSION_CSV} is larger than {MAX_CSV_BYTES // 2**20} MiB")
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidSubmission(f"{SUBMISSION_CSV} is not UTF-8 text") from None
    try:
        rows = list(csv.DictReader(text.splitlines()))
        header = next(csv.reader(text.splitlines()), [])
    except csv.Error as exc:
        raise InvalidSubmission(f"{SUBMISSION_CSV} is not a readable CSV: {exc}") from None
    header = [h.strip() for h in header]
    missing_cols = [c for c in fmt.columns if c not in header]
    if missing_cols:
        raise InvalidSubmission(
            f"{SUBMISSION_CSV} lacks column(s) {', '.join(missing_cols)} (header: {', '.join(header) or 'empty'})"
        )
    extra_cols = [c for c in header if c not in fmt.columns]
    if extra_cols:
        raise InvalidSubmission(f"{SUBMISSION_CSV} has unexpected column(s) {', '.join(extra_cols)}")
    if len(set(header)) != len(header):
        raise InvalidSubmission(f"{SUBMISSION_CSV} repeats a column name")
    if not rows:
        raise InvalidSubmission(f"{SUBMISSION_CSV} has no rows")
    out: dict[str, dict[str, Any]] = {}
    for i, row in enumerate(rows, start=2):
        if None in row:
            raise InvalidSubmission(f"{SUBMISSION_CSV} line {i}: more fields than columns")
        case_id = (row.get(fmt.id_column) or "").strip()
        if not case_id:
            raise InvalidSubmission(f"{SUBMISSION_CSV} line {i}: empty {fmt.id_column}")
        if case_id in out:
            raise InvalidSubmission(f"{SUBMISSION_CSV}: {fmt.id_column} {case_id!r} appears more than once")
        out[case_id] = {}
        for col in fmt.value_columns:
            out[case_id][col] = row.get(col)
    expected = set(expected_ids)
    missing = sorted(expected - set(out))
    if missing:
        more = f" (+{len(missing) - 3} more)" if len(missing) > 3 else ""
        raise InvalidSubmission(
            f"missing {len(missing)} of {len(expected)} test case(s): {', '.join(missing[:3])}{more}"
        )
    extra = sorted(set(out) - expected)
    if extra:
        more = f" (+{len(extra) - 3} more)" if len(extra) > 3 else ""
        raise InvalidSubmission(f"unknown case id(s) not in the test set: {', '.join(extra[:3])}{more}")
    for row in rows:
        case_id = row[fmt.id_column].strip()
        for col, suffixes in fmt.file_columns.items():
            rel = (row.get(col) or "").strip()
            what = f"case {case_id}"
            path = resolve_member(submission_dir, rel, what)
            if suffixes and not any(rel.lower().endswith(s) for s in suffixes):
                raise InvalidSubmission(f"{what}: {col} {rel!r} must end with {' or '.join(suffixes)}")
            out[case_id][col] = path
    return out


# --- per-case work, run in pool workers ------------------------------------------------

#: Where a pooled grader's per-case check result rides in a verdict (see ``_case_task``).
POOLED_KEY = "__loaded__"


def _case_task(
    folder: str,
    challenge_id: str,
    case_id: str,
    files: dict[str, Any],
    public_dir: str,
    private_dir: str | None,
) -> tuple[str, bool, str | None, dict[str, Any]]:
    """Check (and with a private dir, score) one case. Never raises: returns a verdict.

    For a pooled grader (``score_pooled``) the scores dict is ``{POOLED_KEY: loaded}`` when
    grading: the check's result goes back to the parent, which scores all cases together."""
    mod: Any = challenge_module(Path(folder), challenge_id, "grade")
    try:
        loaded = mod.check_case(case_id, files, Path(public_dir))
        scores: dict[str, Any] = {}
        if private_dir is not None and hasattr(mod, "score_pooled"):
            scores = {POOLED_KEY: loaded}
        elif private_dir is not None:
            scores = {k: float(v) for k, v in mod.score_case(case_id, loaded, Path(private_dir)).items()}
    except InvalidSubmission as exc:
        return case_id, False, _one_line(str(exc)), {}
    except MemoryError:
        return case_id, False, f"case {case_id}: prediction too large to load", {}
    except Exception as exc:
        return (
            case_id,
            False,
            _one_line(f"case {case_id}: could not be graded: {type(exc).__name__}: {exc}"),
            {},
        )
    return case_id, True, None, scores


def _run_cases(
    challenge: Challenge,
    cases: dict[str, dict[str, Any]],
    public_dir: Path,
    private_dir: Path | None,
    workers: int,
    progress: ProgressFn | None,
) -> Iterator[tuple[str, bool, str | None, dict[str, Any]]]:
    ids = sorted(cases)
    args = [
        (
            str(challenge.folder),
            challenge.id,
            c,
            cases[c],
            str(public_dir),
            None if private_dir is None else str(private_dir),
        )
        for c in ids
    ]
    total = len(args)
    if workers <= 1 or total <= 1:
        for n, a in enumerate(args, start=1):
            verdict = _case_task(*a)
            if progress:
                progress(n, total)
            yield verdict
            if not verdict[1]:
                return
        return
    with ProcessPoolExecutor(max_workers=min(workers, total)) as pool:
        pending: set[Future[Any]] = set()
        queue = iter(args)
        # Keep at most `workers` cases in flight: memory stays bounded by one case per worker.
        for a in [next(queue) for _ in range(min(workers, total))]:
            pending.add(pool.submit(_case_task, *a))
        done_count = 0
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                verdict = fut.result()
                done_count += 1
                if progress:
                    progress(done_count, total)
                yield verdict
                if not verdict[1]:
                    for p in pending:
                        p.cancel()
                    return
                nxt = next(queue, None)
                if nxt is not None:
                    pending.add(pool.submit(_case_task, *nxt))


def default_workers() -> int:
    env = os.environ.get("REXMLE_GRADE_WORKERS")
    if env:
        return max(1, int(env))
    return max(1, min(os.cpu_count() or 1, 8))


def expected_ids(challenge: Challenge, public_dir: Path) -> list[str]:
    """The case ids a submission must cover: the grade module's own ``expected_ids`` where it
    has one, else the ``FORMAT.id_column`` of the public ``test.csv``."""
    mod = challenge.module("grade")
    if hasattr(mod, "expected_ids"):
        return list(mod.expected_ids(public_dir))
    with (public_dir / "test.csv").open(newline="") as f:
        return [row[mod.FORMAT.id_column] for row in csv.DictReader(f)]


def _evaluate(
    challenge: Challenge,
    submission_dir: Path,
    public_dir: Path,
    private_dir: Path | None,
    workers: int | None,
    progress: ProgressFn | None,
) -> GradeReport:
    mod = challenge.module("grade")
    try:
        ids = expected_ids(challenge, public_dir)
        cases = read_submission(submission_dir, mod.FORMAT, ids)
    except InvalidSubmission as exc:
        return GradeReport(valid=False, reason=_one_line(str(exc)))
    rows: list[dict[str, Any]] = []
    pooled: dict[str, Any] = {}
    for case_id, ok, reason, scores in _run_cases(
        challenge, cases, public_dir, private_dir, workers or default_workers(), progress
    ):
        if not ok:
            return GradeReport(valid=False, reason=reason, n_cases=len(cases))
        if POOLED_KEY in scores:
            pooled[case_id] = scores.pop(POOLED_KEY)
        rows.append({"case_id": case_id, **scores})
    rows.sort(key=lambda r: r["case_id"])
    if private_dir is None:
        return GradeReport(valid=True, n_cases=len(rows))
    try:
        if hasattr(mod, "score_pooled"):
            result = mod.score_pooled(dict(sorted(pooled.items())), private_dir)
        else:
            result = mod.aggregate(rows)
        metrics = {k: float(v) for k, v in result.items()}
    except InvalidSubmission as exc:
        return GradeReport(valid=False, reason=_one_line(str(exc)), n_cases=len(rows))
    except Exception as exc:
        return GradeReport(valid=False, reason=_one_line(f"aggregation failed: {type(exc).__name__}: {exc}"))
    bad = [k for k, v in metrics.items() if math.isnan(v)]
    if bad:
        return GradeReport(valid=False, reason=f"metric(s) {', '.join(bad)} are NaN", n_cases=len(rows))
    return GradeReport(valid=True, n_cases=len(rows), metrics=metrics, per_case=rows)


def validate(
    challenge: Challenge,
    submission_dir: Path,
    public_dir: Path,
    workers: int | None = None,
    progress: ProgressFn | None = None,
) -> GradeReport:
    """Format check only (public files only): never reads private data, never scores."""
    return _evaluate(challenge, submission_dir, public_dir, None, workers, progress)


def grade(
    challenge: Challenge,
    submission_dir: Path,
    public_dir: Path,
    private_dir: Path,
    workers: int | None = None,
    progress: ProgressFn | None = None,
) -> GradeReport:
    """Validate then score every case; aggregate with the challenge's ``aggregate``."""
    return _evaluate(challenge, submission_dir, public_dir, private_dir, workers, progress)
