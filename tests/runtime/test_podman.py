"""The Docker runtime driving Podman through its Docker-compatible API socket.

Marker ``podman``: needs ``podman system service`` listening (``.ci/run`` starts it with the
containers.conf that Debian's Podman needs here: see ../shared/reference/runtime.md). The root
filesystem comes from the Docker engine's imported root when there is one (``docker export``),
else from debootstrap: no registry either way.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from rexmle import run as runs
from rexmle.runtime import images
from rexmle.runtime.docker import podman_socket

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
