"""Report tests read run folders written by bench/synthetic_results.py (the benchmark's generator)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
