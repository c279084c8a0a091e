"""The LLM gateway (per-run OpenAI-compatible server, metering, budgets) and the scripted LLM."""

from rexmle.gateway.meter import Budget, LlmCall, Meter, Usage, read_calls, summarise
from rexmle.gateway.server import CHAT_ALIAS, EMBEDDING_ALIAS, Gateway, GatewayConfig, Route

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
