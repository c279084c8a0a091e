"""ReX-MLE: a benchmark harness for autonomous ML-engineering agents on medical imaging challenges."""

__version__ = "0.1.0"
