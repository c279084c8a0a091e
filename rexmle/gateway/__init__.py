"""The LLM gateway (per-run OpenAI-compatible server, metering, budgets) and the scripted LLM.

The server half (aiohttp, litellm) is imported on first use, so commands that never start a
gateway (``rexmle list``, ``grade``) do not pay for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from rexmle.gateway.meter import Budget, LlmCall, Meter, Usage, read_calls, summarise

if TYPE_CHECKING:
    from rexmle.gateway.server import CHAT_ALIAS, EMBEDDING_ALIAS, Gateway, GatewayConfig, Route

_SERVER_NAMES = {"CHAT_ALIAS", "EMBEDDING_ALIAS", "Gateway", "GatewayConfig", "Route"}


def __getattr__(name: str) -> Any:
    if name in _SERVER_NAMES:
        return getattr(importlib.import_module("rexmle.gateway.server"), name)
    raise AttributeError(f"module 'rexmle.gateway' has no attribute {name!r}")


__all__ = [
    "CHAT_ALIAS",
    "EMBEDDING_ALIAS",
    "Budget",
    "Gateway",
    "GatewayConfig",
    "LlmCall",
    "Meter",
    "Route",
    "Usage",
    "read_calls",
    "summarise",
]
