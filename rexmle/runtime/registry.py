"""The runtime registry: a name -> how to make that backend.

One table, read by nothing but :func:`get_runtime`: a backend module is imported only when its
runtime is asked for (the docker SDK costs nothing to a local run or to ``rexmle --help``), and
no backend imports this module, so there is no import cycle. Adding a backend is one module in
this package and one row here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from rexmle.errors import NotFoundError
from rexmle.runtime.base import Runtime


def _local() -> Runtime:
    return importlib.import_module("rexmle.runtime.local").LocalRuntime()


def _docker() -> Runtime:
    return importlib.import_module("rexmle.runtime.docker").DockerRuntime("docker")


def _podman() -> Runtime:
    docker = importlib.import_module("rexmle.runtime.docker")
    return docker.DockerRuntime("podman", docker.podman_socket())


def _apptainer() -> Runtime:
    return importlib.import_module("rexmle.runtime.apptainer").ApptainerRuntime()


RUNTIMES: dict[str, Callable[[], Runtime]] = {
    "local": _local,
    "docker": _docker,
    "podman": _podman,
    "apptainer": _apptainer,
}


def get_runtime(name: str) -> Runtime:
    """A fresh backend named ``name``; an unknown name is one line naming those that exist."""
    if name not in RUNTIMES:
        raise NotFoundError(f"unknown runtime {name!r} (available: {', '.join(sorted(RUNTIMES))})")
    return RUNTIMES[name]()
