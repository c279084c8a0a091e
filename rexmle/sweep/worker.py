"""One run of a sweep in its own process: ``python -m rexmle.sweep.worker OUT RUN_ID [--home H] [--force]``.

The local executor starts one per run (pinned to a slot's CPUs and GPUs); its exit code says how
the run went for the orchestrator: 0 ran (see the run's result), ``WORKER_BUSY`` another process
holds the run, 130 interrupted (SIGTERM or Ctrl-C: the sandbox was stopped first).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from rexmle import paths
from rexmle.sweep.folder import WORKER_BUSY, read_manifest, runs_root


def raise_interrupt(signum: int, _frame: Any) -> None:
    """SIGTERM as a KeyboardInterrupt: the run stops its sandbox and records the interruption."""
    raise KeyboardInterrupt(f"signal {signum}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rexmle.sweep.worker", description="Execute one run of a sweep."
    )
    p.add_argument("out", type=Path, help="the sweep folder (sweep.yaml's output)")
    p.add_argument("run_id", help="a run id of the sweep's manifest")
    p.add_argument(
        "--home", type=Path, default=None, help="REXMLE_HOME for data and agents (default: the usual)"
    )
    p.add_argument("--force", action="store_true", help="run again even if the run has a result")
    return p


def command(out: Path, run_id: str, home: Path, force: bool) -> list[str]:
    """The worker's command line (what :func:`main` parses)."""
    cmd = [sys.executable, "-m", "rexmle.sweep.worker", str(out), run_id, "--home", str(home)]
    return [*cmd, "--force"] if force else cmd


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from rexmle.run import execute
    from rexmle.store import RunInProgress

    signal.signal(signal.SIGTERM, raise_interrupt)
    manifest = read_manifest(args.out)
    if args.run_id not in manifest.runs:
        print(f"run {args.run_id} is not in the sweep {args.out}", file=sys.stderr, flush=True)
        return 2
    try:
        result = execute(
            manifest.runs[args.run_id],
            home=args.home or paths.home(),
            runs_root=runs_root(args.out),
            force=args.force,
            notify=lambda m: print(m, flush=True),
        )
    except RunInProgress as exc:
        print(exc, flush=True)
        return WORKER_BUSY
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        return 130
    print(f"{args.run_id}: {result.state.value}, valid={result.valid}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
