"""Every generic check of `submission.csv` (rexmle.submission), each with the exact reason a user
reads. Fast and process-free: `make mutate` runs this file against every mutant of the module."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rexmle.errors import InvalidSubmission
from rexmle.submission import (
    EXTRA_ROWS_READ,
    MAX_CSV_BYTES,
    SubmissionFormat,
    check_repeated_values,
    read_submission,
    resolve_member,
)

FMT = SubmissionFormat(
    id_column="case_id", file_columns={"mask": (".nii.gz", ".nii")}, value_columns=("score",)
)
IDS = ["a", "b"]


@pytest.fixture
def sub(tmp_path: Path) -> Path:
    folder = tmp_path / "sub"
    (folder / "p").mkdir(parents=True)
    for case in IDS:
        (folder / "p" / f"{case}.nii.gz").write_bytes(b"x")
    return folder


def write(folder: Path, text: str | bytes) -> Path:
    path = folder / "submission.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def reason(folder: Path, ids: list[str] = IDS, fmt: SubmissionFormat = FMT) -> str:
    with pytest.raises(InvalidSubmission) as err:
        read_submission(folder, fmt, ids)
    return str(err.value)


GOOD = "case_id,mask,score\na,p/a.nii.gz,1\nb,p/b.nii.gz,2\n"


def test_a_good_table_reads_to_paths_and_values(sub: Path) -> None:
    write(sub, GOOD)
    assert read_submission(sub, FMT, IDS) == {
        "a": {"score": "1", "mask": (sub / "p" / "a.nii.gz").resolve()},
        "b": {"score": "2", "mask": (sub / "p" / "b.nii.gz").resolve()},
    }
    assert FMT.columns == ["case_id", "mask", "score"]


def test_a_byte_order_mark_blank_lines_and_short_rows(sub: Path) -> None:
    write(sub, "\ufeffcase_id,mask,score\n\na,p/a.nii.gz\n\nb,p/b.nii.gz,2\n")
    got = read_submission(sub, FMT, IDS)
    assert got["a"]["score"] == "" and got["b"]["score"] == "2"  # a short row's missing cells are empty


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ("", "submission.csv lacks column(s) case_id, mask, score (header: empty)"),
        ("case_id,mask\na,p/a.nii.gz\n", "submission.csv lacks column(s) score (header: case_id, mask)"),
        ("case_id,mask,score,extra\n", "submission.csv has unexpected column(s) extra"),
        ("case_id,mask,score\n", "submission.csv has no rows"),
        ("case_id,mask,score\na,p/a.nii.gz,1,9\n", "submission.csv line 2: more fields than columns"),
        ("case_id,mask,score\n,p/a.nii.gz,1\n", "submission.csv line 2: empty case_id"),
        (
            "case_id,mask,score\na,p/a.nii.gz,1\na,p/a.nii.gz,1\n",
            "submission.csv: case_id 'a' appears more than once",
        ),
        ("case_id,mask,score\na,p/a.nii.gz,1\n", "missing 1 of 2 test case(s): b"),
        (
            "case_id,mask,score\na,p/a.nii.gz,1\nb,p/b.nii.gz,1\nzz,p/a.nii.gz,1\n",
            "unknown case id(s) not in the test set: zz",
        ),
        ("case_id,mask,score\na,p/a.nii.gz,1\nb,p/b.txt,1\n", "case b: file 'p/b.txt' does not exist"),
        (
            "case_id,mask,score\na,/etc/passwd,1\nb,p/b.nii.gz,1\n",
            "case a: path must be relative to the submission folder: '/etc/passwd'",
        ),
        (
            "case_id,mask,score\na,../x.nii.gz,1\nb,p/b.nii.gz,1\n",
            "case a: path '../x.nii.gz' leaves the submission folder",
        ),
        (
            "case_id,mask,score\na,~/x.nii.gz,1\nb,p/b.nii.gz,1\n",
            "case a: path must be relative to the submission folder: '~/x.nii.gz'",
        ),
        ("case_id,mask,score\na,p,1\nb,p/b.nii.gz,1\n", "case a: 'p' is not a regular file"),
        (
            'case_id,mask,score\na,"p/a.nii.gz\x00",1\nb,p/b.nii.gz,1\n',
            "case a: path must be relative to the submission folder: 'p/a.nii.gz\\x00'",
        ),
        (
            "case_id,mask,score\n" + "a" * 200_000 + ",p/a.nii.gz,1\n",
            "submission.csv is not a readable CSV: field larger than field limit (131072)",
        ),
    ],
)
def test_each_table_check_has_its_reason(sub: Path, table: str, expected: str) -> None:
    write(sub, table)
    assert reason(sub) == expected


def test_a_repeated_column_name(sub: Path) -> None:
    write(sub, "case_id,mask,score,score\na,p/a.nii.gz,1,1\n")
    assert reason(sub) == "submission.csv repeats a column name"
    write(sub, "case_id,mask , mask,score\na,p/a.nii.gz,p/a.nii.gz,1\n")  # the same name once stripped
    assert reason(sub) == "submission.csv repeats a column name"


@pytest.mark.parametrize(
    ("n_missing", "named"),
    [(3, "c1, c2, c3"), (4, "c1, c2, c3 (+1 more)"), (7, "c1, c2, c3 (+4 more)")],
)
def test_the_count_of_ids_past_the_three_named(sub: Path, n_missing: int, named: str) -> None:
    ids = [f"c{i}" for i in range(n_missing + 1)]
    write(sub, "case_id,mask,score\nc0,p/a.nii.gz,1\n")
    assert reason(sub, ids) == f"missing {n_missing} of {n_missing + 1} test case(s): {named}"
    write(
        sub,
        "case_id,mask,score\n"
        + "".join(f"{c},p/a.nii.gz,1\n" for c in ["c0", *(f"x{c[1:]}" for c in ids[1:])]),
    )
    assert reason(sub, ["c0"]) == f"unknown case id(s) not in the test set: {named.replace('c', 'x')}"


def test_the_format_cannot_be_changed_once_declared() -> None:
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        FMT.id_column = "other"  # type: ignore[misc]


def test_a_row_two_cells_short_reads_as_empty_cells(sub: Path) -> None:
    write(sub, "case_id,mask,score\na\nb,p/b.nii.gz,2\n")
    assert reason(sub) == "case a: empty path or surrounding whitespace: ''"


def test_missing_and_unknown_ids_name_three_and_count_the_rest(sub: Path) -> None:
    ids = [f"c{i}" for i in range(6)]
    write(sub, "case_id,mask,score\nc0,p/a.nii.gz,1\n")
    assert reason(sub, ids) == "missing 5 of 6 test case(s): c1, c2, c3 (+2 more)"
    rows = "".join(f"x{i},p/a.nii.gz,1\n" for i in range(5))
    write(sub, "case_id,mask,score\n" + "".join(f"{c},p/a.nii.gz,1\n" for c in ids) + rows)
    assert reason(sub, ids) == "unknown case id(s) not in the test set: x0, x1, x2 (+2 more)"


def test_a_file_with_the_wrong_suffix(sub: Path) -> None:
    (sub / "p" / "b.png").write_bytes(b"x")
    write(sub, "case_id,mask,score\na,p/a.nii.gz,1\nb,p/b.png,1\n")
    assert reason(sub) == "case b: mask 'p/b.png' must end with .nii.gz or .nii"
    write(sub, "case_id,mask,score\na,p/a.nii.gz,1\nb,P/B.NII.GZ,1\n")  # suffixes compare case-blind
    (sub / "P").mkdir()
    (sub / "P" / "B.NII.GZ").write_bytes(b"x")
    assert read_submission(sub, FMT, IDS)["b"]["mask"] == (sub / "P" / "B.NII.GZ").resolve()


def test_a_symlink_out_of_the_folder_is_named_as_one(sub: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.nii.gz"
    outside.write_bytes(b"x")
    (sub / "p" / "link.nii.gz").symlink_to(outside)
    write(sub, "case_id,mask,score\na,p/link.nii.gz,1\nb,p/b.nii.gz,1\n")
    assert reason(sub) == "case a: symlink 'p/link.nii.gz' leaves the submission folder"


def test_the_folder_the_table_and_its_encoding(tmp_path: Path, sub: Path) -> None:
    with pytest.raises(InvalidSubmission, match=r"^submission folder .*nowhere does not exist$"):
        read_submission(tmp_path / "nowhere", FMT, IDS)
    assert reason(sub) == "submission.csv: file 'submission.csv' does not exist"
    write(sub, b"case_id,mask,score\na,p/a.nii.gz,\xff\n")
    assert reason(sub) == "submission.csv is not UTF-8 text"


def test_the_size_cap_is_exactly_sixteen_mebibytes(sub: Path) -> None:
    assert MAX_CSV_BYTES == 16 * 2**20
    path = write(sub, GOOD)
    with path.open("ab") as f:
        f.write(b"\n" * (MAX_CSV_BYTES - path.stat().st_size))  # blank lines: exactly at the cap
    assert read_submission(sub, FMT, IDS)["a"]["score"] == "1"
    with path.open("ab") as f:
        f.write(b"\n")
    assert reason(sub) == "submission.csv is larger than 16 MiB"


def test_rows_past_the_test_set_are_refused_at_the_allowance(sub: Path) -> None:
    assert EXTRA_ROWS_READ == 100
    # four test cases: the cap is 4 + 100 = 104 rows (not 4 ^ 100 = 96, nor 4 | 100 = 100)
    four = ["a", "b", "c", "d"]
    rows = "".join(f"{c},p/a.nii.gz,1\n" for c in four)
    extra = "".join(f"x{i},p/a.nii.gz,1\n" for i in range(EXTRA_ROWS_READ))
    write(sub, "case_id,mask,score\n" + rows + extra)
    assert reason(sub, four).startswith("unknown case id(s) not in the test set: x0, x1, x10 (+97 more)")
    write(sub, "case_id,mask,score\n" + rows + extra + "one,p/a.nii.gz,1\n")
    assert reason(sub, four) == "submission.csv has far more rows than the 4 test case(s)"
    extra = "".join(f"x{i},p/a.nii.gz,1\n" for i in range(EXTRA_ROWS_READ))
    write(sub, GOOD + extra)  # exactly the allowance: read, then the unknown ids are named
    assert reason(sub).startswith("unknown case id(s) not in the test set: x0, x1, x10")
    write(sub, GOOD + extra + "one,p/a.nii.gz,1\n")
    assert reason(sub) == "submission.csv has far more rows than the 2 test case(s)"


def test_the_row_allowance_holds_for_a_large_test_set(sub: Path) -> None:
    """200 cases: the cap is 300 rows, a number CPython does not share between int objects (only
    -5..256 are cached), so the cap is a comparison of values, not of identities."""
    ids = [f"c{i}" for i in range(200)]
    rows = "".join(f"c{i},p/a.nii.gz,1\n" for i in range(200 + EXTRA_ROWS_READ + 1))
    write(sub, "case_id,mask,score\n" + rows)
    assert reason(sub, ids) == "submission.csv has far more rows than the 200 test case(s)"


def test_resolve_member_refuses_blank_and_padded_paths(sub: Path) -> None:
    for rel, why in [
        ("", "empty path or surrounding whitespace: ''"),
        (" p/a.nii.gz", "empty path or surrounding whitespace: ' p/a.nii.gz'"),
        ("p/a.nii.gz ", "empty path or surrounding whitespace: 'p/a.nii.gz '"),
    ]:
        with pytest.raises(InvalidSubmission) as err:
            resolve_member(sub, rel, "case a")
        assert str(err.value) == f"case a: {why}"
    assert resolve_member(sub, "p/./a.nii.gz", "case a") == (sub / "p" / "a.nii.gz").resolve()
    assert os.path.isabs(resolve_member(sub, "p/a.nii.gz", "x"))


def test_repeated_values_compare_stripped_and_only_shared_columns(tmp_path: Path) -> None:
    fmt = SubmissionFormat(id_column="image_id", value_columns=("modality", "score"))
    test_csv = tmp_path / "test.csv"
    test_csv.write_text("image_id,modality\nx, MRA \ny,MRA\n")
    check_repeated_values(
        {"x": {"modality": "MRA", "score": "3"}, "y": {"modality": "MRA", "score": "1"}}, fmt, test_csv
    )
    with pytest.raises(InvalidSubmission) as err:
        check_repeated_values(
            {"x": {"modality": "MRA", "score": "3"}, "y": {"modality": "CTA", "score": "1"}}, fmt, test_csv
        )
    assert str(err.value) == "case y: modality is 'CTA', but test.csv says 'MRA'"
    test_csv.write_text("image_id,modality\nx,CTA\n")  # and the other way round ('MRA' sorts after 'CTA')
    with pytest.raises(InvalidSubmission, match=r"modality is 'MRA', but test\.csv says 'CTA'"):
        check_repeated_values({"x": {"modality": "MRA"}}, fmt, test_csv)
    check_repeated_values(
        {"x": {"modality": "CTA"}}, fmt, tmp_path / "absent.csv"
    )  # no table: nothing to compare
    check_repeated_values({"x": {"modality": "CTA"}}, SubmissionFormat(id_column="image_id"), test_csv)
