"""The Docker runtime (Docker SDK), which also drives Podman through its Docker-compatible socket.

What the container gets, and nothing more:

- ``/home/data``: the challenge's prepared ``public/`` folder, bind-mounted read-only. The
  private folder is never mounted: it is not in any mount, path or variable of the sandbox.
- ``/home/submission``, ``/home/code``, ``/home/logs``: this run's host folders, writable;
  ``/home/instructions.md`` read-only; ``/tmp`` a size-limited tmpfs; the root filesystem is
  read-only (``read_only_root`` in agent.yaml can turn that off for a scaffold that needs it).
- No network (``network_mode="none"``): only ``lo``. The LLM gateway and ``/validate`` are
  reached through the gateway's Unix socket, mounted read-only at ``/run/rexmle``, and the
  image's PID 1 (``sandbox_init.py``) forwards ``127.0.0.1:7700`` inside the sandbox to it.
- The image's unprivileged user (uid 1000; the invoking uid when the harness is not root),
  all capabilities dropped, ``no-new-privileges``, CPU (``nano_cpus``), memory (swap off),
  ``shm_size``, pids limit; GPUs through ``device_requests`` (Podman: CDI device names),
  either ``budgets.gpus`` of them or exactly those the sweep assigned in
  ``CUDA_VISIBLE_DEVICES``.

The harness keeps the wall clock (stop = SIGTERM, SIGKILL after the grace period), streams
the container's output into ``agent.log``, reads the OOM flag, and removes the container in
every case: when the agent ends, when it is stopped, and (label ``org.rexmle.harness``) at
the next start after a harness that died without cleaning up.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from rexmle.errors import RexmleError
from rexmle.runtime import images
from rexmle.runtime.base import (
    SANDBOX_GATEWAY_PORT,
    SANDBOX_GATEWAY_SOCKET,
    SANDBOX_PATHS,
    SANDBOX_SOCKET_DIR,
    WRITABLE,
    ExitStatus,
    SandboxSpec,
    copy_submission,
    fresh_sandbox,
    grace_s,
    host_layout,
    register,
)

if TYPE_CHECKING:
    import docker

    from rexmle.agent import Agent

POLL_S = 0.25
AGENT_UID = 1000
HARNESS_LABEL = "org.rexmle.harness"
RUN_LABEL = "org.rexmle.run"


@dataclass
class DockerHandle:
    container: Any
    root: Path
    started: float
    log: IO[bytes]
    image: str
    limits: dict[str, Any]
    threads: list[threading.Thread] = field(default_factory=list)
    removed: bool = False


def _proc_start(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def harness_id(pid: int | None = None) -> str:
    """host:pid:start-time of this harness process (a pid alone could be reused)."""
    pid = pid or os.getpid()
    return f"{socket.gethostname()}:{pid}:{_proc_start(pid)}"


def _alive(ident: str) -> bool:
    host, _, rest = ident.partition(":")
    pid, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's container: not ours to judge
    return _proc_start(int(pid)) == start


class DockerRuntime:
    isolation = "container"
    gateway_via_socket = True

    def __init__(self, name: str = "docker", base_url: str | None = None) -> None:
        self.name = name
        self._base_url = base_url
        self._client: docker.DockerClient | None = None
        self._engine: str | None = None

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = images.client(self._base_url)
        return self._client

    @property
    def engine(self) -> str:
        if self._engine is None:
            self._engine = images.engine_name(self.client)
        return self._engine

    @property
    def is_podman(self) -> bool:
        return self.engine.startswith("Podman")

    # -- paths and images ------------------------------------------------------------------
    def agent_paths(self, workdir: Path) -> dict[str, Path]:
        return {k: Path(v) for k, v in SANDBOX_PATHS.items()}

    def host_paths(self, workdir: Path) -> dict[str, Path]:
        return host_layout(workdir)

    def prepare_image(self, agent: Agent, gpus: int, home: Path, log: Path) -> images.ImageRef:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            return images.ensure_agent(
                self.client,
                agent,
                root=images.default_root(),
                accelerator=images.accelerator_for(gpus),
                log=out,
                home=home,
            )

    # -- lifecycle -------------------------------------------------------------------------
    def reap_stale(self) -> list[str]:
        """Remove containers left by harness processes of this host that no longer exist."""
        removed = []
        for c in self.client.containers.list(all=True, filters={"label": HARNESS_LABEL}):
            if not _alive(c.labels.get(HARNESS_LABEL, "")):
                with contextlib.suppress(Exception):
                    c.remove(force=True)
                    removed.append(c.name)
        return removed

    def _remove_named(self, name: str) -> None:
        from docker.errors import NotFound

        with contextlib.suppress(NotFound):
            self.client.containers.get(name).remove(force=True)

    def _device_requests(self, spec: SandboxSpec) -> tuple[list[Any], list[str]]:
        """GPUs: the sweep's assignment (CUDA_VISIBLE_DEVICES) or ``budgets.gpus`` of them."""
        from docker.types import DeviceRequest

        n = spec.budgets.gpus
        if n <= 0:
            return [], []
        assigned = [d for d in spec.env.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
        if self.is_podman:  # Podman's compat API takes CDI names, not device requests
            names = [f"nvidia.com/gpu={d}" for d in assigned] or ["nvidia.com/gpu=all"]
            return [], names
        if assigned:
            return [DeviceRequest(device_ids=assigned, capabilities=[["gpu"]])], []
        return [DeviceRequest(count=n, capabilities=[["gpu"]])], []

    def container_config(self, spec: SandboxSpec) -> dict[str, Any]:
        """The keyword arguments of ``containers.create`` for this sandbox (tested as data)."""
        from docker.types import Mount

        if spec.image is None:
            raise RexmleError("the docker runtime needs an image (Runtime.prepare_image)")
        host = self.host_paths(spec.workdir)
        seen = SANDBOX_PATHS
        mounts = [
            Mount(seen["REXMLE_DATA_DIR"], str(spec.public_dir.resolve()), type="bind", read_only=True),
            Mount(seen["REXMLE_INSTRUCTIONS"], str(host["REXMLE_INSTRUCTIONS"]), type="bind", read_only=True),
            *(Mount(seen[k], str(host[k]), type="bind", read_only=False) for k in WRITABLE),
        ]
        env = dict(spec.env)
        env.pop("CUDA_VISIBLE_DEVICES", None)  # the container sees only its own GPUs, from 0
        if spec.gateway_socket_dir is not None:
            mounts.append(
                Mount(SANDBOX_SOCKET_DIR, str(spec.gateway_socket_dir), type="bind", read_only=True)
            )
            env.update(
                REXMLE_GATEWAY_SOCKET=SANDBOX_GATEWAY_SOCKET, REXMLE_GATEWAY_PORT=str(SANDBOX_GATEWAY_PORT)
            )
        b = spec.budgets
        cpus = max(1, min(b.cpus, os.cpu_count() or 1))
        env.update(
            {k: str(v) for k, v in seen.items()},
            HOME=seen["REXMLE_CODE_DIR"],
            TMPDIR="/tmp",
            OMP_NUM_THREADS=str(cpus),
            MKL_NUM_THREADS=str(cpus),
            OPENBLAS_NUM_THREADS=str(cpus),
        )
        memory = int(b.memory_gb * 2**30)
        requests, cdi = self._device_requests(spec)
        uid = AGENT_UID if os.geteuid() == 0 else os.getuid()
        gid = AGENT_UID if os.geteuid() == 0 else os.getgid()
        config: dict[str, Any] = {
            "image": spec.image,
            "command": list(spec.command),
            "name": f"rexmle-{spec.run_id}",
            "hostname": "sandbox",
            "user": f"{uid}:{gid}",
            "working_dir": seen["REXMLE_CODE_DIR"],
            "environment": env,
            "mounts": mounts,
            "network_mode": "none",
            "nano_cpus": cpus * 10**9,
            "mem_limit": memory,
            "memswap_limit": memory,  # no swap: the limit is the limit
            "shm_size": max(64 * 2**20, memory // 4),
            "pids_limit": b.pids,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "read_only": spec.read_only_root,
            "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={max(64 * 2**20, memory // 4)}"},
            "labels": {HARNESS_LABEL: harness_id(), RUN_LABEL: spec.run_id},
            "detach": True,
        }
        if requests:
            config["device_requests"] = requests
        if cdi:
            config["devices"] = cdi
        return config

    def start(self, spec: SandboxSpec) -> DockerHandle:
        from docker.errors import APIError, ImageNotFound

        self.reap_stale()
        name = f"rexmle-{spec.run_id}"
        self._remove_named(name)  # a previous attempt's leftover (the run lock is ours)
        root = spec.workdir
        fresh_sandbox(root, spec.instructions, AGENT_UID if os.geteuid() == 0 else None)
        config = self.container_config(spec)
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = spec.log_path.open("ab")
        try:
            return self._create_and_start(spec, config, root, log)
        except BaseException as exc:
            # interrupted or refused between create and a returned handle: nothing may outlive us
            # (the create call itself may have made the container before the interrupt)
            self._remove_named(config["name"])
            log.close()
            if isinstance(exc, ImageNotFound):
                raise RexmleError(
                    f"image {spec.image} is not in this engine; `rexmle images build`"
                ) from None
            if isinstance(exc, APIError):
                raise RexmleError(self._explain(exc, spec)) from None
            raise

    def _create_and_start(
        self, spec: SandboxSpec, config: dict[str, Any], root: Path, log: IO[bytes]
    ) -> DockerHandle:
        container = self.client.containers.create(**config)
        handle = DockerHandle(
            container=container,
            root=root,
            started=time.monotonic(),
            log=log,
            image=spec.image or "",
            limits={
                "cpus": config["nano_cpus"] / 1e9,
                "memory_bytes": config["mem_limit"],
                "pids_limit": config["pids_limit"],
                "gpus": spec.budgets.gpus,
                "user": config["user"],
                "network": config["network_mode"],
                "read_only_root": config["read_only"],
            },
        )
        container.start()
        handle.started = time.monotonic()
        thread = threading.Thread(target=self._stream_logs, args=(handle,), daemon=True)
        thread.start()
        handle.threads.append(thread)
        return handle

    def _explain(self, exc: Exception, spec: SandboxSpec) -> str:
        text = " ".join(str(exc).split())
        if spec.budgets.gpus and (
            "device driver" in text or "nvidia" in text.lower() or "cdi" in text.lower()
        ):
            return (
                f"the run asks for {spec.budgets.gpus} GPU(s) but the {self.name} engine cannot provide them "
                f"({text[:160]}); install the NVIDIA Container Toolkit, or run with --gpus 0"
            )
        return f"{self.name} could not start the sandbox: {text[:240]}"

    def _stream_logs(self, handle: DockerHandle) -> None:
        with contextlib.suppress(Exception):
            for chunk in handle.container.logs(stream=True, follow=True, stdout=True, stderr=True):
                handle.log.write(chunk)
                handle.log.flush()

    def _state(self, handle: DockerHandle) -> dict[str, Any]:
        handle.container.reload()
        return dict(handle.container.attrs.get("State") or {})

    def wait(
        self, handle: DockerHandle, timeout: float, should_stop: Callable[[], bool] | None = None
    ) -> ExitStatus:
        end = time.monotonic() + max(0.0, timeout)
        timed_out = stopped = False
        state = self._state(handle)
        while state.get("Status") not in ("exited", "dead"):
            if should_stop is not None and should_stop():
                stopped = True
                break
            if time.monotonic() >= end:
                timed_out = True
                break
            time.sleep(min(POLL_S, max(0.0, end - time.monotonic())))
            state = self._state(handle)
        if timed_out or stopped:
            self._kill(handle)
            state = self._state(handle)
        elapsed = time.monotonic() - handle.started
        code = state.get("ExitCode")
        oom = bool(state.get("OOMKilled"))
        self._remove(handle)
        return ExitStatus(
            exit_code=int(code) if code is not None else None,
            timed_out=timed_out,
            agent_time_s=elapsed,
            stopped=stopped,
            oom_killed=oom,
        )

    def _kill(self, handle: DockerHandle) -> None:
        """SIGTERM to PID 1 (it signals the agent's group), SIGKILL after the grace period."""
        from docker.errors import APIError

        with contextlib.suppress(APIError):
            handle.container.stop(timeout=max(0, round(grace_s())))
        with contextlib.suppress(APIError):
            handle.container.wait(timeout=30)

    def _remove(self, handle: DockerHandle) -> None:
        from docker.errors import APIError, NotFound

        if handle.removed:
            return
        for t in handle.threads:  # a stopped container's log stream ends: read it to the end first
            t.join(timeout=5)
        with contextlib.suppress(NotFound, APIError):
            handle.container.remove(force=True)
        handle.removed = True
        with contextlib.suppress(OSError, ValueError):
            handle.log.flush()
            handle.log.close()

    def stop(self, handle: DockerHandle) -> None:
        if not handle.removed:
            self._kill(handle)
        self._remove(handle)

    def collect(self, handle: DockerHandle, dest: Path) -> None:
        copy_submission(handle.root, dest)

    def info(self, handle: DockerHandle) -> dict[str, Any]:
        image = self.client.images.get(handle.image)
        return {
            "runtime": self.name,
            "isolation": self.isolation,
            "engine": self.engine,
            "container": handle.container.name,
            "image": handle.image,
            "image_id": image.id,
            **handle.limits,
        }


def podman_socket() -> str:
    """Podman's API socket: $REXMLE_PODMAN_SOCKET, the rootless user's, or the system one."""
    given = os.environ.get("REXMLE_PODMAN_SOCKET")
    if given:
        return given if "://" in given else f"unix://{given}"
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if os.geteuid() != 0 and runtime_dir:
        return f"unix://{runtime_dir}/podman/podman.sock"
    return "unix:///run/podman/podman.sock"


@register("docker")
def _docker() -> DockerRuntime:
    return DockerRuntime("docker")


@register("podman")
def _podman() -> DockerRuntime:
    return DockerRuntime("podman", podman_socket())
