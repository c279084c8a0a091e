"""TopBrain track 2 (MRA): the shared TopBrain preparation for ``topcow_mr_*`` label maps."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rexmle.challenges._topbrain.prepare import prepare_track


def prepare(
    raw_dir: Path,
    public_dir: Path,
    private_dir: Path,
    spec: Any,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    return prepare_track(raw_dir, public_dir, private_dir, spec, "mr", progress)
