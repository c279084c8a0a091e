"""The local runtime: the agent as a host process, isolated with Linux namespaces (bubblewrap).

For laptops, workstations without an engine, CI. ``bwrap`` (Debian/Ubuntu/Fedora package
``bubblewrap``) builds, without root and without an image, a sandbox that shows the agent
what a container would:

- a mount namespace holding only the system's ``/usr`` (and the ``/etc`` files programs need),
  the agent's environment and code read-only, the public data read-only at ``/home/data``, the
  writable sandbox folders at ``/home/submission``, ``/home/code``, ``/home/logs`` and ``/tmp``
  (all on the run's disk folder): nothing of ``$REXMLE_HOME``, the private data or any home;
- a network namespace with loopback only; the gateway's Unix socket is bind-mounted and the
  same PID 1 as in containers (``sandbox_init.py``) forwards ``127.0.0.1:7700`` to it;
- a PID namespace: the harness's ``/proc`` is not visible, and when PID 1 ends (or the harness
  dies: ``--die-with-parent``) every process of the agent ends with it;
- its own user namespace without capabilities (and no further user namespaces).

Results say ``"isolation": "namespace"``. Where ``bwrap`` or unprivileged user namespaces are
missing, the run says loudly that it is not isolated, records ``"isolation": "none"`` and the
report keeps it out of the headline; the agent then runs as a plain process group with a
private *copy* of the public data (never a link into the master). ``rexmle doctor`` says
how to get namespaces.

Enforced here in both modes: wall-clock (SIGTERM to the whole group at the deadline, SIGKILL
after a grace period; process.py), CPU count (affinity + thread env vars), core dumps off, GPU
visibility, an environment rebuilt from an allow-list (no provider keys, no ``REXMLE_HOME``).
Not enforced here: memory and disk (the container runtimes enforce those).
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rexmle.agent import stack_paths
from rexmle.runtime import process
from rexmle.runtime.base import (
    SANDBOX_GATEWAY_PORT,
    SANDBOX_GATEWAY_SOCKET,
    SANDBOX_PATHS,
    SANDBOX_SOCKET_DIR,
    SandboxSpec,
    copy_submission,
    host_layout,
)
from rexmle.runtime.process import ProcessHandle

if TYPE_CHECKING:
    from rexmle.agent import Agent
    from rexmle.runtime.images import ImageRef

PASS_THROUGH = ("LANG", "LC_ALL", "TZ", "TERM", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS")
#: Files of /etc that programs need (name lookup of localhost, users, certificates, the
#: dynamic linker's cache, time zone); nothing else of /etc is shown.
ETC_FILES = (
    "hosts",
    "passwd",
    "group",
    "nsswitch.conf",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "ssl",
    "ca-certificates",
    "alternatives",
    "mime.types",
    "fonts",
)
#: The agents' shared helper module (agents/scaffold_io.py), shown beside an agent's folder.
SHARED_AGENT_MODULE = "scaffold_io.py"
#: Where sandbox_init.py is shown inside the namespace sandbox.
INIT_PATH = "/opt/rexmle/bin/sandbox-init"
#: The uid/gid the agent has inside its user namespace (no capabilities whatever it is).
SANDBOX_UID = 1000
#: The agent's private /tmp, inside the run's sandbox folder on the host.
TMP_DIR = "tmp"


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def namespaces_available() -> str | None:
    """None when bubblewrap can build the sandbox here, else why not (one line, with the fix)."""
    exe = bwrap_path()
    if exe is None:
        return "bubblewrap is not installed (apt-get install bubblewrap / dnf install bubblewrap)"
    return _probe(exe)


@functools.cache
def _probe(exe: str) -> str | None:
    """Build one throwaway sandbox (once per process and bwrap): kernels and security modules
    that refuse unprivileged user namespaces say so only when asked."""
    probe = [exe, *_namespace_flags(), "--ro-bind", "/usr", "/usr", *_usr_links(), "--", "/bin/true"]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap did not run ({type(exc).__name__})"
    if done.returncode != 0:
        words = " ".join(done.stderr.split())[:200]
        return (
            f"bubblewrap cannot create namespaces here ({words}); allow unprivileged user namespaces "
            "(sysctl kernel.unprivileged_userns_clone=1, or on Ubuntu 24.04+ "
            "kernel.apparmor_restrict_unprivileged_userns=0)"
        )
    return None


def _namespace_flags() -> list[str]:
    return [
        "--unshare-user",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_UID),
        "--disable-userns",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "sandbox",
        "--die-with-parent",
        "--cap-drop",
        "ALL",
    ]


def _usr_links() -> list[str]:
    """/bin, /lib, ... as on the host: links into /usr (merged /usr) or read-only binds."""
    out: list[str] = []
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        p = Path("/") / name
        if p.is_symlink():
            out += ["--symlink", os.readlink(p), str(p)]
        elif p.is_dir():
            out += ["--ro-bind", str(p), str(p)]
    return out


def _python_home(interpreter: Path) -> Path | None:
    """The installation a venv's interpreter belongs to (``home`` in pyvenv.cfg), which the
    sandbox must show for the venv's python to start."""
    cfg = interpreter.parent.parent / "pyvenv.cfg"
    if cfg.is_file():
        for line in cfg.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home" and value.strip():
                return Path(value.strip()).resolve().parent
    real = interpreter.resolve()
    return real.parent.parent if real.parent.name == "bin" else None


def _copy_tree(src: Path, dst: Path) -> None:
    """Copy every file of src into dst, which ends read-only. A copy, never a hard link: a link
    shares the master's inode, and its owner can make it writable again."""
    for dirpath, _dirnames, filenames in os.walk(src):
        rel = Path(dirpath).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for name in filenames:
            s, d = Path(dirpath) / name, dst / rel / name
            if s.is_symlink():
                continue
            shutil.copyfile(s, d)
            os.chmod(d, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    for dirpath, _d, _f in os.walk(dst, topdown=False):
        os.chmod(dirpath, 0o555)


def _make_writable(path: Path) -> None:
    for dirpath, _d, _f in os.walk(path):
        with contextlib.suppress(OSError):
            os.chmod(dirpath, 0o755)


def _remove(path: Path) -> None:
    if path.exists():
        _make_writable(path)
        shutil.rmtree(path, ignore_errors=True)


class LocalRuntime(process.ProcessGroupRuntime):
    name = "local"

    def __init__(self) -> None:
        self.unisolated_because = namespaces_available()
        self.isolation = "none" if self.unisolated_because else "namespace"
        self.gateway_via_socket = self.isolation == "namespace"

    def host_paths(self, workdir: Path) -> dict[str, Path]:
        return host_layout(workdir)

    def prepare_image(self, agent: Agent, gpus: int, home: Path, log: Path) -> ImageRef | None:
        return None

    def agent_paths(self, workdir: Path) -> dict[str, Path]:
        if self.isolation == "namespace":
            return {k: Path(v) for k, v in SANDBOX_PATHS.items()}
        return host_layout(workdir)

    def start(self, spec: SandboxSpec) -> ProcessHandle:
        root = spec.workdir
        _remove(root)
        host = host_layout(root)
        for key in ("REXMLE_SUBMISSION_DIR", "REXMLE_CODE_DIR", "REXMLE_LOGS_DIR"):
            host[key].mkdir(parents=True)
        host["REXMLE_INSTRUCTIONS"].write_text(spec.instructions)
        seen = self.agent_paths(root)
        cpus = spec.budgets.cpus
        env = {k: os.environ[k] for k in PASS_THROUGH if k in os.environ}
        env.update(
            PATH=f"{Path(spec.command[0]).parent}:/usr/local/bin:/usr/bin:/bin",
            HOME=str(seen["REXMLE_CODE_DIR"]),
            TMPDIR="/tmp" if self.isolation == "namespace" else str(seen["REXMLE_CODE_DIR"]),
            PYTHONUNBUFFERED="1",
            OMP_NUM_THREADS=str(cpus),
            MKL_NUM_THREADS=str(cpus),
            OPENBLAS_NUM_THREADS=str(cpus),
            CUDA_VISIBLE_DEVICES=spec.env.get(
                "CUDA_VISIBLE_DEVICES", ",".join(str(i) for i in range(spec.budgets.gpus))
            ),
        )
        env.update({k: v for k, v in spec.env.items() if k != "CUDA_VISIBLE_DEVICES"})
        env.update({k: str(v) for k, v in seen.items()})
        available = sorted(os.sched_getaffinity(0))
        affinity = set(available[: max(1, min(cpus, len(available)))])

        def preexec() -> None:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            process.die_with_parent()
            os.sched_setaffinity(0, affinity)

        if self.isolation == "namespace":
            command = self._bwrap(spec, root, host, env)
        else:
            print(
                f"WARNING: the local runtime is NOT isolated: {self.unisolated_because}. The agent can read "
                "anything this user can; the result is recorded with isolation: none.",
                file=sys.stderr,
            )
            _copy_tree(spec.public_dir, host["REXMLE_DATA_DIR"])
            command = list(spec.command)
        return process.spawn(
            command,
            env=env,
            cwd=host["REXMLE_CODE_DIR"],
            log_path=spec.log_path,
            root=root,
            preexec=preexec,
        )

    def _bwrap(self, spec: SandboxSpec, root: Path, host: dict[str, Path], env: dict[str, str]) -> list[str]:
        """The bwrap command line: the mounts of the module docstring, then PID 1 and the agent."""
        exe = bwrap_path()
        assert exe is not None
        (root / TMP_DIR).mkdir()
        args = [exe, *_namespace_flags(), "--ro-bind", "/usr", "/usr", *_usr_links()]
        for name in ETC_FILES:
            if (Path("/etc") / name).exists():
                args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
        args += ["--proc", "/proc", "--dev", "/dev", "--ro-bind", "/sys", "/sys"]
        if spec.budgets.gpus > 0:
            for dev in sorted(Path("/dev").glob("nvidia*")):
                args += ["--dev-bind", str(dev), str(dev)]
        args += ["--bind", str(root / TMP_DIR), "/tmp", "--bind", str(root / TMP_DIR), "/dev/shm"]
        interpreter = Path(spec.command[0])
        shown: list[Path] = []
        for p in (interpreter.parent.parent, _python_home(interpreter)):
            if p is not None and p.is_dir() and str(p) not in ("/usr", "/"):
                shown.append(p)
        # the shared imaging stack the venv is layered on (read-only, as the venv is)
        shown += [p for p in stack_paths(interpreter.parent.parent) if p.is_dir()]
        for part in spec.command[1:]:  # the agent's own folder (its entrypoint script)
            p = Path(part)
            if p.is_absolute() and p.exists():
                shown.append(p.parent if p.is_file() else p)
                # the module every scaffold's launcher shares, beside the agents' folders
                shared = (p.parent if p.is_file() else p).parent / SHARED_AGENT_MODULE
                if shared.is_file():
                    shown.append(shared)
        for p in dict.fromkeys(shown):
            args += ["--ro-bind", str(p), str(p)]
        args += ["--ro-bind", str(spec.public_dir), SANDBOX_PATHS["REXMLE_DATA_DIR"]]
        for key in ("REXMLE_SUBMISSION_DIR", "REXMLE_CODE_DIR", "REXMLE_LOGS_DIR"):
            args += ["--bind", str(host[key]), SANDBOX_PATHS[key]]
        args += ["--ro-bind", str(host["REXMLE_INSTRUCTIONS"]), SANDBOX_PATHS["REXMLE_INSTRUCTIONS"]]
        args += ["--ro-bind", str(Path(__file__).with_name("sandbox_init.py")), INIT_PATH]
        if spec.gateway_socket_dir is not None:
            args += ["--ro-bind", str(spec.gateway_socket_dir), SANDBOX_SOCKET_DIR]
            env["REXMLE_GATEWAY_SOCKET"] = SANDBOX_GATEWAY_SOCKET
            env["REXMLE_GATEWAY_PORT"] = str(SANDBOX_GATEWAY_PORT)
        # the root bwrap builds on is a writable tmpfs: outside the folders above, nothing is
        args += ["--remount-ro", "/", "--chdir", SANDBOX_PATHS["REXMLE_CODE_DIR"], "--"]
        return [*args, str(interpreter), INIT_PATH, *spec.command]

    def collect(self, handle: ProcessHandle, dest: Path) -> None:
        copy_submission(handle.root, dest)
        for name in ("data", TMP_DIR):
            _remove(handle.root / name)

    def info(self, handle: ProcessHandle) -> dict[str, Any]:
        out: dict[str, Any] = {"runtime": self.name, "isolation": self.isolation, "pid": handle.proc.pid}
        if self.unisolated_because:
            out["not_isolated_because"] = self.unisolated_because
        return out
