"""Shared fixtures: an isolated $REXMLE_HOME, one prepared synthetic ISLES'22, test agents."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from rexmle import challenge, data

# the repository root: tests import the benchmark's result generator (bench/synthetic_results.py)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import CHROMIUM, CHROMIUM_ARGS, needs

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
