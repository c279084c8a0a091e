"""Harness overhead per runtime: one run from start to result, minus the agent's own time.

Run: ``.venv/bin/python bench/runtime_bench.py [--runs 5]`` (or ``make bench``). Writes the
``runtime`` entry of ``bench/results.json``. The ``dummy`` agent on synthetic ISLES'22 does
almost nothing, so ``wall_time_s - agent_time_s`` of its result is what the harness costs:
preparing the sandbox (links or mounts), rendering instructions, starting and reaping the
process or container, collecting, grading 5 cases, ranking and writing the record. Local and
Docker runs are interleaved in one process on one machine; images and data are prepared
first (their one-off build time is reported separately). The agent time of a container run
(from ``start`` to its exit) includes the container's own start-up and the image's Python.
Without a Docker engine the Docker part is reported as skipped, with the reason.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from results_file import header, save_entry

from rexmle import challenge, data
from rexmle import run as runs
from rexmle.runtime import images


def _one(runtime: str, seed: int, home: Path) -> dict[str, float]:
    spec = runs.make_spec("isles22", "dummy", runtime=runtime, synthetic=True, seed=seed)
    t0 = time.perf_counter()
    result = runs.execute(spec, home=home)
    total = time.perf_counter() - t0
    assert result.valid, result.reason
    return {"total_s": total, "agent_s": result.agent_time_s, "overhead_s": total - result.agent_time_s}


def _summary(rows: list[dict[str, float]]) -> dict[str, float]:
    return {
        f"{key}_median": round(statistics.median(r[key] for r in rows), 3)
        for key in ("total_s", "agent_s", "overhead_s")
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    out: dict[str, object] = {
        **header(),
        "agent": "dummy",
        "challenge": "isles22@synthetic (5 cases)",
        "runs_per_runtime": args.runs,
    }
    runtimes = ["local"]
    try:
        engine = images.client()
        out["engine"] = images.engine_name(engine)
        runtimes.append("docker")
    except images.EngineUnavailable as exc:
        out["docker"] = {"skipped": str(exc)}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        os.environ.setdefault("REXMLE_IMAGE_ROOT", images.OFFLINE_ROOT)
        data.prepare(challenge.get("isles22"), synthetic=True, home=home)
        if "docker" in runtimes:
            t0 = time.perf_counter()
            _one("docker", 10_000, home)  # builds the dummy image if missing (reported, not counted)
            out["docker_first_run_incl_image_build_s"] = round(time.perf_counter() - t0, 2)
        _one("local", 10_000, home)  # the agent's venv
        rows: dict[str, list[dict[str, float]]] = {r: [] for r in runtimes}
        for seed in range(args.runs):
            for rt in runtimes:
                rows[rt].append(_one(rt, seed, home))
    for rt in runtimes:
        out[rt] = _summary(rows[rt])
        s = out[rt]
        assert isinstance(s, dict)
        print(
            f"{rt:6s}: start->result {s['total_s_median']:.2f} s, agent {s['agent_s_median']:.2f} s, "
            f"harness overhead {s['overhead_s_median']:.2f} s (median of {args.runs})"
        )
    save_entry("runtime", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
