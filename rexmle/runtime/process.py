"""An agent as a host process group: the part the local and Apptainer runtimes share.

The agent runs in its own session, so one signal reaches everything it started. The harness
enforces the wall clock here: at the deadline (or when ``should_stop`` says so, e.g. the LLM
budget is spent) the group gets SIGTERM, then SIGKILL after the grace period.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from rexmle.runtime.base import ExitStatus, grace_s

POLL_S = 0.25
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass
class ProcessHandle:
    proc: subprocess.Popen[bytes]
    root: Path
    started: float
    log: IO[bytes]
    extra: dict[str, Any] = field(default_factory=dict)


def die_with_parent() -> None:
    """In a forked child before exec: SIGKILL this process when the harness thread that forked it
    dies (``PR_SET_PDEATHSIG``). The agent has its own session, so without this a harness killed
    by SIGKILL (a node failure, a sweep worker shot down) would leave the agent running and
    writing into a sandbox that a resumed run is about to wipe."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def spawn(
    command: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    log_path: Path,
    root: Path,
    preexec: Callable[[], None] | None = None,
) -> ProcessHandle:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("ab")
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=preexec,
    )
    return ProcessHandle(proc=proc, root=root, started=time.monotonic(), log=log)


def kill_group(handle: ProcessHandle, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(handle.proc.pid, sig)


def stop(handle: ProcessHandle) -> None:
    """SIGTERM the whole process group, then SIGKILL after the grace period."""
    kill_group(handle, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        handle.proc.wait(timeout=grace_s())
    kill_group(handle, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        handle.proc.wait(timeout=10)


def wait(handle: ProcessHandle, timeout: float, should_stop: Callable[[], bool] | None = None) -> ExitStatus:
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
        stop(handle)
        code = handle.proc.returncode
    else:
        kill_group(handle, signal.SIGKILL)  # reap anything the agent left behind
    elapsed = time.monotonic() - handle.started
    handle.log.close()
    return ExitStatus(exit_code=code, timed_out=timed_out, agent_time_s=elapsed, stopped=stopped)


class ProcessGroupRuntime:
    """``wait`` and ``stop`` of a runtime whose agent is a host process group (local, apptainer)."""

    def wait(
        self, handle: ProcessHandle, timeout: float, should_stop: Callable[[], bool] | None = None
    ) -> ExitStatus:
        return wait(handle, timeout, should_stop)

    def stop(self, handle: ProcessHandle) -> None:
        stop(handle)
