"""``python -m rexmle.sweep worker OUT RUN_ID ...``: the worker's older command line, kept for runs
started by an earlier version (the worker itself is ``python -m rexmle.sweep.worker``)."""

import sys

from rexmle.sweep.worker import main

if len(sys.argv) >= 2 and sys.argv[1] == "worker":
    sys.exit(main(sys.argv[2:]))
sys.exit("usage: python -m rexmle.sweep.worker OUT RUN_ID [--home H] [--force]")
