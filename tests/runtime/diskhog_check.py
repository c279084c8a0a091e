"""The disk-budget check shared by the Docker and Podman tests (not a test module itself)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from rexmle import run as runs
from rexmle.runtime.docker import tree_bytes

#: Test agents of this folder (the disk hog), added to the fixtures' agents by the tests.
AGENTS = Path(__file__).parent / "agents"
MiB = 2**20
LIMIT_GB = 0.05


def check_disk_hog(
    runtime: str, client: Any, home: Path, plan: list[list[object]], rate: float
) -> dict[str, Any]:
    """Run the disk hog against a 0.05 GiB budget; check that it is stopped for it, that its
    submission (written first) is graded and that nothing else it wrote is left on the host.
    Returns its report, with ``overshoot``: how far past the budget it got, in bytes (by its
    own count of what it wrote)."""
    limit = int(LIMIT_GB * 2**30)
    spec = runs.make_spec("isles22", "diskhog", runtime=runtime, synthetic=True)
    spec = spec.model_copy(
        update={
            "budgets": spec.budgets.model_copy(update={"disk_gb": LIMIT_GB}),
            "settings": {**spec.settings, "plan": plan, "rate_mib_s": rate},
        }
    )
    t0 = time.monotonic()
    result = runs.execute(spec, home=home)
    rd = runs.run_dir(spec, home)
    record = json.loads((rd / "run.json").read_text())
    log = (rd / "agent.log").read_text()
    assert result.stopped == "disk" and record["stopped"] == "disk", log[-2000:]
    assert result.agent_time_s < 60 and time.monotonic() - t0 < 600
    report = json.loads((rd / "sandbox" / "logs" / "diskhog.json").read_text())  # small logs stay
    written = sum(report["written"].values())
    if any(where == "tmp" for where, _ in plan):  # the tmpfs counts: stopped before code alone is over
        assert report["written"].get("code", 0) < limit, report
    assert result.valid, "the submission written before the hog is collected and graded"
    # nothing it wrote is left: sandbox, collected submission and output together are small
    left = tree_bytes([rd / "sandbox", rd / "submission"]) + (rd / "agent.log").stat().st_size
    assert left < 4 * MiB, left
    assert not list((rd / "sandbox" / "code").iterdir())
    assert "disk budget exceeded" in log
    assert not client.containers.list(all=True, filters={"label": f"org.rexmle.run={spec.run_id}"})
    print(
        f"{runtime} disk hog {plan} at {rate or 'full speed'} MiB/s: wrote {written / MiB:.1f} MiB, "
        f"{(written - limit) / MiB:.1f} MiB past the {limit / MiB:.1f} MiB budget "
        f"(agent time {result.agent_time_s:.1f} s)"
    )
    return {**report, "overshoot": written - limit}
