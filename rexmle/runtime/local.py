"""The local runtime: the agent as a subprocess in its own session / process group.

For development and CI. Results say ``"isolation": "none"``: the process runs with the
harness's user and could read anything that user can. What the harness *hands* it is
clean: a sandbox folder per run whose ``data/`` holds hard links (or copies) of the
public files only, made read-only, environment variables naming only that sandbox, and an
environment rebuilt from an allow-list (no provider keys, no ``REXMLE_HOME``).

Enforced here: wall-clock (SIGTERM to the whole group at the deadline, SIGKILL after a
grace period), CPU count (affinity + thread env vars), core dumps off, GPU visibility.
Not enforced here: memory and disk (the docker runtime enforces those).
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rexmle.runtime.base import ExitStatus, SandboxSpec, register

PASS_THROUGH = ("LANG", "LC_ALL", "TZ", "TERM", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS")
DEFAULT_GRACE_S = 10.0
POLL_S = 0.25


@dataclass
class LocalHandle:
    proc: subprocess.Popen[bytes]
    root: Path
    started: float
    log: Any


def _link_tree(src: Path, dst: Path) -> None:
    """Hard-link (copy across devices) every file of src into dst; dst ends read-only."""
    for dirpath, _dirnames, filenames in os.walk(src):
        rel = Path(dirpath).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for name in filenames:
            s, d = Path(dirpath) / name, dst / rel / name
            if s.is_symlink():
                continue
            try:
                os.link(s, d)
            except OSError:
                shutil.copy2(s, d)
            os.chmod(d, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    for dirpath, _d, _f in os.walk(dst, topdown=False):
        os.chmod(dirpath, 0o555)


def _make_writable(path: Path) -> None:
    for dirpath, _d, _f in os.walk(path):
        with contextlib.suppress(OSError):
            os.chmod(dirpath, 0o755)


class LocalRuntime:
    name = "local"
    isolation = "none"

    def agent_paths(self, workdir: Path) -> dict[str, Path]:
        return {
            "REXMLE_DATA_DIR": workdir / "data",
            "REXMLE_SUBMISSION_DIR": workdir / "submission",
            "REXMLE_CODE_DIR": workdir / "code",
            "REXMLE_LOGS_DIR": workdir / "logs",
            "REXMLE_INSTRUCTIONS": workdir / "instructions.md",
        }

    def start(self, spec: SandboxSpec) -> LocalHandle:
        root = spec.workdir
        if root.exists():
            _make_writable(root)
            shutil.rmtree(root)
        dirs = self.agent_paths(root)
        for key in ("REXMLE_SUBMISSION_DIR", "REXMLE_CODE_DIR", "REXMLE_LOGS_DIR"):
            dirs[key].mkdir(parents=True)
        _link_tree(spec.public_dir, dirs["REXMLE_DATA_DIR"])
        dirs["REXMLE_INSTRUCTIONS"].write_text(spec.instructions)
        cpus = spec.budgets.cpus
        env = {k: os.environ[k] for k in PASS_THROUGH if k in os.environ}
        env.update(
            PATH=f"{Path(spec.command[0]).parent}:/usr/local/bin:/usr/bin:/bin",
            HOME=str(dirs["REXMLE_CODE_DIR"]),
            TMPDIR=str(dirs["REXMLE_CODE_DIR"]),
            PYTHONUNBUFFERED="1",
            OMP_NUM_THREADS=str(cpus),
            MKL_NUM_THREADS=str(cpus),
            OPENBLAS_NUM_THREADS=str(cpus),
            CUDA_VISIBLE_DEVICES=spec.env.get(
                "CUDA_VISIBLE_DEVICES", ",".join(str(i) for i in range(spec.budgets.gpus))
            ),
        )
        env.update({k: v for k, v in spec.env.items() if k != "CUDA_VISIBLE_DEVICES"})
        env.update({k: str(v) for k, v in dirs.items()})
        available = sorted(os.sched_getaffinity(0))
        affinity = set(available[: max(1, min(cpus, len(available)))])

        def preexec() -> None:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            os.sched_setaffinity(0, affinity)

        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = spec.log_path.open("ab")
        proc = subprocess.Popen(
            spec.command,
            cwd=dirs["REXMLE_CODE_DIR"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec,
        )
        return LocalHandle(proc=proc, root=root, started=time.monotonic(), log=log)

    def wait(
        self, handle: LocalHandle, timeout: float, should_stop: Callable[[], bool] | None = None
    ) -> ExitStatus:
        end = time.monotonic() + max(0.0, timeout)
        code: int | None = None
        timed_out = stopped = False
        while True:
            left = end - time.monotonic()
            try:
                code = handle.proc.wait(timeout=max(0.0, min(left, POLL_S)))
                break
            except subprocess.TimeoutExpired:
                pass
            if should_stop is not None and should_stop():
                stopped = True
                break
            if left <= POLL_S:
                timed_out = True
                break
        if timed_out or stopped:
            self.stop(handle)
            code = handle.proc.returncode
        else:
            self._kill_group(handle, signal.SIGKILL)  # reap anything the agent left behind
        elapsed = time.monotonic() - handle.started
        handle.log.close()
        return ExitStatus(exit_code=code, timed_out=timed_out, agent_time_s=elapsed, stopped=stopped)

    def _kill_group(self, handle: LocalHandle, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(handle.proc.pid, sig)

    def stop(self, handle: LocalHandle) -> None:
        """SIGTERM the whole process group, then SIGKILL after the grace period."""
        self._kill_group(handle, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            handle.proc.wait(timeout=float(os.environ.get("REXMLE_STOP_GRACE_S", DEFAULT_GRACE_S)))
        self._kill_group(handle, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            handle.proc.wait(timeout=10)

    def collect(self, handle: LocalHandle, dest: Path) -> None:
        """Copy the submission out (symlinks kept as links, so escapes stay detectable)."""
        if dest.exists():
            shutil.rmtree(dest)
        src = handle.root / "submission"
        if src.is_dir():
            shutil.copytree(src, dest, symlinks=True)
        else:
            dest.mkdir(parents=True)
        data = handle.root / "data"
        if data.exists():
            _make_writable(data)
            shutil.rmtree(data, ignore_errors=True)

    def info(self, handle: LocalHandle) -> dict[str, Any]:
        return {"runtime": self.name, "isolation": self.isolation, "pid": handle.proc.pid}


@register("local")
def _factory() -> LocalRuntime:
    return LocalRuntime()
