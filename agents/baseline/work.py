"""How much a baseline trains: set by work done (epochs, steps, images read), never by the clock.

A baseline whose training stops at a share of the wall-clock budget gives a different answer on a
busy machine than on an idle one: the issue that made the demo print a baseline worse than the
dummy. Every baseline therefore does a fixed amount of work, named in ``agent.yaml``'s defaults
and handed over in ``REXMLE_AGENT_SETTINGS`` (so a run's record says how much it trained), and
the deadline (``REXMLE_DEADLINE``) only guards the submission: :class:`Guard` says when to stop
early so that predicting and writing still fit, and the baseline then says loudly that it was cut.

Two more things keep the result independent of load:

- ``OMP_WAIT_POLICY=PASSIVE`` (set by ``run.py`` before torch loads its OpenMP runtime): with the
  default busy-waiting, two torch threads on a machine whose cores are taken by other processes
  ran a U-Net step 9x slower (1.35 s against 0.15 s, measured here); passive threads lose little
  on an idle machine and nothing under load.
- Fixed seeds for every random choice.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

#: The work each solution does when ``agent.yaml`` says nothing (its defaults win).
DEFAULTS: dict[str, Any] = {
    "epochs_3d": 30,  # ISLES'22's whole-volume U-Net: passes over the training set
    "steps_3d": 150,  # the patch U-Net (TopCoW, TopBrain, SEG.A, PANTHER): optimiser steps
    "max_train_images": 0,  # 2-D solutions: training images read (0: all of them)
}


def setting(name: str) -> Any:
    """The run's value of a work setting: ``REXMLE_AGENT_SETTINGS`` (agent.yaml's defaults merged
    with the run's overrides), else :data:`DEFAULTS`."""
    raw = os.environ.get("REXMLE_AGENT_SETTINGS") or "{}"
    try:
        given = json.loads(raw)
    except ValueError:
        given = {}
    value = given.get(name) if isinstance(given, dict) else None
    return DEFAULTS[name] if value is None else value


def train_images(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The training rows a 2-D solution reads: all of them, or the first ``max_train_images``."""
    cap = int(setting("max_train_images"))
    return rows[:cap] if cap > 0 else rows


class Guard:
    """When to stop training early so that the submission is still written in time.

    ``reserve_share`` of the budget left at start (at least ``floor_s`` seconds) is kept for
    predicting the test cases and writing them. On the synthetic data (seconds of work) the guard
    never fires; it fires on a machine too slow for the budget, and the baseline then says so."""

    def __init__(self, reserve_share: float = 0.25, floor_s: float = 10.0) -> None:
        self.start = time.time()
        self.deadline = float(os.environ.get("REXMLE_DEADLINE", self.start + 600))
        self.stop_at = self.deadline - max(floor_s, reserve_share * (self.deadline - self.start))

    def out_of_time(self) -> bool:
        return time.time() > self.stop_at

    def cut(self, name: str, done: int, planned: int, unit: str) -> None:
        print(
            f"{name}: stopping after {done} of {planned} {unit} to keep time for the submission "
            "(the machine is slower than the budget allows for: this result is not the baseline's usual one)",
            flush=True,
        )

    def elapsed(self) -> float:
        return time.time() - self.start


def threads() -> int:
    """Threads for torch / scikit-learn: the CPUs the budget grants (``REXMLE_CPUS``)."""
    return max(1, int(os.environ.get("REXMLE_CPUS", "2")))
