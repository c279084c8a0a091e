"""The local runtime hands the agent nothing that leads to private data or provider keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rexmle import run as runs
from rexmle.store import RunDir


@pytest.fixture
def probe(home: Path, prepared: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, Path]:  # type: ignore[type-arg]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-should-not-leak")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret")
    monkeypatch.setenv("SOME_PROVIDER_TOKEN", "tok-secret")
    spec = runs.make_spec("isles22", "probe", synthetic=True)
    result = runs.execute(spec, force=True)
    assert result.valid
    report = json.loads((RunDir(runs.run_dir(spec)).sandbox / "logs" / "probe.json").read_text())
    return report, prepared


def test_environment_is_an_allow_list(probe: tuple[dict, Path]) -> None:  # type: ignore[type-arg]
    report, _ = probe
    env = report["env"]
    blob = json.dumps(env)
    assert "secret" not in blob
    # the one credential: the run's own gateway token for `validate-submission` (made for this
    # run, worthless after it), never a provider's key
    assert not any(k.endswith(("_API_KEY", "_TOKEN")) for k in env if k != "REXMLE_VALIDATE_TOKEN")
    assert env["REXMLE_VALIDATE_TOKEN"].startswith("rxm-")
    assert "REXMLE_HOME" not in env
    assert set(report["handed"]) >= {
        "REXMLE_DATA_DIR",
        "REXMLE_SUBMISSION_DIR",
        "REXMLE_CODE_DIR",
        "REXMLE_LOGS_DIR",
    }


def test_no_handed_path_reaches_private_data(probe: tuple[dict, Path]) -> None:  # type: ignore[type-arg]
    report, prepared = probe
    private = prepared / "private"
    private_inodes = {p.stat().st_ino for p in private.rglob("*") if p.is_file()}
    assert private_inodes
    for value in report["env"].values():
        assert str(private) not in value and "/private" not in value
        assert str(prepared) not in value  # not even the data root whose sibling is private/
    for f in report["files"]:
        assert not f["real"].startswith(str(private))
        assert f["ino"] not in private_inodes
    handed = [Path(v) for k, v in report["handed"].items() if k.endswith("_DIR")]
    for d in handed:
        assert not (d / ".." / "private").exists()


def test_data_is_the_public_folder_read_only(probe: tuple[dict, Path]) -> None:  # type: ignore[type-arg]
    report, prepared = probe
    data_dir = report["handed"]["REXMLE_DATA_DIR"].rstrip("/") + "/"
    data_files = [f for f in report["files"] if f["path"].startswith(data_dir)]
    public = {p.relative_to(prepared / "public") for p in (prepared / "public").rglob("*") if p.is_file()}
    seen = {Path(f["path"][len(data_dir) :]) for f in data_files}
    assert seen == public
    assert report["writable_flag"] is False


def test_an_agent_without_an_llm_checks_its_format_with_the_same_command(
    probe: tuple[dict, Path],  # type: ignore[type-arg]
) -> None:
    """The probe agent (no LLM) ran `validate-submission` on the sample submission it copied."""
    spec = runs.make_spec("isles22", "probe", synthetic=True)
    check = json.loads((RunDir(runs.run_dir(spec)).sandbox / "logs" / "validate.json").read_text())
    assert check["rc"] == 0, check
    assert json.loads(check["stdout"]) == {"valid": True, "reason": None, "n_cases": 5}


def test_cpu_budget_is_applied(probe: tuple[dict, Path]) -> None:  # type: ignore[type-arg]
    report, _ = probe
    assert report["env"]["OMP_NUM_THREADS"] == "2" and report["env"]["CUDA_VISIBLE_DEVICES"] == ""


def test_without_namespaces_the_run_says_so_and_gets_a_copy(
    home: Path, prepared: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """No bubblewrap: the run still works, warns loudly, records isolation none, and the agent's
    data is a copy: a hard link shared the master's inode, so an agent could chmod it back and
    rewrite the public test.csv every later run and the grader read."""
    monkeypatch.setattr("rexmle.runtime.local.bwrap_path", lambda: None)
    spec = runs.make_spec("isles22", "probe", synthetic=True, seed=5)
    result = runs.execute(spec, force=True)
    assert result.valid and result.isolation == "none"
    assert "NOT isolated" in capfd.readouterr().err
    report = json.loads((RunDir(runs.run_dir(spec)).sandbox / "logs" / "probe.json").read_text())
    master = {p.stat().st_ino for p in (prepared / "public").rglob("*") if p.is_file()}
    data_files = [f for f in report["files"] if f["path"].startswith(report["handed"]["REXMLE_DATA_DIR"])]
    assert data_files and not {f["ino"] for f in data_files} & master


def test_the_shared_stack_is_shown_read_only(
    home: Path, prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent venv layered on the shared imaging stack sees the stack, but cannot write into it
    (it would poison every later run of every agent): the probe tries every mount point."""
    stack = tmp_path / "agents" / "_stacks" / "imaging-test" / "site-packages"
    stack.mkdir(parents=True)
    (stack / "torch.py").write_text("# stands in for the stack\n")
    monkeypatch.setattr("rexmle.runtime.local.stack_paths", lambda _venv: [stack])
    spec = runs.make_spec("isles22", "probe", synthetic=True, seed=7)
    result = runs.execute(spec, force=True)
    assert result.valid and result.isolation == "namespace"
    report = json.loads((RunDir(runs.run_dir(spec)).sandbox / "logs" / "probe.json").read_text())
    assert str(stack) in report["mounts"], report["mounts"]
    assert str(stack) not in report["written"]
    assert report["written"], "the probe could write nowhere: its check proves nothing"
    assert sorted(p.name for p in stack.iterdir()) == ["torch.py"]
