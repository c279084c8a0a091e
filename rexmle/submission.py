"""The submission table: ``submission.csv`` and the files it names, read one way for every challenge.

A challenge's grader declares its table as a :class:`SubmissionFormat` (``FORMAT`` in its
``grade.py``); this module is everything generic about reading it, and nothing else: the id set
(every test case once, nothing more), header and cell whitespace (stripped), the size and row caps
(a hostile table costs microseconds, not gigabytes), path safety (relative, inside the submission
folder after resolving symlinks, a regular file) and the allowed suffixes. Every failure is an
:class:`~rexmle.errors.InvalidSubmission` with a one-line reason. No file the table names is
opened here: decoding happens in the grading workers (``rexmle.grading``).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rexmle.errors import InvalidSubmission

SUBMISSION_CSV = "submission.csv"
MAX_CSV_BYTES = 16 * 1024 * 1024
#: Rows read beyond the number of test cases before a CSV is refused unread.
EXTRA_ROWS_READ = 100


@dataclass(frozen=True)
class SubmissionFormat:
    """A challenge's table: the id column, the columns naming a file (with the suffixes allowed),
    and the columns holding a value (a score, or one repeated from ``test.csv``)."""

    id_column: str
    file_columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    value_columns: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        return [self.id_column, *self.file_columns, *self.value_columns]


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


def _some(ids: list[str], shown: int = 3) -> str:
    """The first ``shown`` ids, and how many more there are: ``a, b, c (+2 more)``."""
    more = f" (+{len(ids) - shown} more)" if len(ids) > shown else ""
    return ", ".join(ids[:shown]) + more


def read_submission(
    submission_dir: Path, fmt: SubmissionFormat, expected_ids: list[str]
) -> dict[str, dict[str, Any]]:
    """Parse and check ``submission.csv``; returns case_id -> {column: Path | str}.

    Rows are streamed and reading stops ``EXTRA_ROWS_READ`` rows past the number of test cases
    (enough to name a repeated or unknown id in the reason), so a 16 MiB file of millions of tiny rows costs microseconds, not gigabytes. Header names and
    cells are stripped of surrounding whitespace (``image_id, quality_score`` is the same
    header as ``image_id,quality_score``), as every cell is before it is checked."""
    if not submission_dir.is_dir():
        raise InvalidSubmission(f"submission folder {submission_dir} does not exist")
    csv_path = resolve_member(submission_dir, SUBMISSION_CSV, SUBMISSION_CSV)
    if csv_path.stat().st_size > MAX_CSV_BYTES:
        raise InvalidSubmission(f"{SUBMISSION_CSV} is larger than {MAX_CSV_BYTES // 2**20} MiB")
    expected = set(expected_ids)
    raw_rows: list[tuple[int, list[str]]] = []
    try:
        with csv_path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            cap = len(expected) + EXTRA_ROWS_READ
            for fields in reader:
                if not fields:  # a blank line, as csv.DictReader skips it
                    continue
                if len(raw_rows) >= cap:
                    raise InvalidSubmission(
                        f"{SUBMISSION_CSV} has far more rows than the {len(expected)} test case(s)"
                    )
                raw_rows.append((reader.line_num, fields))
    except UnicodeDecodeError:
        raise InvalidSubmission(f"{SUBMISSION_CSV} is not UTF-8 text") from None
    except csv.Error as exc:
        raise InvalidSubmission(f"{SUBMISSION_CSV} is not a readable CSV: {exc}") from None
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
    if not raw_rows:
        raise InvalidSubmission(f"{SUBMISSION_CSV} has no rows")
    rows: list[dict[str, str]] = []
    for line, fields in raw_rows:
        if len(fields) > len(header):
            raise InvalidSubmission(f"{SUBMISSION_CSV} line {line}: more fields than columns")
        rows.append({col: (fields[k].strip() if k < len(fields) else "") for k, col in enumerate(header)})
    out: dict[str, dict[str, Any]] = {}
    for (line, _fields), row in zip(raw_rows, rows, strict=True):
        case_id = row[fmt.id_column]
        if not case_id:
            raise InvalidSubmission(f"{SUBMISSION_CSV} line {line}: empty {fmt.id_column}")
        if case_id in out:
            raise InvalidSubmission(f"{SUBMISSION_CSV}: {fmt.id_column} {case_id!r} appears more than once")
        out[case_id] = {col: row[col] for col in fmt.value_columns}
    missing = sorted(expected - set(out))
    if missing:
        raise InvalidSubmission(f"missing {len(missing)} of {len(expected)} test case(s): {_some(missing)}")
    extra = sorted(set(out) - expected)
    if extra:
        raise InvalidSubmission(f"unknown case id(s) not in the test set: {_some(extra)}")
    for row in rows:
        case_id = row[fmt.id_column]
        for col, suffixes in fmt.file_columns.items():
            rel = row[col]
            what = f"case {case_id}"
            path = resolve_member(submission_dir, rel, what)
            if suffixes and not any(rel.lower().endswith(s) for s in suffixes):
                raise InvalidSubmission(f"{what}: {col} {rel!r} must end with {' or '.join(suffixes)}")
            out[case_id][col] = path
    return out


def check_repeated_values(cases: dict[str, dict[str, Any]], fmt: SubmissionFormat, test_csv: Path) -> None:
    """A value column the submission shares with the public ``test.csv`` (TopCoW's and TopBrain's
    ``modality``) must repeat that case's value there: a column nothing checks would be a column
    an agent can get wrong without being told."""
    if not fmt.value_columns or not test_csv.is_file():
        return
    with test_csv.open(newline="") as f:
        reader = csv.DictReader(f)
        shared = [c for c in fmt.value_columns if c in (reader.fieldnames or ())]
        if not shared:
            return
        for row in reader:
            case = cases.get(row.get(fmt.id_column, ""))
            for col in shared:
                if case is not None and case[col] != row[col].strip():
                    raise InvalidSubmission(
                        f"case {row[fmt.id_column]}: {col} is {case[col]!r}, but test.csv says {row[col].strip()!r}"
                    )
