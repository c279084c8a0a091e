"""`make mutate`: mutation testing of the code that decides a result, with cosmic-ray.

Each target is one module and the tests that must catch a wrong number in it. cosmic-ray mutates
the module in place (one mutant at a time, restored after each), runs the tests, and records
whether they failed (killed) or passed (survived). Lines marked ``# pragma: no mutate`` hold an
equivalent mutant (a change no test can see because it changes no result); the reason is the
``# equivalent mutant...`` comment on the line above. They are filtered out and listed in the
results. Results: ``bench/mutation.json`` (score per module, every
survivor with its line and diff).

Runs serially in a private copy of the working tree (the files git tracks or would track), so it
can run beside other work, and two runs on different modules do not meet; only the results file
is shared, and each module's entry is merged into it as it finishes.
Usage: python bench/mutate.py [MODULE ...]   (default: every target)
"""

from __future__ import annotations

import json
import re
import shutil
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


def _config(module: str, tests: str, folder: Path, tree: Path) -> Path:
    cfg = folder / "cosmic-ray.toml"
    cfg.write_text(
        "[cosmic-ray]\n"
        f'module-path = "{module}"\n'
        "timeout = 120.0\n"
        "excluded-modules = []\n"
        # the copy's packages come first, also in any process the tests start
        f'test-command = "env PYTHONPATH={tree} {PYTEST} {tests}"\n'
        "[cosmic-ray.distributor]\n"
        'name = "local"\n'
        "[cosmic-ray.filters.operators-filter]\n"
        f"exclude-operators = {json.dumps(EXCLUDED_OPERATORS)}\n"
    )
    return cfg


def _run(tree: Path, *cmd: str) -> None:
    subprocess.run(cmd, cwd=tree, check=True, stdout=subprocess.DEVNULL)


def _copy_tree(dest: Path) -> Path:
    """The working tree as git sees it (tracked files and untracked ones not ignored), copied to
    ``dest``: mutants are written there, never into the files being edited."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file() and not src.is_symlink():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    # the package layout the editable install maps (pyproject's package-dir): rexmle.graders is
    # graders/, and so on; without these links the copy's tests would import the originals
    for folder in ("graders", "challenges", "agents", "containers"):
        (dest / "rexmle" / folder).symlink_to(Path("..") / folder)
    return dest


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
        tree = _copy_tree(folder / "tree")
        cfg, db = _config(module, tests, folder, tree), folder / "session.sqlite"
        bin_dir = Path(PY).parent
        _run(tree, str(bin_dir / "cosmic-ray"), "init", str(cfg), str(db))
        _run(tree, str(bin_dir / "cr-filter-pragma"), str(db))
        _run(tree, str(bin_dir / "cr-filter-operators"), str(db), str(cfg))
        started = time.time()
        _run(tree, str(bin_dir / "cosmic-ray"), "exec", str(cfg), str(db))
        took = time.time() - started
        with use_db(str(db), WorkDB.Mode.open) as work:
            results = list(work.results)
            items = {i.job_id: i for i in work.work_items}
        source = (tree / module).read_text().splitlines()  # as mutated: restored after each mutant
    outcomes = [r for _job, r in results if r.test_outcome is not None]
    killed = sum(r.test_outcome == TestOutcome.KILLED for r in outcomes)
    survived = [(job, r) for job, r in results if r.test_outcome == TestOutcome.SURVIVED]
    incompetent = sum(r.test_outcome == TestOutcome.INCOMPETENT for r in outcomes)
    skipped = sum(r.test_outcome is None for _job, r in results)
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
    for module in wanted:
        print(f"mutating {module} against {TARGETS[module]} ...", flush=True)
        r = mutate(module, TARGETS[module])
        # merged as each module finishes: another run may have recorded other modules meanwhile
        recorded = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
        recorded[module] = r
        RESULTS.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")
        print(
            f"  {r['killed']} killed, {r['survived']} survived, score {r['score']} ({r['seconds']} s)",
            flush=True,
        )
        for s in r["survivors"]:
            print(f"  survivor line {s['line']} {s['operator']}: {s['diff']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
