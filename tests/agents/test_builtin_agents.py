"""The built-in agents on synthetic ISLES'22: the baseline must clearly beat the dummy.

The baseline test installs the shared imaging stack (torch, CPU wheel here, + MONAI) and the
agent's own venv on top of it, and trains for real, so it takes ~2 minutes on 2 cores.
"""

from __future__ import annotations

import sys
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


def test_the_baseline_venv_is_layered_on_the_shared_imaging_stack(home: Path) -> None:
    """torch lives once per home, in the shared stack; the baseline's own venv holds none of it
    and still imports it (through its .pth), the stack's copy."""
    import subprocess

    from rexmle import agent as agents

    baseline = agents.get("baseline")
    python = baseline.install(home)  # installed by the test above: a no-op then
    stack = agents.stack_venv("imaging", home)
    assert baseline.uses_stack() and agents.stack_paths(baseline.venv(home)) == [
        stack / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    ]
    assert not list(baseline.venv(home).glob("lib/python*/site-packages/torch"))
    where = subprocess.run(
        [str(python), "-c", "import torch, monai; print(torch.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(stack)
    assert not agents.get("dummy").uses_stack()  # stdlib only: no stack, no venv packages
