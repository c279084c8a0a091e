"""Where ReX-MLE keeps data, agent environments and runs ($REXMLE_HOME, default ~/.rexmle)."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("REXMLE_HOME", Path.home() / ".rexmle")).expanduser().resolve()


def data_dir(challenge_id: str, synthetic: bool, root: Path | None = None) -> Path:
    """``data/<id>`` for real data, ``data/<id>@synthetic`` for the generated stand-in."""
    name = f"{challenge_id}@synthetic" if synthetic else challenge_id
    return (root or home()) / "data" / name


def runs_dir(root: Path | None = None) -> Path:
    return (root or home()) / "runs"


def agents_dir(root: Path | None = None) -> Path:
    return (root or home()) / "agents"
