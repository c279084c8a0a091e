"""The runtime Protocol and its registry.

Every backend presents the same four paths to the agent (data read-only, submission,
code, logs) plus the instructions file, and the same environment variables, so an agent's
entrypoint does not know where it runs. The harness, not the agent, enforces the
wall-clock budget: ``wait`` returns at the deadline and ``stop`` kills everything the agent
started. Backends never receive the private directory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from rexmle.challenge import Budgets

if TYPE_CHECKING:
    from rexmle.agent import Agent
    from rexmle.runtime.images import ImageRef

#: What the agent sees, identical in every runtime (container paths; local maps them).
SANDBOX_PATHS = {
    "REXMLE_DATA_DIR": "/home/data",
    "REXMLE_SUBMISSION_DIR": "/home/submission",
    "REXMLE_CODE_DIR": "/home/code",
    "REXMLE_LOGS_DIR": "/home/logs",
    "REXMLE_INSTRUCTIONS": "/home/instructions.md",
}
#: Container runtimes reach the gateway through its Unix socket, bind-mounted here, and an
#: in-sandbox forwarder (sandbox_init.py) serving it on this loopback port.
SANDBOX_SOCKET_DIR = "/run/rexmle"
SANDBOX_GATEWAY_SOCKET = f"{SANDBOX_SOCKET_DIR}/gateway.sock"
SANDBOX_GATEWAY_PORT = 7700
#: Seconds between SIGTERM and SIGKILL when the harness stops an agent (REXMLE_STOP_GRACE_S).
DEFAULT_GRACE_S = 3.0


def grace_s() -> float:
    import os

    return float(os.environ.get("REXMLE_STOP_GRACE_S", DEFAULT_GRACE_S))


def host_layout(workdir: Path) -> dict[str, Path]:
    """Where a run's sandbox folders live on the host (keys of SANDBOX_PATHS). The local runtime
    shows the agent these paths; container runtimes mount them at SANDBOX_PATHS (except data:
    containers mount the public folder itself)."""
    return {
        "REXMLE_DATA_DIR": workdir / "data",
        "REXMLE_SUBMISSION_DIR": workdir / "submission",
        "REXMLE_CODE_DIR": workdir / "code",
        "REXMLE_LOGS_DIR": workdir / "logs",
        "REXMLE_INSTRUCTIONS": workdir / "instructions.md",
    }


#: The sandbox folders the agent may write (container runtimes mount them read-write).
WRITABLE = ("REXMLE_SUBMISSION_DIR", "REXMLE_CODE_DIR", "REXMLE_LOGS_DIR")


def fresh_sandbox(workdir: Path, instructions: str, owner: int | None = None) -> dict[str, Path]:
    """A clean sandbox folder for a container runtime: the writable folders (owned by ``owner``
    when given, the sandbox's uid) and the instructions file; returns ``host_layout``."""
    import os
    import shutil

    if workdir.exists():
        shutil.rmtree(workdir)
    host = host_layout(workdir)
    for key in WRITABLE:
        host[key].mkdir(parents=True)
        if owner is not None:
            os.chown(host[key], owner, owner)
    host["REXMLE_INSTRUCTIONS"].write_text(instructions)
    return host


def copy_submission(workdir: Path, dest: Path) -> None:
    """Copy the sandbox's submission folder to ``dest`` (symlinks kept as links, so an escape
    stays detectable by the grader)."""
    import shutil

    if dest.exists():
        shutil.rmtree(dest)
    src = host_layout(workdir)["REXMLE_SUBMISSION_DIR"]
    if src.is_dir():
        shutil.copytree(src, dest, symlinks=True)
    else:
        dest.mkdir(parents=True)


class SandboxSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    command: list[str]
    env: dict[str, str]  # agent settings (no paths: the runtime adds those)
    public_dir: Path  # prepared public data (mounted/linked read-only)
    workdir: Path  # host folder for this run's sandbox (submission, code, logs)
    instructions: str
    budgets: Budgets
    log_path: Path
    #: The image to run (container runtimes; from ``Runtime.prepare_image``).
    image: str | None = None
    #: Host folder holding the gateway's Unix socket (container runtimes mount it read-only).
    gateway_socket_dir: Path | None = None
    #: Container runtimes: mount the image's root filesystem read-only (agent.yaml).
    read_only_root: bool = True


class ExitStatus(BaseModel):
    exit_code: int | None
    timed_out: bool
    agent_time_s: float
    #: True when the harness stopped the agent early because ``should_stop`` said so
    #: (for example the LLM budget is spent).
    stopped: bool = False
    #: The kernel's OOM killer ended the agent at the memory limit (container runtimes).
    oom_killed: bool = False
    #: The sandbox's files went over ``budgets.disk_gb``: the harness killed the agent and
    #: deleted what it wrote (container runtimes).
    disk_exceeded: bool = False
    #: What the sandbox held at the harness's last measurement, in bytes (None: not measured).
    disk_used_bytes: int | None = None


@runtime_checkable
class Runtime(Protocol):
    name: str
    isolation: str
    #: True: the agent reaches the gateway through its Unix socket (``SANDBOX_GATEWAY_*``);
    #: False: through the gateway's TCP address on the host loopback.
    gateway_via_socket: bool

    def agent_paths(self, workdir: Path) -> dict[str, Path]:
        """The paths the agent sees (keys of SANDBOX_PATHS), for its instructions."""
        ...

    def host_paths(self, workdir: Path) -> dict[str, Path]:
        """Where those paths are on the host (what the harness reads and validates)."""
        ...

    def prepare_image(self, agent: Agent, gpus: int, home: Path, log: Path) -> ImageRef | None:
        """Make sure the agent's image exists (building it if needed); None for no image."""
        ...

    def start(self, spec: SandboxSpec) -> Any: ...

    def wait(self, handle: Any, timeout: float, should_stop: Callable[[], bool] | None = None) -> ExitStatus:
        """Block until the agent exits, ``timeout`` passes, or ``should_stop()`` turns true
        (polled about every 0.25 s); in the last two cases stop the agent first."""
        ...

    def stop(self, handle: Any) -> None: ...

    def collect(self, handle: Any, dest: Path) -> None: ...

    def info(self, handle: Any) -> dict[str, Any]: ...
