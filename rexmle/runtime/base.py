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
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from rexmle.challenge import Budgets
from rexmle.errors import NotFoundError

#: What the agent sees, identical in every runtime (container paths; local maps them).
SANDBOX_PATHS = {
    "REXMLE_DATA_DIR": "/home/data",
    "REXMLE_SUBMISSION_DIR": "/home/submission",
    "REXMLE_CODE_DIR": "/home/code",
    "REXMLE_LOGS_DIR": "/home/logs",
    "REXMLE_INSTRUCTIONS": "/home/instructions.md",
}


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
    image: str | None = None


class ExitStatus(BaseModel):
    exit_code: int | None
    timed_out: bool
    agent_time_s: float
    #: True when the harness stopped the agent early because ``should_stop`` said so
    #: (for example the LLM budget is spent).
    stopped: bool = False


@runtime_checkable
class Runtime(Protocol):
    name: str
    isolation: str

    def agent_paths(self, workdir: Path) -> dict[str, Path]:
        """The paths the agent sees (keys of SANDBOX_PATHS), for its instructions."""
        ...

    def start(self, spec: SandboxSpec) -> Any: ...

    def wait(self, handle: Any, timeout: float, should_stop: Callable[[], bool] | None = None) -> ExitStatus:
        """Block until the agent exits, ``timeout`` passes, or ``should_stop()`` turns true
        (polled about every 0.25 s); in the last two cases stop the agent first."""
        ...

    def stop(self, handle: Any) -> None: ...

    def collect(self, handle: Any, dest: Path) -> None: ...

    def info(self, handle: Any) -> dict[str, Any]: ...


_REGISTRY: dict[str, Callable[[], Runtime]] = {}


def register(name: str) -> Callable[[Callable[[], Runtime]], Callable[[], Runtime]]:
    def deco(factory: Callable[[], Runtime]) -> Callable[[], Runtime]:
        _REGISTRY[name] = factory
        return factory

    return deco


def get_runtime(name: str) -> Runtime:
    import rexmle.runtime.local  # noqa: F401  (registers "local")

    if name not in _REGISTRY:
        raise NotFoundError(f"unknown runtime {name!r} (available: {', '.join(sorted(_REGISTRY))})")
    return _REGISTRY[name]()
