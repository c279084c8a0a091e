"""The Docker runtime with its engine flavour fixed, so container configs can be checked as data
without asking an engine (tests of the container contract and of the disk budget)."""

from __future__ import annotations

from rexmle.runtime.docker import DockerRuntime


class FixedEngine(DockerRuntime):
    """The Docker runtime with the engine flavour fixed (no engine is asked)."""

    def __init__(self, podman: bool = False) -> None:
        super().__init__("podman" if podman else "docker")
        self._podman = podman

    @property
    def is_podman(self) -> bool:
        return self._podman
