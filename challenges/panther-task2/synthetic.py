"""Synthetic PANTHER task 2 release (the family's generator; see _panther/synthetic.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rexmle.challenges._panther import synthetic


def generate(raw_dir: Path, spec: Any, seed: int = 0) -> Path:
    return synthetic.generate(raw_dir, 2, seed)
