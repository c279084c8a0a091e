"""The Docker runtime driving Podman through its Docker-compatible API socket.

Marker ``podman``: needs ``podman system service`` listening (``.ci/run`` starts it with the
containers.conf that Debian's Podman needs here: see ../shared/reference/runtime.md). The root
filesystem comes from the Docker engine's imported root when there is one (``docker export``),
else from debootstrap: no registry either way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from diskhog_check import AGENTS, check_disk_hog  # tests/runtime/diskhog_check.py

from rexmle import agent as agents
from rexmle import run as runs
from rexmle.runtime import images
from rexmle.runtime.docker import DISK_POLL_S, DockerRuntime, podman_socket

pytestmark = pytest.mark.podman


@pytest.fixture(scope="module")
def podman() -> Iterator[object]:
    try:
        c = images.client(podman_socket())
    except images.EngineUnavailable as exc:
        if os.environ.get("CI"):
            raise  # CI starts Podman's socket: a failure there, not a skip
        pytest.skip(f"no Podman API socket (start one with `bash .ci/engines`): {exc}")
    assert images.engine_name(c).startswith("Podman")
    if images.find_image(c, images.OFFLINE_ROOT) is None:
        with tempfile.TemporaryDirectory() as tmp:
            tarball = Path(tmp) / "root.tar"
            try:
                docker = images.client()
                box = docker.containers.create(images.OFFLINE_ROOT, ["true"])
                try:
                    with tarball.open("wb") as f:
                        for chunk in box.export():
                            f.write(chunk)
                finally:
                    box.remove(force=True)
            except images.EngineUnavailable:
                with (Path(tmp) / "log").open("wb") as log:
                    images.bootstrap_rootfs(tarball, log)
            images.import_rootfs(c, tarball, images.OFFLINE_ROOT)
    yield c


def test_doctor_finds_podmans_api_socket(podman: object) -> None:
    from rexmle import doctor

    check = doctor.check_podman()
    assert check.status == "ok" and check.detail.startswith("Podman") and check.fix == ""
    assert check.detail.endswith(f" at {podman_socket()}")


def test_dummy_runs_under_podman_graded_and_ranked(
    podman: object, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REXMLE_IMAGE_ROOT", images.OFFLINE_ROOT)
    spec = runs.make_spec("isles22", "dummy", runtime="podman", synthetic=True)
    result = runs.execute(spec, home=home)
    assert result.state.value == "done" and result.valid and result.percentile is not None
    record = json.loads((runs.run_dir(spec, home) / "run.json").read_text())
    assert record["runtime_info"]["engine"].startswith("Podman")
    assert record["runtime_info"]["network"] == "none"
    assert record["image_id"].startswith("sha256:") or len(record["image_id"]) == 64
    c = images.client(podman_socket())
    assert not c.containers.list(all=True, filters={"label": f"org.rexmle.run={spec.run_id}"})


def test_podman_sandbox_walls_hold(podman: object, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same jailbreak as under Docker: gateway only, read-only outside the mounts."""
    monkeypatch.setenv("REXMLE_IMAGE_ROOT", images.OFFLINE_ROOT)
    spec = runs.make_spec("isles22", "jailbreak", runtime="podman", synthetic=True, llm="scripted")
    result = runs.execute(spec, home=home)
    report = json.loads((runs.run_dir(spec, home) / "sandbox" / "logs" / "jailbreak.json").read_text())
    assert result.valid
    assert report["gateway"] == {"ok": True, "value": "pong"}
    assert report["interfaces"] == ["lo"]
    assert not report["writes"]["/etc/rexmle-x"]["ok"] and not report["writes"]["/home/data/x"]["ok"]
    assert report["writes"]["/home/submission/x"]["ok"]


def test_podman_disk_hog_is_stopped_and_its_files_deleted(
    podman: object, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk budget under Podman: the same hog as under Docker (paced, /tmp first)."""
    monkeypatch.setenv("REXMLE_IMAGE_ROOT", images.OFFLINE_ROOT)
    monkeypatch.setenv("REXMLE_AGENTS_PATH", os.pathsep.join([os.environ["REXMLE_AGENTS_PATH"], str(AGENTS)]))
    report = check_disk_hog("podman", images.client(podman_socket()), home, [["tmp", 40], ["code", 200]], 10)
    assert 0 < report["overshoot"] <= 10 * 2**20 * (DISK_POLL_S + 3), report


def test_podman_sandbox_ends_at_its_deadline_without_the_harness(
    podman: object, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A harness SIGKILLed mid-run: Podman's sandbox is stopped by its own PID 1 at the
    deadline plus the grace (the sleeper ignores SIGTERM), and reaped at the next start."""
    monkeypatch.setenv("REXMLE_IMAGE_ROOT", images.OFFLINE_ROOT)
    rt = DockerRuntime("podman", podman_socket())
    rt.prepare_image(agents.get("sleeper"), 0, home, home / "build.log")  # not timed
    limit, grace = 10, float(os.environ["REXMLE_STOP_GRACE_S"])
    spec = runs.make_spec("isles22", "sleeper", runtime="podman", synthetic=True, time_limit_s=limit, seed=21)
    cmd = [sys.executable, "-m", "rexmle.cli", "run", "--agent", "sleeper", "--challenge", "isles22"]
    cmd += ["--synthetic", "--runtime", "podman", "--time-limit", str(limit), "--seed", "21"]
    proc = subprocess.Popen(
        cmd, env={**os.environ, "REXMLE_HOME": str(home)}, stderr=subprocess.PIPE, text=True
    )
    c = images.client(podman_socket())

    def running() -> list[object]:
        return list(c.containers.list(filters={"label": f"org.rexmle.run={spec.run_id}"}))

    until = time.monotonic() + 120
    while not running() and time.monotonic() < until and proc.poll() is None:
        time.sleep(0.2)
    (box,) = running()
    box_env = dict(e.split("=", 1) for e in box.attrs["Config"]["Env"])  # type: ignore[attr-defined]
    proc.kill()
    proc.wait(timeout=10)
    init_deadline = float(box_env["REXMLE_INIT_DEADLINE"])
    while running() and time.time() < init_deadline + 30:
        time.sleep(0.2)
    assert not running()
    assert time.time() <= init_deadline + grace + 4, time.time() - init_deadline
    assert box.name in rt.reap_stale()  # type: ignore[attr-defined]
