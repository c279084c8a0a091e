"""Shared fixtures: an isolated $REXMLE_HOME, one prepared synthetic ISLES'22, test agents."""

from __future__ import annotations

import shutil
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
