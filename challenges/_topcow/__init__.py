"""What the six TopCoW challenges (topcow-track{1,2}-task{1,2,3}) share: the CoW label map, the
raw release's file formats, and the edge lists read from a segmentation.

Each TopCoW challenge is still one folder with its own challenge.yaml, prepare, synthetic and
grade; this package (no challenge.yaml, so the registry does not list it) holds the knowledge
they would otherwise repeat six times. Facts come from the organisers' release and evaluation
(CoWBenchmark/TopCoW_Eval_Metrics: ``constants.py``, ``utils_box.py``, ``edge_criteria.py``).
"""
