"""The TopBrain family: two tracks (CTA, MRA) share one release, its preparation and one grader
made per modality. A track's challenge.yaml picks it: ``family: {code: _topbrain, params: {modality: ct}}``."""

from __future__ import annotations

from typing import Literal

from rexmle.challenges._topbrain import grading, synthetic
from rexmle.challenges._topbrain.prepare import prepare_track

from rexmle.challenge_api import Family, FamilyParams


class Params(FamilyParams):
    """What sets a TopBrain track apart: its imaging modality."""

    modality: Literal["ct", "mr"]


FAMILY = Family(
    Params,
    prepare_task=lambda raw, public, private, spec, p, progress: prepare_track(
        raw, public, private, spec, p.modality, progress
    ),
    generate_release=lambda raw, _p, seed: synthetic.generate(raw, seed),
    make_grader=lambda p: grading.grader(p.modality),
)
prepare, generate, grader = FAMILY.prepare, FAMILY.generate, FAMILY.grader
