"""Helpers the tests share (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-headless-shell")
CHROMIUM_ARGS = [
    "--no-sandbox",  # root in CI: Chromium refuses to start sandboxed as root
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def needs(what: str, how: str) -> None:
    """Skip a test that needs ``what`` on a developer machine; in CI (CI=true) fail instead,
    so a missing engine never turns into a silently skipped test."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required in CI: {how}")
    pytest.skip(f"{what} is not available: {how}")


def rexmle_cli(
    *args: str, timeout: float = 900, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The ``rexmle`` command in a fresh interpreter, as a user runs it (``env``: added to ours)."""
    return subprocess.run(
        [sys.executable, "-m", "rexmle.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def write_sweep(folder: Path, base: dict[str, object], **fields: object) -> Path:
    """``folder/sweep.yaml`` from ``base`` updated with ``fields`` (output: ``folder/out``)."""
    import yaml

    body = {"output": "out", **base, **fields}
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def public_ids(root: Path, name: str = "test.csv") -> list[str]:
    """The ``image_id`` column of a prepared challenge's public split file."""
    import csv

    with (root / "public" / name).open() as f:
        return [r["image_id"] for r in csv.DictReader(f)]


def private_label_map(root: Path, case: str) -> tuple[Any, Any]:
    """A prepared vessel challenge's private label map for ``case``: (z, y, x) array and its image."""
    import SimpleITK as sitk

    img = sitk.ReadImage(str(root / "private" / "test" / "labels" / f"{case}.nii.gz"))
    return sitk.GetArrayFromImage(img), img


def write_label_map(arr: Any, like: Any, path: Path) -> Path:
    """Write ``arr`` with the geometry of the SimpleITK image ``like`` (a prediction on the GT grid)."""
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(arr)
    img.CopyInformation(like)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(img, str(path))
    return path


def processes_with(token: str, settle_s: float = 5.0) -> list[int]:
    """Live (not zombie) host processes whose command line holds ``token``, after waiting up to
    ``settle_s`` for them to go: how a test finds what an agent started, whatever pid namespace
    it ran in."""
    deadline = time.monotonic() + settle_s
    while True:
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            if token.encode() in cmdline and "State:\tZ" not in status:
                found.append(int(pid))
        if not found or time.monotonic() >= deadline:
            return found
        time.sleep(0.1)


def scripted_gateway_config(base_url: str, budget: Any, **extra: Any) -> Any:
    """A gateway config whose chat and embedding aliases both go to the scripted LLM at
    ``base_url`` (as gpt-4o-mini and text-embedding-3-small, so litellm prices them)."""
    from pydantic import SecretStr

    from rexmle.gateway.server import GatewayConfig, Route

    key = SecretStr("sk-scripted")
    routes = (
        Route(alias="rexmle-chat", model="openai/gpt-4o-mini", api_base=base_url, api_key=key),
        Route(
            alias="rexmle-embed",
            model="openai/text-embedding-3-small",
            kind="embedding",
            api_base=base_url,
            api_key=key,
        ),
    )
    return GatewayConfig(routes=routes, budget=budget, **extra)


def offline(ch: Any, base_url: str, sha256: dict[str, str] | None = None) -> Any:
    """``ch`` with every download of its data pointed at ``base_url`` (a loopback server, or a
    closed loopback port), Google Drive files included (their urls come first), so that no test
    ever reaches a real host. The page a person would open stays the real one. ``sha256``: the
    checksums of synthetic stand-ins, which then replace the real pins (md5 and size dropped)."""
    from rexmle import challenge, data

    files = []
    for df in ch.spec.data:
        update: dict[str, Any] = {"urls": [f"{base_url}/{df.name}"], "gdrive_id": None}
        update["page"] = data.source_page(df)
        if sha256 is not None:
            update |= {"sha256": sha256[df.name], "md5": None, "size_bytes": None}
        files.append(df.model_copy(update=update))
    return challenge.Challenge(ch.spec.model_copy(update={"data": files}), ch.folder)


def fake_challenge(folder: Path, grade_py: str, metrics: list[dict[str, str]], limits: Any = None) -> Any:
    """A challenge folder for grading tests: ``grade.py`` as given and the least challenge.yaml
    that loads (the folder's name is the id); ``limits``: a GradingLimits for the parent's grading."""
    import yaml

    from rexmle.challenge import Challenge, load_spec

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "grade.py").write_text(grade_py)
    budgets = {"wall_time_s": 60, "cpus": 1, "memory_gb": 1}
    spec = {
        "id": folder.name,
        "title": "a fake challenge for grading tests",
        "source": {"competition": "none", "url": "https://example.org/", "licence": "none"},
        "modality": "none",
        "task_type": "none",
        "dimensions": "2d",
        "download_gb": 0.001,
        "data": [{"name": "none.zip", "manual": "nothing to download"}],
        "budgets": budgets,
        "synthetic_budgets": budgets,
        "metrics": metrics,
        "layout_version": 1,
    }
    (folder / "challenge.yaml").write_text(yaml.safe_dump(spec))
    loaded = load_spec(folder / "challenge.yaml")
    return Challenge(loaded if limits is None else loaded.model_copy(update={"grading": limits}), folder)


def run_in_terminal(args: list[str], timeout: float = 300) -> tuple[int, str]:
    """``rexmle ARGS`` in a real pseudo-terminal, as a person at a terminal runs it: its exit
    code and everything it drew (terminal codes included)."""
    import pty

    primary, replica = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rexmle.cli", *args],
        stdin=replica,
        stdout=replica,
        stderr=replica,
        env={**os.environ, "COLUMNS": "160", "TERM": "xterm-256color"},
        start_new_session=True,
    )
    os.close(replica)
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:  # the terminal closed: the command ended
            break
        if not data:
            break
        chunks.append(data)
    code = proc.wait(timeout=timeout)
    os.close(primary)
    return code, b"".join(chunks).decode(errors="replace")
