"""The Apptainer runtime: the Docker runtime's contract on clusters without Docker.

The agent runs as ``apptainer exec`` in its own host process group (the wall clock is the
harness's, as in the local runtime: process.py), from a SIF image converted from the agent's
Docker image (same layers, paths and PID-1 forwarder). The command is built as data by
:func:`exec_command` so that it can be checked against the contract where the binary is
missing (as on the machine this project is developed on):

- ``--containall``: own PID/IPC namespaces, minimal /dev, no host home or /tmp, and a clean
  environment (``--cleanenv``, repeated for clarity); the agent's variables are handed over as
  ``APPTAINERENV_*`` in the apptainer process's own environment (honoured under --cleanenv),
  never on the command line (argv is visible to every user of the node through ps). The code
  folder is bound as the home (``--home``), since HOME cannot be set through APPTAINERENV_.
- ``--net --network none``: a network namespace with only ``lo``; the gateway's Unix socket is
  bound read-only at /run/rexmle and forwarded on 127.0.0.1:7700 inside, as in Docker.
- binds: public data read-only, instructions read-only, submission/code/logs writable, a
  per-run host folder as /tmp; never the private folder. The SIF root is read-only.
- ``--nv`` when the run has GPUs (which ones: the CUDA_VISIBLE_DEVICES the scheduler or sweep
  set, passed through); ``--cpus/--memory/--pids-limit`` where cgroups v2 allow them
  (``_cgroups_on``). Apptainer passes the agent's exit code through (128+S for signal S) and
  forwards SIGTERM to it, so the process-group handling of process.py applies unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rexmle.errors import ConfigError, RexmleError
from rexmle.runtime import images, process
from rexmle.runtime.base import (
    SANDBOX_GATEWAY_PORT,
    SANDBOX_GATEWAY_SOCKET,
    SANDBOX_PATHS,
    SANDBOX_SOCKET_DIR,
    WRITABLE,
    SandboxSpec,
    copy_submission,
    fresh_sandbox,
    host_layout,
)
from rexmle.runtime.process import ProcessHandle

if TYPE_CHECKING:
    from rexmle.agent import Agent

#: Host variables the apptainer process itself needs (not the agent: --cleanenv drops them).
HOST_ENV = ("PATH", "LANG", "TMPDIR", "APPTAINER_CACHEDIR", "APPTAINER_TMPDIR", "XDG_RUNTIME_DIR")
INIT = ["/opt/rexmle/venv/bin/python", "/opt/rexmle/bin/sandbox-init"]


def binary() -> str | None:
    return os.environ.get("REXMLE_APPTAINER") or shutil.which("apptainer") or shutil.which("singularity")


def sif_path(home: Path, tag: str) -> Path:
    return images.images_dir(home) / "sif" / (tag.replace("/", "_").replace(":", "_") + ".sif")


def _sha256(path: Path) -> str:
    """sha256 of a SIF, cached beside it by size and mtime (images are GBs)."""
    stamp = path.with_suffix(".sha256.json")
    st = path.stat()
    key = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if stamp.is_file():
        cached = json.loads(stamp.read_text())
        if cached.get("key") == key:
            return str(cached["sha256"])
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    digest = "sha256:" + h.hexdigest()
    stamp.write_text(json.dumps({"key": key, "sha256": digest}))
    return digest


def build_command(apptainer: str, sif: Path, tag: str) -> list[str]:
    """Convert a Docker image in the local engine into a SIF (containers/apptainer/agent.def)."""
    definition = images.containers_dir() / "apptainer" / "agent.def"
    return [apptainer, "build", "--force", "--build-arg", f"IMAGE={tag}", str(sif), str(definition)]


def _cgroups_on() -> bool:
    """Apptainer's --cpus/--memory/--pids-limit need cgroups v2 for an unprivileged user: on by
    default there; REXMLE_APPTAINER_CGROUPS=0/1 decides explicitly (0 where the SLURM job's
    own cgroup is the limit)."""
    given = os.environ.get("REXMLE_APPTAINER_CGROUPS")
    if given is not None:
        return given not in ("0", "false", "no")
    return Path("/sys/fs/cgroup/cgroup.controllers").is_file()


def sandbox_env(spec: SandboxSpec) -> dict[str, str]:
    """What the agent's environment is inside (the same variables as in Docker)."""
    cpus = max(1, min(spec.budgets.cpus, os.cpu_count() or 1))
    env = dict(spec.env)
    env.update(
        {k: str(v) for k, v in SANDBOX_PATHS.items()},
        TMPDIR="/tmp",
        OMP_NUM_THREADS=str(cpus),
        MKL_NUM_THREADS=str(cpus),
        OPENBLAS_NUM_THREADS=str(cpus),
        PYTHONUNBUFFERED="1",
    )
    if spec.gateway_socket_dir is not None:
        env.update(
            REXMLE_GATEWAY_SOCKET=SANDBOX_GATEWAY_SOCKET, REXMLE_GATEWAY_PORT=str(SANDBOX_GATEWAY_PORT)
        )
    return env


def exec_command(apptainer: str, sif: Path, spec: SandboxSpec, host: dict[str, Path]) -> list[str]:
    """The exact ``apptainer exec`` command of one sandbox (no secrets in it)."""
    b = spec.budgets
    seen = SANDBOX_PATHS
    binds = [
        f"{spec.public_dir.resolve()}:{seen['REXMLE_DATA_DIR']}:ro",
        f"{host['REXMLE_INSTRUCTIONS']}:{seen['REXMLE_INSTRUCTIONS']}:ro",
        *(f"{host[k]}:{seen[k]}:rw" for k in WRITABLE if k != "REXMLE_CODE_DIR"),
        f"{spec.workdir / 'tmp'}:/tmp:rw",  # not the 64 MB session tmpfs of --contain
    ]
    if spec.gateway_socket_dir is not None:
        binds.append(f"{spec.gateway_socket_dir}:{SANDBOX_SOCKET_DIR}:ro")
    for b_ in binds:
        if "," in b_:
            raise ConfigError(f"apptainer bind paths cannot contain commas: {b_.split(':', 1)[0]}")
    cmd = [
        apptainer,
        "exec",
        "--containall",
        "--cleanenv",
        # the code folder is the agent's home (HOME cannot be set through APPTAINERENV_)
        "--home",
        f"{host['REXMLE_CODE_DIR']}:{seen['REXMLE_CODE_DIR']}",
        "--net",
        "--network",
        "none",
        "--pwd",
        seen["REXMLE_CODE_DIR"],
    ]
    for bind in binds:
        cmd += ["--bind", bind]
    if b.gpus > 0:
        cmd.append("--nv")
    if _cgroups_on():
        cpus = max(1, min(b.cpus, os.cpu_count() or 1))
        cmd += ["--cpus", str(cpus), "--memory", f"{int(b.memory_gb * 2**30)}", "--pids-limit", str(b.pids)]
    return [*cmd, str(sif), *INIT, *spec.command]


def process_env(spec: SandboxSpec) -> dict[str, str]:
    """The apptainer process's environment: a few host variables plus APPTAINERENV_* for the agent."""
    env = {k: os.environ[k] for k in HOST_ENV if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    if spec.budgets.gpus > 0 and "CUDA_VISIBLE_DEVICES" in spec.env:
        env["CUDA_VISIBLE_DEVICES"] = spec.env["CUDA_VISIBLE_DEVICES"]  # --nv honours it
    env.update({f"APPTAINERENV_{k}": v for k, v in sandbox_env(spec).items()})
    return env


class ApptainerRuntime(process.ProcessGroupRuntime):
    name = "apptainer"
    isolation = "container"
    gateway_via_socket = True

    def agent_paths(self, workdir: Path) -> dict[str, Path]:
        return {k: Path(v) for k, v in SANDBOX_PATHS.items()}

    def host_paths(self, workdir: Path) -> dict[str, Path]:
        return host_layout(workdir)

    def _binary(self) -> str:
        found = binary()
        if found is None:
            raise ConfigError(
                "apptainer is not installed here (nor singularity); install Apptainer, or set "
                "REXMLE_APPTAINER to its path; `rexmle doctor` shows what this machine can run"
            )
        return found

    def prepare_image(self, agent: Agent, gpus: int, home: Path, log: Path) -> images.ImageRef:
        """The agent's SIF: built from its Docker image when an engine is here, else one placed
        at ``$REXMLE_HOME/images/sif/`` (copied from a machine that has Docker)."""
        apptainer = self._binary()
        accelerator = images.accelerator_for(gpus)
        prebuilt = images.images_dir(home) / "sif" / f"{agent.name}-{accelerator}.sif"
        try:
            from rexmle.runtime.docker import DockerRuntime

            ref = DockerRuntime().prepare_image(agent, gpus, home, log)
        except images.EngineUnavailable:
            if not prebuilt.is_file():
                raise ConfigError(
                    f"no SIF for agent {agent.name!r}: build it where Docker runs (`rexmle images build "
                    f"--agent {agent.name} --apptainer`) and copy it to {prebuilt}"
                ) from None
            return images.ImageRef(
                tag=str(prebuilt),
                image_id=_sha256(prebuilt),
                stack=images.stack_for(agent),
                accelerator=accelerator,
                agent=agent.name,
            )
        sif = sif_path(home, ref.tag)
        if not sif.is_file():
            sif.parent.mkdir(parents=True, exist_ok=True)
            with log.open("ab") as out:
                done = subprocess.run(build_command(apptainer, sif, ref.tag), stdout=out, stderr=out)
            if done.returncode != 0:
                raise RexmleError(f"apptainer build of {ref.tag} failed (exit {done.returncode}); see {log}")
        return ref.model_copy(update={"tag": str(sif), "image_id": _sha256(sif)})

    def start(self, spec: SandboxSpec) -> ProcessHandle:
        if spec.image is None:
            raise RexmleError("the apptainer runtime needs an image (Runtime.prepare_image)")
        root = spec.workdir
        host = fresh_sandbox(root, spec.instructions)
        (root / "tmp").mkdir()
        cmd = exec_command(self._binary(), Path(spec.image), spec, host)
        handle = process.spawn(
            cmd,
            env=process_env(spec),
            cwd=root,
            log_path=spec.log_path,
            root=root,
            preexec=process.die_with_parent,
        )
        handle.extra["command"] = cmd
        return handle

    def collect(self, handle: ProcessHandle, dest: Path) -> None:
        copy_submission(handle.root, dest)

    def info(self, handle: ProcessHandle) -> dict[str, Any]:
        return {
            "runtime": self.name,
            "isolation": self.isolation,
            "pid": handle.proc.pid,
            "network": "none",
            "command": handle.extra.get("command", []),
        }
