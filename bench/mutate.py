"""`make mutate`: mutation testing of the code that decides a result, with cosmic-ray.

Each target is one module and the tests that must catch a wrong number in it. cosmic-ray mutates
the module in place (one mutant at a time, restored after each), runs the tests, and records
whether they failed (killed) or passed (survived). Lines marked ``# pragma: no mutate`` hold an
equivalent mutant (a change no test can see because it changes no result); the reason is the
``# equivalent mutant...`` comment on the line above. They are filtered out and listed in the
results. Results: ``bench/mutation.json`` (score per module, every
survivor with its line and diff).

Runs serially and mutates the working tree: run it alone, not beside a test run.
Usage: python bench/mutate.py [MODULE ...]   (default: every target)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
PYTEST = f"{PY} -m pytest -x -q -p no:cacheprovider"

#: module -> the tests that must kill its mutants (fast ones: each mutant runs them once).
TARGETS: dict[str, str] = {
    "rexmle/ranking.py": "tests/test_ranking.py",
    "rexmle/report/stats.py": "tests/report/test_stats.py",
    "rexmle/submission.py": "tests/test_submission_table.py",
    "graders/image_quality.py": "tests/graders/test_image_quality.py",
    "graders/correlation.py": "tests/graders/test_correlation.py",
    "graders/boxes.py": "tests/graders/test_boxes.py",
    "graders/points.py": "tests/graders/test_points.py",
    "graders/surfels.py": "tests/graders/test_surfels.py",
    "graders/coco.py": "tests/graders/test_coco.py",
    "graders/segmentation.py": "tests/graders/test_segmentation.py tests/graders/test_segmentation_micro.py",
    "graders/surface.py": "tests/graders/test_surface.py",
    "graders/instances.py": "tests/graders/test_instances.py",
    "graders/multiclass.py": "tests/graders/test_multiclass.py",
    "graders/topology.py": "tests/graders/test_topology.py",
    # challenges' scoring code, against their fast unit tests (the end-to-end ones prepare data)
    "challenges/_topcow/scoring.py": "tests/challenges/test_topcow_scoring.py",
}
#: cosmic-ray operators whose mutants are noise for this code (none at present).
EXCLUDED_OPERATORS: list[str] = []
RESULTS = ROOT / "bench" / "mutation.json"


def _config(module: str, tests: str, folder: Path) -> Path:
    cfg = folder / "cosmic-ray.toml"
    cfg.write_text(
        "[cosmic-ray]\n"
        f'module-path = "{module}"\n'
        "timeout = 120.0\n"
        "excluded-modules = []\n"
        f'test-command = "{PYTEST} {tests}"\n'
        "[cosmic-ray.distributor]\n"
        'name = "local"\n'
        "[cosmic-ray.filters.operators-filter]\n"
        f"exclude-operators = {json.dumps(EXCLUDED_OPERATORS)}\n"
    )
    return cfg


def _run(*cmd: str) -> None:
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def _reason(source: list[str], line_no: int) -> str:
    """Why line ``line_no`` (1-based) is excluded: the comment line just above it, which by this
    project's convention starts ``# equivalent mutant``."""
    above = source[line_no - 2].strip() if line_no >= 2 else ""
    return above.lstrip("# ") if above.startswith("# equivalent") else "(no reason given)"


def mutate(module: str, tests: str) -> dict[str, object]:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cfg, db = _config(module, tests, folder), folder / "session.sqlite"
        bin_dir = Path(PY).parent
        _run(str(bin_dir / "cosmic-ray"), "init", str(cfg), str(db))
        _run(str(bin_dir / "cr-filter-pragma"), str(db))
        _run(str(bin_dir / "cr-filter-operators"), str(db), str(cfg))
        started = time.time()
        _run(str(bin_dir / "cosmic-ray"), "exec", str(cfg), str(db))
        took = time.time() - started
        with use_db(str(db), WorkDB.Mode.open) as work:
            results = list(work.results)
            items = {i.job_id: i for i in work.work_items}
    outcomes = [r for _job, r in results if r.test_outcome is not None]
    killed = sum(r.test_outcome == TestOutcome.KILLED for r in outcomes)
    survived = [(job, r) for job, r in results if r.test_outcome == TestOutcome.SURVIVED]
    incompetent = sum(r.test_outcome == TestOutcome.INCOMPETENT for r in outcomes)
    skipped = sum(r.test_outcome is None for _job, r in results)
    source = (ROOT / module).read_text().splitlines()
    equivalents = [
        {"line": n, "reason": _reason(source, n)}
        for n, line in enumerate(source, 1)
        if "pragma: no mutate" in line
    ]
    scored = killed + len(survived)
    return {
        "tests": tests,
        "mutants": len(outcomes),
        "killed": killed,
        "survived": len(survived),
        "incompetent": incompetent,
        "skipped_as_equivalent": skipped,
        "score": round(killed / scored, 4) if scored else None,
        "seconds": round(took, 1),
        "equivalents": equivalents,
        "survivors": [
            {
                "line": items[job].mutations[0].start_pos[0],
                "operator": items[job].mutations[0].operator_name,
                "diff": "\n".join(ln for ln in (r.diff or "").splitlines() if re.match(r"^[-+][^-+]", ln)),
            }
            for job, r in survived
        ],
    }


def main(argv: list[str]) -> int:
    wanted = argv or list(TARGETS)
    unknown = [m for m in wanted if m not in TARGETS]
    if unknown:
        sys.exit(f"not a mutation target: {', '.join(unknown)} (targets: {', '.join(TARGETS)})")
    recorded = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    for module in wanted:
        print(f"mutating {module} against {TARGETS[module]} ...", flush=True)
        recorded[module] = mutate(module, TARGETS[module])
        r = recorded[module]
        print(
            f"  {r['killed']} killed, {r['survived']} survived, score {r['score']} ({r['seconds']} s)",
            flush=True,
        )
        for s in r["survivors"]:
            print(f"  survivor line {s['line']} {s['operator']}: {s['diff']}", flush=True)
    RESULTS.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
