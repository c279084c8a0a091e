"""Submission handling shared by the scaffold adapters (stdlib only: imported by launchers that
run in the agents' own venvs, where rexmle is not installed).

A scaffold leaves a candidate as a ``submission.csv`` somewhere in its workspace, with
prediction files beside it; the harness grades ``$REXMLE_SUBMISSION_DIR``. These helpers
copy a candidate (the table plus the files it references) and publish it into the
submission folder entry by entry, so the folder may be a container mount point and a kill
at any moment leaves either the previous or the new candidate's files, never a mix for long.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path
from typing import Any

# The sandbox as every runtime presents it (DESIGN.md, run contract).
env = os.environ
data_dir = Path(env.get("REXMLE_DATA_DIR", "/home/data"))
submission_dir = Path(env.get("REXMLE_SUBMISSION_DIR", "/home/submission"))
code_dir = Path(env.get("REXMLE_CODE_DIR", "/home/code"))
logs_dir = Path(env.get("REXMLE_LOGS_DIR", "/home/logs"))
settings: dict[str, Any] = json.loads(env.get("REXMLE_AGENT_SETTINGS", "{}"))


def setting(key: str) -> Any:
    """A setting the harness passes from agent.yaml's ``defaults`` (merged with the synthetic ones
    and the run's overrides): agent.yaml is the one place a value is chosen, so a launcher has no
    fallback of its own to contradict it; a missing key stops the launcher with one line."""
    if key not in settings:
        raise SystemExit(
            f"launch: setting {key!r} is missing from REXMLE_AGENT_SETTINGS (agent.yaml defaults)"
        )
    return settings[key]


def referenced_files(table: Path) -> list[str]:
    """Relative paths named in a submission table that exist beside it (prediction files)."""
    root = table.parent
    found: list[str] = []
    with table.open(newline="") as f:
        for row in csv.reader(f):
            for cell in row:
                cell = cell.strip()
                if (
                    cell
                    and not cell.startswith("/")
                    and ".." not in Path(cell).parts
                    and (root / cell).is_file()
                ):
                    found.append(cell)
    return found


def copy_candidate(table: Path, dest: Path) -> None:
    """Copy ``table`` (as dest/submission.csv) and every file it references into ``dest``."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    shutil.copy2(table, dest / "submission.csv")
    for rel in referenced_files(table):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(table.parent / rel, dest / rel)


def publish(candidate: Path, submission_dir: Path) -> None:
    """Make ``submission_dir`` hold exactly the files of the folder ``candidate``."""
    staging = submission_dir / ".rexmle-staging"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(candidate, staging)
    keep = {p.name for p in staging.iterdir()}
    for old in submission_dir.iterdir():
        if old.name != staging.name and old.name not in keep:
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
            else:
                old.unlink()
    for new in staging.iterdir():
        target = submission_dir / new.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(new, target)
    staging.rmdir()
