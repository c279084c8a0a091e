"""The TopCoW family: six tasks (CTA / MRA x segmentation, box, edges) share one release, one
preparation and three graders. A task's challenge.yaml picks them:
``family: {code: _topcow, params: {modality: ct, task: seg}}``."""

from __future__ import annotations

from typing import Literal

from rexmle.challenges._topcow import synthetic
from rexmle.challenges._topcow.grading import GRADERS
from rexmle.challenges._topcow.prepare import Task, prepare_task

from rexmle.challenge_api import Family, FamilyParams


class Params(FamilyParams):
    """What sets a TopCoW task apart: the imaging modality (track) and the task kind."""

    modality: Literal["ct", "mr"]
    task: Task


FAMILY = Family(
    Params,
    prepare_task=lambda raw, public, private, spec, p, progress: prepare_task(
        raw, public, private, spec, p.modality, p.task, progress
    ),
    generate_release=lambda raw, _p, seed: synthetic.generate(raw, seed),
    make_grader=lambda p: GRADERS[p.task],
)
prepare, generate, grader = FAMILY.prepare, FAMILY.generate, FAMILY.grader
