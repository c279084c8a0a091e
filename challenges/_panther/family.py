"""The PANTHER family: task 1 (diagnostic T1 MRI) and task 2 (MR-Linac T2) have their own releases
and preparation and one grader. A task's challenge.yaml picks its release: ``family: {code:
_panther, params: {task: 1}}``."""

from __future__ import annotations

from typing import Literal

from rexmle.challenges._panther import synthetic
from rexmle.challenges._panther.grading import GRADER
from rexmle.challenges._panther.prepare import prepare_task

from rexmle.challenge_api import Family, FamilyParams


class Params(FamilyParams):
    """Which PANTHER task (release) this is."""

    task: Literal[1, 2]


FAMILY = Family(
    Params,
    prepare_task=lambda raw, public, private, spec, p, progress: prepare_task(
        raw, public, private, spec, p.task, progress
    ),
    generate_release=lambda raw, p, seed: synthetic.generate(raw, p.task, seed),
    make_grader=lambda _p: GRADER,
)
prepare, generate, grader = FAMILY.prepare, FAMILY.generate, FAMILY.grader
