"""Helpers the tests share (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

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


def rexmle_cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """The ``rexmle`` command in a fresh interpreter, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "rexmle.cli", *args], capture_output=True, text=True, timeout=timeout
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
