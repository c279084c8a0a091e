"""The task statement every agent gets, rendered for all 21 challenges: the parts that must never
disagree with the grader come from challenge.yaml and the grader's FORMAT; submission tables are
read one way whatever the whitespace; columns an agent must write are checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rexmle import challenge, data, grading
from rexmle import run as runs
from rexmle.challenge_api import grader_of
from rexmle.errors import InvalidSubmission
from rexmle.runtime.base import SANDBOX_PATHS

CHALLENGES = sorted(challenge.discover())
#: Files the harness holds and the agent is never given: naming one sends an agent looking for
#: something it cannot have.
NOT_GIVEN = (
    "leaderboard.csv",
    "challenge.yaml",
    "grade.py",
    "prepare.py",
    "synthetic.py",
    "test_labels.csv",
    "manifest.json",
    "downloads.json",
    "rexmle validate",
    "rexmle grade",
    "private/",
)


def _render(cid: str) -> str:
    ch = challenge.get(cid)
    return runs.render_instructions(ch, ch.spec.synthetic_budgets, True, dict(SANDBOX_PATHS))


@pytest.mark.parametrize("cid", CHALLENGES)
def test_every_metric_direction_and_the_format_check_are_stated(cid: str) -> None:
    ch = challenge.get(cid)
    text = _render(cid)
    fmt = grader_of(ch).format
    for m in ch.spec.metrics:
        better = "higher" if m.direction == "higher_better" else "lower"
        assert f"- `{m.name}`: **{better} is better**; {challenge.AGGREGATION_TEXT[m.aggregation]}" in text
    ranked = ", ".join(f"`{m.name}`" for m in ch.spec.metrics if m.ranked)
    assert f"ranked metrics ({ranked})" in text
    assert "`validate-submission`" in text and "`validate-submission FOLDER`" in text
    for col in fmt.columns:
        assert f"`{col}`" in text
    for name in NOT_GIVEN:
        assert name not in text, f"{cid}: the statement names {name!r}, which the agent is not given"


@pytest.mark.parametrize("cid", CHALLENGES)
def test_the_description_never_contradicts_a_metric_direction(cid: str) -> None:
    """Where the prose gives a direction next to a metric's name, it is challenge.yaml's."""
    ch = challenge.get(cid)
    prose = ch.description_path.read_text()
    for m in ch.spec.metrics:
        said = re.findall(rf"`{re.escape(m.name)}`\**\s*\((higher|lower)[ -]is[ -]better", prose)
        expected = "higher" if m.direction == "higher_better" else "lower"
        assert all(s == expected for s in said), f"{cid}: {m.name} is {expected}-is-better, prose says {said}"


def test_the_direction_check_above_can_fail() -> None:
    prose = "- `hd95` (higher is better): ..."
    assert re.findall(r"`hd95`\**\s*\((higher|lower)[ -]is[ -]better", prose) == ["higher"]


@pytest.mark.parametrize("cid", CHALLENGES)
def test_header_and_cell_whitespace_is_read_one_way(cid: str, tmp_path: Path) -> None:
    """`image_id, quality_score` (a space after the comma) and padded cells read as the tight
    form does, for every challenge's table."""
    fmt = grader_of(challenge.get(cid)).format
    ids = ["case1", "case2"]
    for case in ids:
        for col, suffixes in fmt.file_columns.items():
            (tmp_path / f"{case}-{col}{suffixes[0]}").write_bytes(b"")
    lines = [", ".join(fmt.columns)]
    for case in ids:
        cells = [f" {case} "]
        cells += [f"  {case}-{col}{suffixes[0]} " for col, suffixes in fmt.file_columns.items()]
        cells += [f" value-{col}\t" for col in fmt.value_columns]
        lines.append(",".join(cells))
    (tmp_path / "submission.csv").write_text("\n".join(lines) + "\n")
    got = grading.read_submission(tmp_path, fmt, ids)
    assert sorted(got) == ids
    for case in ids:
        for col, suffixes in fmt.file_columns.items():
            assert got[case][col] == tmp_path / f"{case}-{col}{suffixes[0]}"
        for col in fmt.value_columns:
            assert got[case][col] == f"value-{col}"


def test_a_spaced_ldct_header_validates_end_to_end(tmp_path: Path) -> None:
    ch = challenge.get("ldct-iqa")
    root = data.prepare(ch, synthetic=True, home=tmp_path / "home")
    sample = (root / "public" / "sample_submission" / "submission.csv").read_text().splitlines()
    assert sample[0] == "image_id,quality_score"
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "submission.csv").write_text(
        "\n".join(["image_id, quality_score", *(r.replace(",", ", ") for r in sample[1:])]) + "\n"
    )
    report = grading.validate(ch, sub, root / "public")
    assert report.valid, report.reason


def test_a_repeated_column_must_repeat_the_test_table(tmp_path: Path) -> None:
    """TopCoW's and TopBrain's `modality` is checked against test.csv, not carried unread."""
    fmt = grader_of(challenge.get("topcow-track1-task1")).format
    (tmp_path / "test.csv").write_text("image_id,modality,image_path\ntopcow_ct_001, CTA ,x\n")
    grading.check_repeated_values({"topcow_ct_001": {"modality": "CTA"}}, fmt, tmp_path / "test.csv")
    with pytest.raises(InvalidSubmission) as err:
        grading.check_repeated_values({"topcow_ct_001": {"modality": "MRA"}}, fmt, tmp_path / "test.csv")
    assert str(err.value) == "case topcow_ct_001: modality is 'MRA', but test.csv says 'CTA'"
    # a value column test.csv does not have (LDCT-IQA's score) is not compared
    ldct = grader_of(challenge.get("ldct-iqa")).format
    (tmp_path / "plain.csv").write_text("image_id,image_path\na,x\n")
    grading.check_repeated_values({"a": {"quality_score": "1"}}, ldct, tmp_path / "plain.csv")


def test_the_rendered_statement_says_which_value_column_is_checked(tmp_path: Path) -> None:
    ch = challenge.get("topcow-track1-task1")
    public = tmp_path / "public"
    public.mkdir()
    (public / "test.csv").write_text("image_id,modality,image_path\n")
    text = runs.render_instructions(
        ch, ch.spec.synthetic_budgets, True, dict(SANDBOX_PATHS), public_dir=public
    )
    assert "- `modality`: the value `test.csv` gives for the case (checked)." in text
