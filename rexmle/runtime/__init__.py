"""Runtimes: where an agent runs. One Protocol (``base.Runtime``), one module per backend, and the
registry (``registry.get_runtime``) that makes a backend by name."""

from rexmle.runtime.base import ExitStatus, Runtime, SandboxSpec
from rexmle.runtime.registry import RUNTIMES, get_runtime

__all__ = ["RUNTIMES", "ExitStatus", "Runtime", "SandboxSpec", "get_runtime"]
