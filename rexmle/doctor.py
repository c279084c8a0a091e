"""``rexmle doctor``: what this machine can run, and what to do about each missing piece.

Every check asks the real component (the engine's API, the binary's own version output, the
scheduler) with a short timeout and never raises: a missing piece is a row with a fix.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from rexmle import paths

Status = Literal["ok", "missing", "warning"]
MIN_FREE_GB = 50.0


class Check(BaseModel):
    model_config = ConfigDict(frozen=True)

    component: str
    status: Status
    detail: str
    fix: str = ""


def _run(cmd: list[str], timeout: float = 10) -> tuple[int, str]:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, type(exc).__name__
    return done.returncode, (done.stdout or done.stderr).strip()


def check_docker() -> list[Check]:
    from rexmle.runtime import images

    try:
        c = images.client()
    except images.EngineUnavailable as exc:
        return [
            Check(
                component="docker engine",
                status="missing",
                detail=str(exc).split(";")[0],
                fix="install Docker (Debian: apt-get install docker.io) and start dockerd; or use "
                "--runtime podman / apptainer / local",
            )
        ]
    info = c.info()
    checks = [
        Check(
            component="docker engine",
            status="ok",
            detail=f"{images.engine_name(c)}, storage {info.get('Driver')}, cgroup v{info.get('CgroupVersion', '?')}",
        )
    ]
    runtimes = sorted((info.get("Runtimes") or {}).keys())
    if "nvidia" in runtimes or any("nvidia" in str(r) for r in runtimes):
        checks.append(Check(component="docker GPUs", status="ok", detail=f"runtimes: {', '.join(runtimes)}"))
    else:
        checks.append(
            Check(
                component="docker GPUs",
                status="warning",
                detail=f"no NVIDIA runtime registered (runtimes: {', '.join(runtimes) or 'none'})",
                fix="for GPU runs install the NVIDIA Container Toolkit and `nvidia-ctk runtime configure`",
            )
        )
    root = images.default_root()
    if images.find_image(c, root) is None:
        checks.append(
            Check(
                component="root image",
                status="warning",
                detail=f"{root} is not in the engine (it is pulled on the first build)",
                fix=f"without a registry: `rexmle images rootfs` and REXMLE_IMAGE_ROOT={images.OFFLINE_ROOT}",
            )
        )
    else:
        checks.append(Check(component="root image", status="ok", detail=root))
    return checks


def check_podman() -> Check:
    from rexmle.runtime import images
    from rexmle.runtime.docker import podman_socket

    sock = podman_socket()
    if shutil.which("podman") is None:
        return Check(
            component="podman",
            status="missing",
            detail="not installed",
            fix="apt-get install podman (optional)",
        )
    try:
        c = images.client(sock)
    except images.EngineUnavailable:
        return Check(
            component="podman",
            status="warning",
            detail=f"installed, no API socket at {sock}",
            fix=f"podman system service --time=0 {sock} &  (then --runtime podman)",
        )
    return Check(component="podman", status="ok", detail=f"{images.engine_name(c)} at {sock}")


def check_gpus() -> Check:
    if shutil.which("nvidia-smi") is None:
        return Check(
            component="GPUs",
            status="missing",
            detail="no nvidia-smi: no NVIDIA driver here",
            fix="CPU-only: real-data budgets ask for GPUs; run with --gpus 0 or on a GPU node",
        )
    code, text = _run(["nvidia-smi", "-L"])
    if code != 0:
        return Check(component="GPUs", status="warning", detail=f"nvidia-smi failed: {text[:120]}")
    gpus = [line for line in text.splitlines() if line.startswith("GPU ")]
    return Check(component="GPUs", status="ok", detail=f"{len(gpus)}: " + "; ".join(g[:60] for g in gpus))


def check_apptainer() -> Check:
    from rexmle.runtime.apptainer import binary

    found = binary()
    if found is None:
        return Check(
            component="apptainer",
            status="missing",
            detail="neither apptainer nor singularity on PATH",
            fix="install Apptainer (cluster modules or the project's packages) for --runtime apptainer",
        )
    code, text = _run([found, "--version"])
    return Check(component="apptainer", status="ok" if code == 0 else "warning", detail=text[:120])


def check_slurm() -> Check:
    if shutil.which("sinfo") is None:
        return Check(
            component="slurm",
            status="missing",
            detail="no sinfo on PATH",
            fix="sweeps run with the local executor; for SLURM run on a login node",
        )
    code, text = _run(["sinfo", "-h", "-o", "%P %a %D"])
    if code != 0:
        return Check(
            component="slurm", status="warning", detail=f"sinfo failed: {text[:120]}", fix="start slurmctld"
        )
    return Check(component="slurm", status="ok", detail="partitions: " + ", ".join(text.splitlines()[:4]))


def check_disk(home: Path | None = None) -> Check:
    where = home or paths.home()
    probe = where
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free_gb = shutil.disk_usage(probe).free / 2**30
    status: Status = "ok" if free_gb >= MIN_FREE_GB else "warning"
    return Check(
        component="disk",
        status=status,
        detail=f"{free_gb:.0f} GiB free under {where}",
        fix=""
        if status == "ok"
        else f"real datasets and images need ~{MIN_FREE_GB:.0f}+ GiB: set REXMLE_HOME",
    )


def check_local_isolation() -> Check:
    """Whether the local runtime can isolate agents (bubblewrap namespaces)."""
    from rexmle.runtime.local import bwrap_path, namespaces_available

    why = namespaces_available()
    if why is None:
        return Check(
            component="local isolation",
            status="ok",
            detail=f"bubblewrap namespaces ({bwrap_path()}): runs record isolation: namespace",
        )
    return Check(
        component="local isolation",
        status="warning",
        detail=f"local runs are NOT isolated (isolation: none, kept out of the headline): {why}",
        fix="install bubblewrap (apt-get install bubblewrap) and allow unprivileged user namespaces",
    )


def run_checks(home: Path | None = None) -> list[Check]:
    checks = [
        Check(component="cpus", status="ok", detail=f"{os.cpu_count()} cores visible"),
        check_local_isolation(),
        *check_docker(),
        check_podman(),
        check_gpus(),
        check_apptainer(),
        check_slurm(),
        check_disk(home),
    ]
    return checks
