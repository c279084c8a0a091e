"""Runtimes: where an agent runs. One Protocol (base.Runtime), one module per backend."""

from rexmle.runtime.base import ExitStatus, Runtime, SandboxSpec, get_runtime, register

__all__ = ["ExitStatus", "Runtime", "SandboxSpec", "get_runtime", "register"]
