"""The CLI: --json output, exit codes, one-line errors (run as a real subprocess)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from rexmle import challenge


def rexmle(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rexmle.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        timeout=300,
    )


def test_list_and_info_json() -> None:
    listed = json.loads(rexmle("list", "--json").stdout)
    assert [c["id"] for c in listed] == sorted(challenge.discover()) and "isles22" in [
        c["id"] for c in listed
    ]
    info = json.loads(rexmle("info", "isles22", "--json").stdout)
    assert info["spec"]["id"] == "isles22" and len(info["leaderboard"]) == 10
    assert info["prepared"] is False and info["spec"]["source"]["licence"].startswith("CC BY-SA 4.0")
    text = rexmle("info", "topcow-track1-task1").stdout
    assert "licence: opendata.swiss" in text and "10,512,833,650 B" in text and "prepared: no" in text
    assert "https://zenodo.org/records/15692630" in text and "sha256 a23d9d0f05ec" in text


def test_unknown_challenge_is_one_line_exit_2() -> None:
    r = rexmle("info", "nope")
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "unknown challenge 'nope'" in lines[0]
    assert "Traceback" not in r.stderr


def test_grade_before_prepare_says_what_to_do(tmp_path: Path) -> None:
    r = rexmle("grade", "isles22", str(tmp_path), env={"REXMLE_HOME": str(tmp_path)})
    assert r.returncode == 2 and "run `rexmle prepare isles22`" in r.stderr


def test_prepare_run_grade_validate(home: Path, prepared: Path, tmp_path: Path) -> None:
    p = json.loads(rexmle("prepare", "isles22", "--synthetic", "--json", "--verify").stdout)
    assert p["n_test"] == 5 and p["problems"] == []
    run = rexmle("run", "--agent", "dummy", "--challenge", "isles22", "--synthetic", "--json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["schema_version"] == 2 and result["state"] == "done"
    assert result["grade"]["valid"] and result["spec"]["synthetic"] is True
    assert {"metrics", "n_cases"} <= set(result["grade"]) and "run_dir" in result
    assert {"score", "percentile", "rank", "beats_median"} <= set(result["ranking"])
    listed = {r["run_id"]: r for r in json.loads(rexmle("runs", "--json").stdout)}
    rid = result["spec"]["run_id"]
    assert (
        listed[rid]["state"] == "done" and listed[rid]["valid"] is True and listed[rid]["synthetic"] is True
    )
    assert rid not in {r["run_id"] for r in json.loads(rexmle("runs", "--state", "failed", "--json").stdout)}
    assert (
        rid in rexmle("runs", "--challenge", "isles22", "--agent", "dummy").stdout
    )  # the full id, never cut
    sub = Path(result["run_dir"]) / "submission"
    g = json.loads(rexmle("grade", "isles22", str(sub), "--synthetic", "--json").stdout)
    assert g["valid"] and g["metrics"] == result["grade"]["metrics"]
    assert g["ranking"]["mean_position"] == result["ranking"]["score"]
    v = rexmle("validate", "isles22", str(sub), "--synthetic", "--json")
    assert v.returncode == 0 and json.loads(v.stdout) == {"valid": True, "reason": None, "n_cases": 5}
    bad = tmp_path / "bad"
    shutil.copytree(sub, bad)
    (bad / "submission.csv").write_text("case_id\nx\n")
    v = rexmle("validate", "isles22", str(bad), "--synthetic")
    assert v.returncode == 1 and "invalid" in v.stdout and "lacks column(s) predicted_mask_path" in v.stdout
    g = rexmle("grade", "isles22", str(bad), "--synthetic", "--json")
    assert g.returncode == 1 and json.loads(g.stdout)["valid"] is False


def test_llm_options_refuse_impossible_runs_in_one_line(tmp_path: Path) -> None:
    env = {"REXMLE_HOME": str(tmp_path)}
    cases = {
        ("--agent", "aide"): "needs an LLM: give --model",
        ("--agent", "dummy", "--model", "openai/gpt-4o"): "does not use an LLM",
        ("--agent", "aide", "--llm", "bogus"): "--llm must be 'provider' or 'scripted'",
        ("--agent", "aide", "--model", "m", "--llm-script", "x.yaml"): "--llm-script needs --llm scripted",
        ("--agent", "aide", "--llm", "scripted", "--steps", "0"): "--steps must be positive",
    }
    for args, message in cases.items():
        r = rexmle("run", "--challenge", "isles22", "--synthetic", *args, env=env)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.returncode == 2 and len(lines) == 1 and message in lines[0], (args, r.stderr)


def test_dollar_budget_on_an_unpriced_model_is_refused_before_the_agent_starts(
    home: Path, prepared: Path
) -> None:
    r = rexmle(
        "run",
        "--agent",
        "aide",
        "--challenge",
        "isles22",
        "--synthetic",
        "--model",
        "openai/not-a-real-model-xyz",
    )
    assert r.returncode == 2 and "no price in litellm's bundled price map" in r.stderr
    assert "Traceback" not in r.stderr


# `rexmle prepare ID --synthetic` then `rexmle run --agent baseline ... --json` for every challenge:
# tests/agents/test_baseline_under_load.py (seed 0 through the CLI, with the cores busy)


def test_version_and_the_synthetic_rank_is_labelled(
    home: Path, prepared: Path, sample_submission: Path
) -> None:
    from rexmle import __version__

    v = rexmle("--version")
    assert v.returncode == 0 and v.stdout.strip() == f"rexmle {__version__}"
    g = rexmle("grade", "isles22", str(sample_submission), "--synthetic")
    assert g.returncode == 0, g.stderr
    assert (
        "medal" in g.stdout and "note: synthetic data: ranked against the real human leaderboard" in g.stdout
    )


def test_piped_tables_cut_no_id_path_or_url() -> None:
    """Piped output is read by scripts and people later: a table never ends a value in "…"."""
    listed = rexmle("list").stdout
    assert "puma-track1-task1" in listed and "…" not in listed
    info = rexmle("info", "seg_a").stdout
    assert "https://figshare.com/articles/dataset/14806362" in info
