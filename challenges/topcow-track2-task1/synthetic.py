"""Synthetic TopCoW release for track 2 task 1 (the family's generator; see _topcow/synthetic.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rexmle.challenges._topcow import synthetic


def generate(raw_dir: Path, spec: Any, seed: int = 0) -> Path:
    synthetic.generate(raw_dir, seed)
    return raw_dir / synthetic.ARCHIVE
