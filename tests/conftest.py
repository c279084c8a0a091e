"""Shared fixtures: an isolated $REXMLE_HOME, one prepared synthetic ISLES'22, test agents."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rexmle import challenge, data

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Never touch ~/.rexmle; make the fixture agents discoverable; short kill grace."""
    monkeypatch.setenv("REXMLE_AGENTS_PATH", str(FIXTURES / "agents"))
    monkeypatch.setenv("REXMLE_STOP_GRACE_S", "2")
    monkeypatch.setenv("REXMLE_HOME", str(tmp_path_factory.mktemp("home")))


@pytest.fixture(scope="session")
def session_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("session-home")


@pytest.fixture(scope="session")
def isles(session_home: Path) -> challenge.Challenge:
    return challenge.get("isles22")


@pytest.fixture(scope="session")
def prepared(isles: challenge.Challenge, session_home: Path) -> Path:
    """data/isles22@synthetic, prepared once per session (read-only for tests)."""
    return data.prepare(isles, synthetic=True, home=session_home)


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, session_home: Path) -> Path:
    """A REXMLE_HOME that shares the session's prepared data and agent venvs."""
    monkeypatch.setenv("REXMLE_HOME", str(session_home))
    return session_home


@pytest.fixture
def sample_submission(prepared: Path, tmp_path: Path) -> Path:
    """A writable copy of the sample submission."""
    dst = tmp_path / "submission"
    shutil.copytree(prepared / "public" / "sample_submission", dst)
    for p in dst.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dst


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
    import os

    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required in CI: {how}")
    pytest.skip(f"{what} is not available: {how}")


@pytest.fixture
def browser_page():  # type: ignore[no-untyped-def]
    """A Playwright page in the system's headless Chromium, with every console message, page
    error and non-file request recorded in ``page.events`` (the report must make none)."""
    if CHROMIUM is None:
        needs("chromium", "apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        events: list[tuple[str, str]] = []
        page.on("console", lambda m: events.append((m.type, m.text)))
        page.on("pageerror", lambda e: events.append(("pageerror", str(e))))
        page.on(
            "request",
            lambda r: (
                None if r.url.startswith(("file:", "data:", "blob:")) else events.append(("request", r.url))
            ),
        )
        page.events = events  # type: ignore[attr-defined]
        yield page
        browser.close()


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
