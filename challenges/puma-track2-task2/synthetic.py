"""Synthetic PUMA release (the one the four PUMA tasks share; see _puma/synthetic.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rexmle.challenges._puma import synthetic


def generate(raw_dir: Path, spec: Any, seed: int = 0) -> Path:
    return synthetic.generate(raw_dir, seed)
