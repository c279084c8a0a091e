"""Report and sweep-status speed on 1,000 finished runs (made-up results in real run folders).

Run: ``.venv/bin/python bench/sweep_bench.py [--runs 1000]`` (or ``make bench``). Writes the
``sweep`` entry of ``bench/results.json``: the time to rebuild the results index, to write the
whole HTML report (and its size), and ``rexmle sweep status`` on the same folder, read cold
from the run folders as the command does (median of repeats; nothing is cached between them).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import header, save_entry
from synthetic_results import write_runs

from rexmle import report, store
from rexmle import sweep as sweeps
from rexmle.store import RunDir

AGENTS = ["dummy", "baseline", "aide", "ml-master", "rdagent"]


def _timed(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    seeds = max(1, args.runs // len(AGENTS))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "sweep"
        t0 = time.perf_counter()
        made = write_runs(root, AGENTS, seeds=seeds, invalid_every=9)
        make_s = time.perf_counter() - t0
        # a sweep.json over the same folders, as `rexmle sweep` would have left it
        runs = {p.name: rec.spec for p in made if (rec := RunDir(p).read_record()) is not None}
        spec = sweeps.SweepSpec(name="bench", agents=AGENTS, output=root)
        now = time.time()
        manifest = sweeps.Manifest(spec=spec, runs=runs, created_at=now, updated_at=now)
        (root / "sweep.json").write_text(manifest.model_dump_json())

        index_s = _timed(lambda: store.index([root]), args.repeats)
        status_s = _timed(lambda: sweeps.status(root), args.repeats)
        out = Path(tmp) / "report.html"
        info = report.build([root], out)  # warm: imports, plotly, templates
        report_s = _timed(lambda: report.build([root], out), args.repeats)
        size = out.stat().st_size
        # the command as a user runs it: a fresh interpreter, imports included
        cli = [sys.executable, "-m", "rexmle.cli"]
        status_cli_s = _timed(
            lambda: subprocess.run(
                [*cli, "sweep", "status", str(root), "--json"], check=True, capture_output=True
            ),
            args.repeats,
        )
        report_cli_s = _timed(
            lambda: subprocess.run(
                [*cli, "report", str(root), "-o", str(out)], check=True, capture_output=True
            ),
            args.repeats,
        )
        counts = json.loads(
            subprocess.run(
                [*cli, "sweep", "status", str(root), "--json"], check=True, capture_output=True
            ).stdout
        )["counts"]
    entry = {
        **header(),
        "runs": len(made),
        "agents": len(AGENTS),
        "make_runs_s": round(make_s, 3),
        "index_s": round(index_s, 4),
        "status_s": round(status_s, 4),
        "status_cli_s": round(status_cli_s, 3),
        "status_counts": counts,
        "report_s": round(report_s, 3),
        "report_cli_s": round(report_cli_s, 3),
        "report_bytes": size,
        "report_runs": info.n_runs,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "targets": {"report_s": 10.0, "status_s": 1.0},
    }
    save_entry("sweep", entry)
    print(json.dumps(entry, indent=2))


if __name__ == "__main__":
    main()
