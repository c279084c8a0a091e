"""Synthetic TopBrain release for track 2 (the family's generator; see _topbrain/synthetic.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rexmle.challenges._topbrain import prepare, synthetic


def generate(raw_dir: Path, spec: Any, seed: int = 0) -> Path:
    synthetic.generate(raw_dir, seed)
    return raw_dir / prepare.ARCHIVE
