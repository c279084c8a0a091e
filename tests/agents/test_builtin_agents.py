"""The built-in agents on synthetic ISLES'22: the baseline must clearly beat the dummy.

The baseline test installs torch (CPU wheel here) + MONAI into the agent's own venv and
trains for real, so it takes ~2 minutes on 2 cores.
"""

from __future__ import annotations

from pathlib import Path

from rexmle import run as runs
from rexmle.store import RunState


def test_baseline_beats_dummy(home: Path) -> None:
    dummy = runs.execute(runs.make_spec("isles22", "dummy", synthetic=True))
    base = runs.execute(runs.make_spec("isles22", "baseline", synthetic=True, time_limit_s=120))
    assert dummy.valid and base.valid, base.reason
    assert base.state is RunState.done
    assert base.metrics["dice"] > 0.5 > dummy.metrics["dice"]
    assert base.metrics["lesion_f1"] > dummy.metrics["lesion_f1"]
    assert base.percentile is not None and dummy.percentile is not None
    assert base.percentile > dummy.percentile
