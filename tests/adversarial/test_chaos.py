"""Chaos on the local runtime: 24 SIGKILLs of the real CLI at random moments, then resume
(the rounds and what they check: tests/chaos.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from chaos import run_chaos

pytestmark = pytest.mark.adversarial


def test_random_kills_lose_nothing_and_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("REXMLE_HOME", str(home))
    phases = run_chaos(
        home, "local", kills=24, max_delay_s=3.0, seed=int(os.environ.get("REXMLE_CHAOS_SEED", "20261207"))
    )
    print(f"kills by phase: {dict(phases)}")
