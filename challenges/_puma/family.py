"""The PUMA family: two tracks (3 or 10 nuclei classes) x two tasks (tissue segmentation, nuclei
detection) share one release, one preparation and two graders. A task's challenge.yaml picks
them: ``family: {code: _puma, params: {track: 1, task: 2}}``."""

from __future__ import annotations

from typing import Literal

from rexmle.challenges._puma import synthetic
from rexmle.challenges._puma.classes import nuclei_classes
from rexmle.challenges._puma.grading import TISSUE, nuclei_grader
from rexmle.challenges._puma.prepare import prepare_task

from rexmle.challenge_api import Family, FamilyParams


class Params(FamilyParams):
    """Which PUMA task this is: the track (its nuclei classes) and the task (1 tissue, 2 nuclei)."""

    track: Literal[1, 2]
    task: Literal[1, 2]


FAMILY = Family(
    Params,
    prepare_task=lambda raw, public, private, spec, p, progress: prepare_task(
        raw, public, private, spec, p.track, p.task, progress
    ),
    generate_release=lambda raw, _p, seed: synthetic.generate(raw, seed),
    make_grader=lambda p: TISSUE if p.task == 1 else nuclei_grader(nuclei_classes(p.track)),
)
prepare, generate, grader = FAMILY.prepare, FAMILY.generate, FAMILY.grader
