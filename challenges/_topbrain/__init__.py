"""What the two TopBrain 2025 challenges (topbrain-track1 CTA, topbrain-track2 MRA) share: the
label maps, the anatomical neighbour tables, preparation from the data release, the synthetic
release and the grader.

Facts come from the organisers' release and evaluation (CoWBenchmark/TopBrain_Eval_Metrics:
``constants.py``, ``valid_neighbors_{ct,mr}_all.json``); the neighbour tables beside this file
are the organisers' data, unchanged. The release has TopCoW's shape (one zip, ``imagesTr*`` and
``labelsTr*`` folders, ``topcow_{ct|mr}_NNN`` names), so preparation reuses ``_topcow``'s.
"""
