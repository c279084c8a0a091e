"""The gateway's format-check endpoint and the `validate-submission` command every agent venv gets."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from rexmle import agent as agents
from rexmle import challenge, grading, runtime
from rexmle.gateway import Gateway, GatewayConfig, Route


@pytest.fixture
def sandbox(sample_submission: Path, tmp_path: Path) -> Path:
    return sample_submission.parent  # tmp_path, holding submission/


@pytest.fixture
def gateway(isles: challenge.Challenge, prepared: Path, sandbox: Path, tmp_path: Path) -> Iterator[Gateway]:
    def validator(folder: Path) -> dict[str, object]:
        r = grading.validate(isles, folder, prepared / "public", workers=1)
        return {"valid": r.valid, "reason": r.reason, "n_cases": r.n_cases}

    cfg = GatewayConfig(
        routes=(Route(alias="rexmle-chat", model="openai/gpt-4o-mini", api_key=SecretStr("k")),)
    )
    with Gateway(
        cfg, tmp_path / "llm.jsonl", validator=validator, validate_roots=(sandbox / "submission",)
    ) as gw:
        yield gw


def _post(gw: Gateway, **body: object) -> httpx.Response:
    return httpx.post(
        gw.url + "/validate", json=body, headers={"Authorization": f"Bearer {gw.token}"}, timeout=60
    )


def test_valid_and_invalid_folders(gateway: Gateway, sandbox: Path) -> None:
    sub = sandbox / "submission"
    ok = _post(gateway, submission_dir=str(sub)).json()
    assert ok["valid"] is True and ok["n_cases"] == 5
    (sub / "submission.csv").write_text("case_id,predicted_mask_path\n")
    bad = _post(gateway, submission_dir=str(sub)).json()
    assert bad["valid"] is False and bad["reason"]
    assert "score" not in bad and "metrics" not in bad  # format only, never a score


def test_paths_outside_the_sandbox_are_refused(gateway: Gateway, prepared: Path) -> None:
    r = _post(gateway, submission_dir=str(prepared / "private"))
    assert r.status_code == 400 and r.json()["valid"] is False
    assert _post(gateway, submission_dir="relative/path").status_code == 400
    r = httpx.post(gateway.url + "/validate", json={"submission_dir": "/"})
    assert r.status_code == 401  # the run token is required here too


def test_a_named_table_is_checked_without_touching_the_agents_files(gateway: Gateway, sandbox: Path) -> None:
    sub = sandbox / "submission"
    shutil.copy(sub / "submission.csv", sub / "submission_node7.csv")
    (sub / "submission.csv").write_text("junk\n")
    before = {p: p.read_bytes() for p in sub.rglob("*") if p.is_file()}
    assert _post(gateway, submission_dir=str(sub), table="submission_node7.csv").json()["valid"] is True
    assert {p: p.read_bytes() for p in sub.rglob("*") if p.is_file()} == before
    assert not [p for p in sandbox.iterdir() if p.name.startswith(".rexmle-validate")]
    assert _post(gateway, submission_dir=str(sub), table="../x.csv").status_code == 400


def test_multipart_upload(gateway: Gateway, sandbox: Path) -> None:
    table = (sandbox / "submission" / "submission.csv").read_bytes()
    r = httpx.post(
        gateway.url + "/validate",
        files={"file": ("submission_1.csv", table)},
        headers={"Authorization": f"Bearer {gateway.token}"},
        timeout=60,
    )
    assert r.json()["valid"] is True


def test_validate_submission_command(gateway: Gateway, sandbox: Path, home: Path) -> None:
    python = agents.get("dummy").install(home)
    command = python.parent / "validate-submission"
    env = {
        "PATH": os.environ["PATH"],
        "REXMLE_VALIDATE_URL": gateway.url + "/validate",
        "REXMLE_LLM_API_KEY": gateway.token,
        "REXMLE_SUBMISSION_DIR": str(sandbox / "submission"),
    }
    done = subprocess.run([str(command)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and '"valid": true' in done.stdout
    (sandbox / "submission" / "submission.csv").unlink()
    done = subprocess.run([str(command)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and '"valid": false' in done.stdout


def test_the_validate_script_says_what_is_missing_and_relays_a_refusal(
    gateway: Gateway, sandbox: Path
) -> None:
    """The same script run by this interpreter (so coverage sees it): no endpoint is a one-line
    exit; a wrong token gets the gateway's 401 answer printed, and exit 1."""
    script = Path(runtime.__file__).parent / "validate_submission.py"
    folder = str(sandbox / "submission")
    base = {"PATH": os.environ["PATH"], **{k: v for k, v in os.environ.items() if k.startswith("COVERAGE")}}
    unset = subprocess.run([sys.executable, str(script), folder], env=base, capture_output=True, text=True)
    assert unset.returncode == 1
    assert unset.stderr.strip() == (
        "validate-submission: this run has no validation endpoint (REXMLE_VALIDATE_URL unset)"
    )
    env = {**base, "REXMLE_VALIDATE_URL": gateway.url + "/validate", "REXMLE_VALIDATE_TOKEN": "not-the-token"}
    refused = subprocess.run([sys.executable, str(script), folder], env=env, capture_output=True, text=True)
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["error"]["code"] == "invalid_api_key"
    env["REXMLE_VALIDATE_TOKEN"] = gateway.token
    ok = subprocess.run([sys.executable, str(script), folder], env=env, capture_output=True, text=True)
    assert ok.returncode == 0 and json.loads(ok.stdout)["valid"] is True


def test_container_paths_map_to_the_host_folder(
    isles: challenge.Challenge, prepared: Path, sandbox: Path, tmp_path: Path
) -> None:
    """In a container the agent names /home/submission; the gateway reads the host's folder,
    and a symlink that leaves it (resolved on the host) is refused."""

    def validator(folder: Path) -> dict[str, object]:
        r = grading.validate(isles, folder, prepared / "public", workers=1)
        return {"valid": r.valid, "reason": r.reason, "n_cases": r.n_cases, "folder": str(folder)}

    cfg = GatewayConfig(
        routes=(Route(alias="rexmle-chat", model="openai/gpt-4o-mini", api_key=SecretStr("k")),)
    )
    roots = {Path("/home/submission"): sandbox / "submission"}
    (sandbox / "submission" / "escape").symlink_to(prepared / "private")
    with Gateway(cfg, tmp_path / "l.jsonl", validator=validator, validate_roots=roots) as gw:
        ok = _post(gw, submission_dir="/home/submission").json()
        assert ok["valid"] is True and ok["folder"] == str((sandbox / "submission").resolve())
        assert _post(gw, submission_dir="/home/submission/escape").status_code == 400
        assert (
            _post(gw, submission_dir=str(sandbox / "submission")).status_code == 400
        )  # host path: not the agent's


def test_a_validation_only_gateway_serves_no_model_and_bills_nothing(
    isles: challenge.Challenge, prepared: Path, sandbox: Path, tmp_path: Path
) -> None:
    """What an agent without an LLM gets: its token opens /validate and nothing else. Chat and
    embedding calls, under any model name, are refused and never reach the ledger; a request
    without the token is refused too."""
    from rexmle.gateway.session import open_validation_service

    def validator(folder: Path) -> dict[str, object]:
        r = grading.validate(isles, folder, prepared / "public", workers=1)
        return {"valid": r.valid, "reason": r.reason, "n_cases": r.n_cases}

    ledger = tmp_path / "llm.jsonl"
    with open_validation_service(
        ledger=ledger, validator=validator, validate_roots=(sandbox / "submission",)
    ) as gw:
        assert _post(gw, submission_dir=str(sandbox / "submission")).json()["valid"] is True
        auth = {"Authorization": f"Bearer {gw.token}"}
        for model in ("rexmle-chat", "openai/gpt-4o-mini", "gpt-4o"):
            chat = httpx.post(
                gw.url + "/v1/chat/completions",
                json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
                headers=auth,
                timeout=30,
            )
            assert 400 <= chat.status_code < 500, chat.text
        emb = httpx.post(
            gw.url + "/v1/embeddings", json={"model": "x", "input": "hi"}, headers=auth, timeout=30
        )
        assert 400 <= emb.status_code < 500
        assert httpx.get(gw.url + "/v1/models", headers=auth, timeout=30).json()["data"] == []
        no_token = httpx.post(
            gw.url + "/validate", json={"submission_dir": str(sandbox / "submission")}, timeout=30
        )
        assert no_token.status_code == 401
    assert not ledger.exists() or ledger.read_text().strip() == ""
