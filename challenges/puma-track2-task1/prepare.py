"""PUMA track 2 task 1: the shared PUMA preparation (see _puma/prepare.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rexmle.challenges._puma.prepare import prepare_task


def prepare(
    raw_dir: Path,
    public_dir: Path,
    private_dir: Path,
    spec: Any,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    return prepare_task(raw_dir, public_dir, private_dir, spec, 2, 1, progress)
