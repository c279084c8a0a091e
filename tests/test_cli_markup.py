"""The CLI prints user-controlled text (ids, reasons, paths, errors) literally, never as rich markup.

A case id such as ``[/bold]x`` used to crash ``rexmle grade``/``rexmle run`` with a MarkupError
traceback, and a reason such as "finite numbers [x, y, w, h]" lost its brackets.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from rexmle import cli, grading
from rexmle.sweep import RunStatus

#: A case id that is rich markup twice over: a closing tag with no opening one (MarkupError) and
#: a bracketed list that rich would silently drop.
HOSTILE = "[/bold]x [x, y, w, h]"


def rexmle(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rexmle.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "250", **(env or {})},
        timeout=300,
    )


def make_hostile(submission: Path, where: str) -> None:
    """Rewrite submission.csv so that its first problem names ``HOSTILE``: as a case id (the
    last two rows both claim it) or inside the first row's prediction path (a missing file)."""
    table = submission / "submission.csv"
    with table.open(newline="") as f:
        rows = list(csv.reader(f))
    id_col = rows[0].index("case_id")
    if where == "case_id":
        for row in rows[-2:]:
            row[id_col] = HOSTILE
    else:
        path_col = 1 - id_col
        rows[1][path_col] = f"predictions/{HOSTILE}.nii.gz"
    with table.open("w", newline="") as f:
        csv.writer(f).writerows(rows)


def _recording(monkeypatch: pytest.MonkeyPatch) -> Console:
    console = Console(file=io.StringIO(), width=250, color_system=None, record=True)
    monkeypatch.setattr(cli, "out", console)
    return console


def _assert_clean(r: subprocess.CompletedProcess[str]) -> None:
    text = r.stdout + r.stderr
    assert "Traceback" not in text and "MarkupError" not in text, text


@pytest.mark.parametrize("where", ["case_id", "path"])
def test_grade_and_validate_print_markup_literally(
    home: Path, prepared: Path, sample_submission: Path, where: str
) -> None:
    make_hostile(sample_submission, where)
    for command in ("grade", "validate"):
        js = rexmle(command, "isles22", str(sample_submission), "--synthetic", "--json")
        assert js.returncode == 1, (command, js.stdout, js.stderr)
        reason = json.loads(js.stdout)["reason"]
        assert HOSTILE in reason, reason
        r = rexmle(command, "isles22", str(sample_submission), "--synthetic")
        assert r.returncode == 1, (command, r.stdout, r.stderr)
        _assert_clean(r)
        assert f"invalid: {reason}" in r.stdout, (reason, r.stdout)


def test_top_level_error_line_keeps_markup_literal(tmp_path: Path) -> None:
    r = rexmle("info", "[/bold]nope[x, y, w, h]", env={"REXMLE_HOME": str(tmp_path)})
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "unknown challenge '[/bold]nope[x, y, w, h]'" in lines[0], r.stderr


def test_run_prints_a_markup_reason_literally(
    home: Path, prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real ``rexmle run`` whose agent writes a hostile submission: the result table and the
    progress notes print the reason as written, and the command still exits 0 (invalid run)."""
    folder = tmp_path / "agents" / "hostile"
    folder.mkdir(parents=True)
    (folder / "agent.yaml").write_text(
        "name: hostile\n"
        "description: Copies the sample submission and gives two rows a case id that is rich markup.\n"
        "kind: builtin\n"
        'entrypoint: ["{python}", "{agent_dir}/run.py"]\n'
        "image_stack: minimal\n"
    )
    (folder / "run.py").write_text(
        "import csv, os, shutil\n"
        "from pathlib import Path\n"
        "sub = Path(os.environ['REXMLE_SUBMISSION_DIR'])\n"
        "shutil.copytree(Path(os.environ['REXMLE_DATA_DIR']) / 'sample_submission', sub, dirs_exist_ok=True)\n"
        "rows = list(csv.reader((sub / 'submission.csv').open(newline='')))\n"
        "for row in rows[-2:]:\n"
        f"    row[rows[0].index('case_id')] = {HOSTILE!r}\n"
        "csv.writer((sub / 'submission.csv').open('w', newline='')).writerows(rows)\n"
    )
    env = {
        "REXMLE_AGENTS_PATH": os.pathsep.join([str(tmp_path / "agents"), os.environ["REXMLE_AGENTS_PATH"]])
    }
    args = ("run", "--agent", "hostile", "--challenge", "isles22", "--synthetic")
    js = rexmle(*args, "--json", env=env)
    assert js.returncode == 0, js.stderr
    reason = json.loads(js.stdout)["grade"]["reason"]
    assert HOSTILE in reason, reason
    r = rexmle(*args, env=env)  # the same spec: its stored result, printed for people
    assert r.returncode == 0, r.stderr
    _assert_clean(r)
    assert f"no: {reason}" in r.stdout, (reason, r.stdout)


def test_print_report_keeps_brackets_in_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    console = _recording(monkeypatch)
    reason = "case c1: box must be 4 finite numbers [x, y, w, h], got [/bold][red]"
    cli._print_report(grading.GradeReport(valid=False, reason=reason), None)
    assert f"invalid: {reason}" in console.export_text()


def test_print_report_keeps_brackets_in_metric_names(monkeypatch: pytest.MonkeyPatch) -> None:
    console = _recording(monkeypatch)
    cli._print_report(grading.GradeReport(valid=True, metrics={"dice[/bold]": 0.5}), None)
    assert "dice[/bold]" in console.export_text()


def test_sweep_status_rows_keep_markup_literal() -> None:
    row = RunStatus(
        run_id="isles22__[/bold]__s0",
        phase="failed",
        challenge="isles22",
        agent="[/bold]",
        model=None,
        seed=0,
        state="failed",
        job_id="[x]",
        error="bad box [x, y, w, h] [/red]",
    )
    console = Console(file=io.StringIO(), width=250, color_system=None, record=True)
    console.print(cli._status_table([row], "sweeps/[/bold]", 40))
    text = console.export_text()
    for literal in ("isles22__[/bold]__s0", "[x]", "bad box [x, y, w, h] [/red]", "sweeps/[/bold]: "):
        assert literal in text, (literal, text)
    assert "failed 1" in text  # our own colour markup still renders (as plain text here)


def test_escape_helper_keeps_our_own_markup_working() -> None:
    assert cli.lit("[/bold]x") == "\\[/bold]x"
    note = "finite numbers [x, y, w, h] in C:\\dir\\"  # a trailing backslash must not eat our [/]
    console = Console(file=io.StringIO(), width=250, color_system=None, record=True)
    console.print(f"[dim]· {cli.lit(note)}[/]")
    assert console.export_text() == f"· {note}\n"
