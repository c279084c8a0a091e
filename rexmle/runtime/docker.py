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

A harness can die without a chance to stop anything (SIGKILL, a lost node), so the sandbox's
PID 1 stops the agent by itself: at the deadline (plus a second: the harness, alive, acts
first), or once the harness has not touched the heartbeat file it mounts read-only at
``/run/rexmle-harness`` for ``$REXMLE_ORPHAN_AFTER_S`` (60 s); SIGKILL follows SIGTERM after the
grace period and the container ends. Its remains are removed at the next start.

Disk (``budgets.disk_gb``, GiB): no one file may be larger than the budget (``RLIMIT_FSIZE``;
Docker only), and while the agent runs a thread measures what the sandbox holds, every half second (less
often for a big tree: a scan may take 5 % of the time): the blocks of the writable folders
(hard links once), the container's writable tmpfs mounts but ``/dev/shm`` (``/tmp`` is no
larger than the budget; read through ``/proc/<pid>``), its writable layer when the root is
writable (there ``--storage-opt size=`` is also asked for, where the storage driver supports
it), and the output streamed into ``agent.log``. Over the budget the agent is killed at once
(SIGKILL, no grace: a grace would let it write on) and ExitStatus says ``disk_exceeded``. A
fast writer gets past the budget by what it writes between two measurements: about (poll
interval + scan time + kill latency) x its write rate. Then what it wrote is deleted from the
host: code, output past the first MiB, logs but small files, and the submission once
collected (at once when it alone is over the budget: that is never graded).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
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
)

if TYPE_CHECKING:
    import docker

    from rexmle.agent import Agent

POLL_S = 0.25
AGENT_UID = 1000
HARNESS_LABEL = "org.rexmle.harness"
RUN_LABEL = "org.rexmle.run"
#: The sandbox's PID 1 stops the agent this long after the harness's deadline (the harness, if
#: alive, stops it first and reads the outcome).
INIT_SLACK_S = 1.0
#: Seconds without a heartbeat after which PID 1 takes the harness for dead ($REXMLE_ORPHAN_AFTER_S).
DEFAULT_ORPHAN_AFTER_S = 60.0
#: Where the heartbeat folder is mounted in the sandbox (read-only).
HEARTBEAT_DIR = "/run/rexmle-harness"
#: Shortest and longest pause between two disk measurements; a scan may take DISK_SCAN_SHARE
#: of the time (a big tree is measured less often).
DISK_POLL_S = 0.5
DISK_POLL_MAX_S = 30.0
DISK_SCAN_SHARE = 0.05
#: After an over-budget run: logs files kept (each at most, all together at most), and how much
#: of this run's agent.log.
KEEP_LOG_FILE = 2**20
KEEP_LOGS_TOTAL = 8 * 2**20
KEEP_AGENT_LOG = 2**20
#: Engines (by API address) whose storage driver refused ``--storage-opt size=``.
_NO_STORAGE_OPT: set[str] = set()


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
    #: The harness's deadline (epoch seconds); PID 1 enforces it INIT_SLACK_S later.
    kill_at: float = math.inf
    log_path: Path | None = None
    log_start: int = 0  # where this run's output starts in agent.log (it appends)
    logged: int = 0  # bytes of output written into agent.log by this run
    disk_limit: int = 2**62
    read_only_root: bool = True
    #: The container's PID 1 on the host and its start time (to read /tmp through /proc).
    pid: int | None = None
    pid_start: str | None = None
    heartbeat: Heartbeat | None = None
    disk_exceeded: bool = False


class Heartbeat:
    """Touches a file every ``period`` seconds while the harness lives (a daemon thread: it
    dies with the harness, which is the point). The sandbox's PID 1 watches its mtime."""

    def __init__(self, path: Path, period: float) -> None:
        self.path = path
        self.period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rexmle-heartbeat")

    def beat(self) -> None:
        now = time.time()  # this machine's clock, as in the sandbox (not a file server's)
        with contextlib.suppress(OSError):
            os.utime(self.path, (now, now))

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.beat()

    def start(self) -> None:
        self.beat()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()


def orphan_after_s() -> float:
    return float(os.environ.get("REXMLE_ORPHAN_AFTER_S", DEFAULT_ORPHAN_AFTER_S))


def heartbeat_file(workdir: Path) -> Path:
    """The heartbeat file of a sandbox on the host (its folder is mounted at HEARTBEAT_DIR)."""
    return workdir / "harness" / "alive"


# -- disk --------------------------------------------------------------------------------------
def tree_bytes(roots: Iterable[Path]) -> int:
    """Bytes allocated on disk under ``roots`` (st_blocks: a sparse file counts what it holds;
    a hard link once; symlinks are not followed). Unreadable folders of ours are made readable."""
    total = 0
    seen: set[tuple[int, int]] = set()
    stack = [str(r) for r in roots]
    while stack:
        top = stack.pop()
        try:
            entries = _entries(top)
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                stack.append(entry.path)
            elif st.st_nlink > 1:
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    continue
                seen.add(key)
            total += st.st_blocks * 512
    return total


def _entries(folder: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as it:
            return list(it)
    except PermissionError:  # an agent hiding a folder (chmod 000) that runs as our own uid
        st = os.lstat(folder)
        if st.st_uid != os.geteuid() or not stat.S_ISDIR(st.st_mode):
            raise
        os.chmod(folder, stat.S_IMODE(st.st_mode) | stat.S_IRWXU)
        with os.scandir(folder) as it:
            return list(it)


def _writable_dirs_of(path: Path) -> None:
    """Give the owner rwx on every folder under ``path`` (never through a symlink)."""
    for dirpath, dirnames, _files in os.walk(path):
        for name in dirnames:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                with contextlib.suppress(OSError):
                    os.chmod(p, stat.S_IRWXU)


def wipe(path: Path, keep_root: bool = True) -> None:
    """Delete what ``path`` holds (and ``path`` itself unless ``keep_root``), never following a
    symlink out of it. Only for a sandbox whose agent has ended."""
    if path.is_symlink() or not path.exists():
        path.unlink(missing_ok=True)
        return
    if not path.is_dir():
        path.unlink()
        return
    with contextlib.suppress(OSError):
        os.chmod(path, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    _writable_dirs_of(path)
    for entry in _entries(str(path)):
        with contextlib.suppress(FileNotFoundError):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
    if not keep_root:
        path.rmdir()


def trim_logs(folder: Path, keep_file: int = KEEP_LOG_FILE, keep_total: int = KEEP_LOGS_TOTAL) -> None:
    """Keep the small files of a logs folder (each at most ``keep_file``, the smallest first up
    to ``keep_total`` in all); delete the rest. Symlinks are removed, never followed."""
    if not folder.is_dir() or folder.is_symlink():
        return
    _writable_dirs_of(folder)
    files: list[tuple[int, str]] = []
    for dirpath, _dirnames, names in os.walk(folder):
        for name in names:
            p = os.path.join(dirpath, name)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
                files.append((st.st_blocks * 512, p))
            else:  # symlinks, fifos, hard links to elsewhere: not logs worth keeping
                with contextlib.suppress(OSError):
                    os.unlink(p)
    kept = 0
    for size, p in sorted(files):
        if size <= keep_file and kept + size <= keep_total:
            kept += size
            continue
        with contextlib.suppress(OSError):
            os.unlink(p)


#: tmpfs mounts not counted: devices, and shared memory (IPC, sized by ``shm_size``).
_NOT_SCRATCH = ("/dev", "/dev/shm")


def writable_tmpfs(mountinfo: str) -> list[str]:
    """The read-write tmpfs mount points of a ``/proc/<pid>/mountinfo`` (one per instance):
    the container's scratch in memory (``/tmp``; Podman adds ``/run`` and ``/var/tmp``)."""
    points: dict[str, str] = {}
    for line in mountinfo.splitlines():
        head, sep, tail = line.partition(" - ")
        fields, after = head.split(), tail.split()
        if not sep or len(fields) < 6 or not after or after[0] != "tmpfs":
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
        if (
            "rw" in fields[5].split(",")
            and point not in _NOT_SCRATCH
            and not point.startswith(("/sys", "/proc"))
        ):
            points.setdefault(fields[2], point)  # major:minor: a tmpfs mounted twice counts once
    return list(points.values())


def tmpfs_used(pid: int | None, pid_start: str | None) -> int:
    """Bytes in use on the writable tmpfs mounts of the container whose PID 1 is ``pid``, read
    through ``/proc/<pid>`` (0 when unreadable: a rootless engine, a container that has ended)."""
    if pid is None or _proc_start(pid) != pid_start:  # gone, or a reused pid
        return 0
    try:
        points = writable_tmpfs(Path(f"/proc/{pid}/mountinfo").read_text())
    except OSError:
        return 0
    used = 0
    for point in points:
        with contextlib.suppress(OSError):
            st = os.statvfs(f"/proc/{pid}/root{point}")
            used += (st.f_blocks - st.f_bfree) * st.f_frsize
    return used


class DiskWatch:
    """A thread that measures ``measure()`` until it is over ``limit`` (then it calls
    ``on_exceeded``, sets ``exceeded`` and stops) or until ``stop``. Between two measurements it
    waits DISK_POLL_S, or longer when a scan is slow (a scan takes at most DISK_SCAN_SHARE of
    its time)."""

    def __init__(
        self, measure: Callable[[], int], limit: int, on_exceeded: Callable[[], None] | None = None
    ) -> None:
        self.measure = measure
        self.limit = limit
        self.on_exceeded = on_exceeded
        self.used: int | None = None
        self.exceeded = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rexmle-disk")

    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = time.monotonic()
            with contextlib.suppress(Exception):  # a failed measurement is retried next time
                self.used = self.measure()
            took = time.monotonic() - t0
            if self.used is not None and self.used > self.limit:
                if self.on_exceeded is not None:  # at once, from here: every instant is written on
                    with contextlib.suppress(Exception):
                        self.on_exceeded()
                self.exceeded.set()
                return
            self._stop.wait(min(DISK_POLL_MAX_S, max(DISK_POLL_S, took / DISK_SCAN_SHARE)))

    def start(self) -> DiskWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?")


def _finished_at(state: dict[str, Any]) -> float | None:
    """The engine's FinishedAt (RFC 3339, nanoseconds) as epoch seconds (None: not finished)."""
    m = _RFC3339.fullmatch(str(state.get("FinishedAt") or "").strip())
    if m is None or m.group(1).startswith("0001-"):
        return None
    base, frac, tz = m.groups()
    when = datetime.fromisoformat(base + (tz if tz and tz != "Z" else "+00:00")).timestamp()
    return when + float(f"0.{frac}") if frac else when


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

    def container_config(self, spec: SandboxSpec, deadline: float | None = None) -> dict[str, Any]:
        """The keyword arguments of ``containers.create`` for this sandbox (tested as data).
        ``deadline``: the harness's, in epoch seconds (default: now plus the wall-time budget)."""
        from docker.types import Mount, Ulimit

        if spec.image is None:
            raise RexmleError("the docker runtime needs an image (Runtime.prepare_image)")
        host = self.host_paths(spec.workdir)
        seen = SANDBOX_PATHS
        mounts = [
            Mount(seen["REXMLE_DATA_DIR"], str(spec.public_dir.resolve()), type="bind", read_only=True),
            Mount(seen["REXMLE_INSTRUCTIONS"], str(host["REXMLE_INSTRUCTIONS"]), type="bind", read_only=True),
            *(Mount(seen[k], str(host[k]), type="bind", read_only=False) for k in WRITABLE),
            Mount(HEARTBEAT_DIR, str(heartbeat_file(spec.workdir).parent), type="bind", read_only=True),
        ]
        b = spec.budgets
        cpus = max(1, min(b.cpus, os.cpu_count() or 1))
        env = self._container_env(spec, mounts, cpus, deadline)
        memory = int(b.memory_gb * 2**30)
        disk = int(b.disk_gb * 2**30)
        tmp = min(max(64 * 2**20, memory // 4), max(16 * 2**20, disk))  # counted in the disk budget
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
            "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={tmp}"},
            "labels": {HARNESS_LABEL: harness_id(), RUN_LABEL: spec.run_id},
            "detach": True,
        }
        if not self.is_podman:
            # no one file larger than the whole disk budget (the kernel's EFBIG, not a poll).
            # Not on Podman: any --ulimit there drops containers.conf's default_ulimits, and
            # its own nofile default is above the hard limit where it lacks CAP_SYS_RESOURCE.
            config["ulimits"] = [Ulimit(name="fsize", soft=disk, hard=disk)]
        if not spec.read_only_root:  # a writable layer: capped by the engine where it can
            config["storage_opt"] = {"size": str(disk)}
        if requests:
            config["device_requests"] = requests
        if cdi:
            config["devices"] = cdi
        return config

    def _container_env(
        self, spec: SandboxSpec, mounts: list[Any], cpus: int, deadline: float | None
    ) -> dict[str, str]:
        """The container's environment: the run's, the gateway socket (mounted into ``mounts``),
        PID 1's deadline and heartbeat, the sandbox paths and thread counts for ``cpus``."""
        from docker.types import Mount

        seen = SANDBOX_PATHS
        env = dict(spec.env)
        env.pop("CUDA_VISIBLE_DEVICES", None)  # the container sees only its own GPUs, from 0
        if spec.gateway_socket_dir is not None:
            mounts.append(
                Mount(SANDBOX_SOCKET_DIR, str(spec.gateway_socket_dir), type="bind", read_only=True)
            )
            env.update(
                REXMLE_GATEWAY_SOCKET=SANDBOX_GATEWAY_SOCKET, REXMLE_GATEWAY_PORT=str(SANDBOX_GATEWAY_PORT)
            )
        if deadline is None:
            deadline = time.time() + spec.budgets.wall_time_s
        env.update(  # for the sandbox's PID 1 only (it keeps them from the agent)
            REXMLE_INIT_DEADLINE=f"{deadline + INIT_SLACK_S:.3f}",
            REXMLE_INIT_GRACE_S=f"{grace_s():g}",
            REXMLE_INIT_HEARTBEAT=f"{HEARTBEAT_DIR}/{heartbeat_file(spec.workdir).name}",
            REXMLE_INIT_ORPHAN_AFTER_S=f"{orphan_after_s():g}",
        )
        env.update(
            {k: str(v) for k, v in seen.items()},
            HOME=seen["REXMLE_CODE_DIR"],
            TMPDIR="/tmp",
            OMP_NUM_THREADS=str(cpus),
            MKL_NUM_THREADS=str(cpus),
            OPENBLAS_NUM_THREADS=str(cpus),
        )
        return env

    def start(self, spec: SandboxSpec) -> DockerHandle:
        from docker.errors import APIError, ImageNotFound

        self.reap_stale()
        name = f"rexmle-{spec.run_id}"
        self._remove_named(name)  # a previous attempt's leftover (the run lock is ours)
        root = spec.workdir
        fresh_sandbox(root, spec.instructions, AGENT_UID if os.geteuid() == 0 else None)
        beat = heartbeat_file(root)
        beat.parent.mkdir(mode=0o755)
        beat.touch(mode=0o644)
        config = self.container_config(spec, deadline=time.time() + spec.budgets.wall_time_s)
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

    def _create(self, config: dict[str, Any]) -> Any:
        """``containers.create``; without ``storage_opt`` where the storage driver refuses it
        (overlay2 needs xfs with pquota for a size; the disk watch measures the layer anyway)."""
        from docker.errors import APIError

        key = self._base_url or self.name
        if "storage_opt" in config and key in _NO_STORAGE_OPT:
            config = {k: v for k, v in config.items() if k != "storage_opt"}
        if "storage_opt" not in config:
            return self.client.containers.create(**config)
        try:
            return self.client.containers.create(**config)
        except APIError:
            self._remove_named(config["name"])
            plain = {k: v for k, v in config.items() if k != "storage_opt"}
            container = self.client.containers.create(**plain)  # fails again for any other reason
            _NO_STORAGE_OPT.add(key)
            return container

    def _create_and_start(
        self, spec: SandboxSpec, config: dict[str, Any], root: Path, log: IO[bytes]
    ) -> DockerHandle:
        container = self._create(config)
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
                "disk_bytes": int(spec.budgets.disk_gb * 2**30),
            },
            kill_at=float(config["environment"]["REXMLE_INIT_DEADLINE"]) - INIT_SLACK_S,
            log_path=spec.log_path,
            log_start=log.tell(),
            disk_limit=int(spec.budgets.disk_gb * 2**30),
            read_only_root=bool(config["read_only"]),
        )
        container.start()
        handle.started = time.monotonic()
        # (the file is fresh from start(); PID 1 also counts the silence from its own start)
        handle.heartbeat = Heartbeat(heartbeat_file(root), max(0.2, min(5.0, orphan_after_s() / 6)))
        handle.heartbeat.start()
        with contextlib.suppress(Exception):
            container.reload()
            handle.pid = int(container.attrs["State"]["Pid"]) or None
            handle.pid_start = _proc_start(handle.pid) if handle.pid else None
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
        """Copy the container's output into agent.log, up to the disk budget (it counts there)."""
        with contextlib.suppress(Exception):
            for chunk in handle.container.logs(stream=True, follow=True, stdout=True, stderr=True):
                if handle.logged > handle.disk_limit:
                    continue  # the disk watch stops the agent; read on to the end
                handle.log.write(chunk)
                handle.log.flush()
                handle.logged += len(chunk)

    def _state(self, handle: DockerHandle) -> dict[str, Any]:
        handle.container.reload()
        return dict(handle.container.attrs.get("State") or {})

    def disk_used(self, handle: DockerHandle) -> int:
        """What the sandbox holds now, in bytes: see the module's docstring."""
        used = tree_bytes(host_layout(handle.root)[k] for k in WRITABLE) + handle.logged
        used += tmpfs_used(handle.pid, handle.pid_start)
        if not handle.read_only_root and not handle.removed:
            with contextlib.suppress(Exception):  # `docker ps --size` of this one container
                (row,) = self.client.api.containers(all=True, size=True, filters={"id": handle.container.id})
                used += int(row.get("SizeRw") or 0)
        return used

    def wait(
        self, handle: DockerHandle, timeout: float, should_stop: Callable[[], bool] | None = None
    ) -> ExitStatus:
        # the harness's deadline: ``timeout`` from now, but no later than the one PID 1 knows
        end = time.monotonic() + max(0.0, min(timeout, handle.kill_at - time.time()))
        timed_out = stopped = disk = False
        watch = DiskWatch(
            lambda: self.disk_used(handle), handle.disk_limit, on_exceeded=lambda: self._kill_now(handle)
        ).start()
        try:
            state = self._state(handle)
            while state.get("Status") not in ("exited", "dead"):
                if watch.exceeded.is_set():
                    disk = True
                    break
                if should_stop is not None and should_stop():
                    stopped = True
                    break
                if time.monotonic() >= end:
                    timed_out = True
                    break
                watch.exceeded.wait(min(POLL_S, max(0.0, end - time.monotonic())))
                state = self._state(handle)
        finally:
            watch.stop()
        # the watch kills at once: the loop may first have seen the container exited
        disk = disk or watch.exceeded.is_set()
        if disk:
            self._kill_now(handle)  # done already by the watch; this waits for the end
        elif timed_out or stopped:
            self._kill(handle)
        state = self._state(handle) if disk or timed_out or stopped else state
        finished = _finished_at(state)
        if not (disk or timed_out or stopped) and finished is not None and finished >= handle.kill_at:
            timed_out = True  # the agent was still running at the deadline (PID 1 stopped it)
        elapsed = time.monotonic() - handle.started
        code = state.get("ExitCode")
        oom = bool(state.get("OOMKilled"))
        self._remove(handle)
        used = watch.used
        if not disk:  # a last look: it may have gone over between two measurements, then ended
            with contextlib.suppress(OSError):
                used = self.disk_used(handle)
            disk = used is not None and used > handle.disk_limit
        if disk:
            self._over_budget(handle, used)
        return ExitStatus(
            exit_code=int(code) if code is not None else None,
            timed_out=timed_out,
            agent_time_s=elapsed,
            stopped=stopped,
            oom_killed=oom,
            disk_exceeded=disk,
            disk_used_bytes=used,
        )

    def _kill(self, handle: DockerHandle) -> None:
        """SIGTERM to PID 1 (it signals the agent's group), SIGKILL after the grace period."""
        from docker.errors import APIError

        with contextlib.suppress(APIError):
            handle.container.stop(timeout=max(0, round(grace_s())))
        with contextlib.suppress(APIError):
            handle.container.wait(timeout=30)

    def _kill_now(self, handle: DockerHandle) -> None:
        """SIGKILL to PID 1: the whole sandbox ends at once (no grace to write more in)."""
        from docker.errors import APIError

        with contextlib.suppress(APIError):
            handle.container.kill()
        with contextlib.suppress(APIError):
            handle.container.wait(timeout=30)

    def _over_budget(self, handle: DockerHandle, used: int | None) -> None:
        """Delete what an over-budget agent wrote (the agent has ended): its code folder, logs
        but small files, agent.log past its first MiB, and its submission if that alone is over
        the budget (else ``collect`` takes it first)."""
        handle.disk_exceeded = True
        host = host_layout(handle.root)
        with contextlib.suppress(OSError):
            wipe(host["REXMLE_CODE_DIR"])
        with contextlib.suppress(OSError):
            trim_logs(host["REXMLE_LOGS_DIR"])
        with contextlib.suppress(OSError):
            if tree_bytes([host["REXMLE_SUBMISSION_DIR"]]) > handle.disk_limit:
                wipe(host["REXMLE_SUBMISSION_DIR"])
        if handle.log_path is not None:
            with contextlib.suppress(OSError), handle.log_path.open("r+b") as f:
                f.truncate(min(f.seek(0, os.SEEK_END), handle.log_start + KEEP_AGENT_LOG))
                f.seek(0, os.SEEK_END)
                gib = f"{used / 2**30:.2f} GiB" if used is not None else "more"
                f.write(
                    f"\n[rexmle] disk budget exceeded: the sandbox held {gib} of "
                    f"{handle.disk_limit / 2**30:g} GiB; the agent was killed and its files "
                    "deleted (output past the first MiB, code, large logs).\n".encode()
                )

    def _remove(self, handle: DockerHandle) -> None:
        from docker.errors import APIError, NotFound

        if handle.removed:
            return
        for t in handle.threads:  # a stopped container's log stream ends: read it to the end first
            t.join(timeout=5)
        with contextlib.suppress(NotFound, APIError):
            handle.container.remove(force=True)
        handle.removed = True
        if handle.heartbeat is not None:
            handle.heartbeat.stop()
        with contextlib.suppress(OSError, ValueError):
            handle.log.flush()
            handle.log.close()

    def stop(self, handle: DockerHandle) -> None:
        if not handle.removed:
            self._kill(handle)
        self._remove(handle)

    def collect(self, handle: DockerHandle, dest: Path) -> None:
        copy_submission(handle.root, dest)
        if handle.disk_exceeded:  # collected: the over-budget sandbox keeps nothing but logs
            with contextlib.suppress(OSError):
                wipe(host_layout(handle.root)["REXMLE_SUBMISSION_DIR"])

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
