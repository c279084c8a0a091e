"""A prepared dataset's manifest (``manifest.json``, written last by ``rexmle.data.prepare``) and
the atomic JSON writes every record of ReX-MLE uses. Light on purpose: ``rexmle list`` asks every
challenge whether it is prepared without importing the download and imaging stack."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from rexmle.challenge import Challenge


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True)

    challenge: str
    layout_version: int
    synthetic: bool
    rexmle_version: str
    sources: dict[str, str]  # raw file name -> sha256
    public: dict[str, str]  # relative path -> sha256
    private: dict[str, str]
    n_train: int
    n_test: int
    prepared_at: float
    #: The case ids a submission must cover, read from the public folder the moment it was
    #: made (before any agent could touch it); grading takes them from here. None: prepared
    #: before this field existed (grading then reads the verified public folder).
    test_ids: list[str] | None = None


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON to a temporary file beside ``path``, fsync it and rename it into place:
    a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w") as f:
        json.dump(obj, f, indent=2, sort_keys=True, default=str)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_manifest(data_root: Path) -> Manifest | None:
    """The manifest of ``data_root``; None when there is none or it does not parse (not prepared)."""
    path = data_root / "manifest.json"
    if not path.is_file():
        return None
    try:
        return Manifest.model_validate_json(path.read_text())
    except ValueError:
        return None


def is_prepared(challenge: Challenge, data_root: Path) -> bool:
    """Prepared with the challenge's current layout, and every file the manifest lists present."""
    m = read_manifest(data_root)
    if m is None or m.layout_version != challenge.spec.layout_version:
        return False
    return all((data_root / "public" / p).is_file() for p in m.public) and all(
        (data_root / "private" / p).is_file() for p in m.private
    )
