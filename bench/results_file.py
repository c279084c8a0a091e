"""bench/results.json: each benchmark owns one top-level entry and keeps the others."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results.json"


def header() -> dict[str, Any]:
    """Where and when a benchmark ran (its numbers mean nothing without this)."""
    return {
        "machine": f"{platform.node()} {platform.machine()} python {platform.python_version()}",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def save_entry(key: str, entry: dict[str, Any]) -> None:
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results[key] = entry
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
