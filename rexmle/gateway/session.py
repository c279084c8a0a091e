"""One run's LLM plumbing: the gateway (and, for ``--llm scripted``, the scripted upstream).

``provider`` forwards to the real model through litellm with the provider key read from the
harness's own environment (litellm's usual variables: OPENAI_API_KEY, ANTHROPIC_API_KEY,
AZURE_API_KEY ...). ``scripted`` starts the agent's scripted conversation on 127.0.0.1 and
forwards to it as ``openai/<model>`` through the very same litellm path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from rexmle.errors import ConfigError
from rexmle.gateway.meter import Budget
from rexmle.gateway.scripted import ScriptedLLM, load_script
from rexmle.gateway.server import (
    CHAT_ALIAS,
    EMBEDDING_ALIAS,
    Gateway,
    GatewayConfig,
    Route,
    ValidateRoots,
    Validator,
)

LlmMode = Literal["provider", "scripted"]
SCRIPTED_MODEL = "openai/gpt-4o-mini"
DEFAULT_EMBEDDING_MODEL = "openai/text-embedding-3-small"


def _openai_name(model: str) -> str:
    return model.split("/", 1)[1] if "/" in model else model


@contextlib.contextmanager
def open_gateway(
    *,
    mode: LlmMode,
    model: str,
    embedding_model: str | None,
    budget: Budget,
    ledger: Path,
    script: Path | None = None,
    scripted_log: Path | None = None,
    validator: Validator | None = None,
    validate_roots: ValidateRoots = (),
    unix_socket: Path | None = None,
    log_bodies: bool = False,
    extra_chat_aliases: tuple[str, ...] = (),
) -> Iterator[Gateway]:
    """Start the gateway (and the scripted upstream) for one run; stop both on exit."""
    embed = embedding_model or DEFAULT_EMBEDDING_MODEL
    with contextlib.ExitStack() as stack:
        if mode == "scripted":
            if script is None:
                raise ConfigError("this agent has no scripted conversation (agent.yaml: scripted)")
            llm = stack.enter_context(ScriptedLLM(load_script(script), scripted_log))
            key = SecretStr("sk-scripted-not-a-secret")
            # litellm's OpenAI route to our server: the same code path a real provider takes.
            routes: tuple[Route, ...] = (
                Route(
                    alias=CHAT_ALIAS,
                    model="openai/" + _openai_name(model),
                    api_base=llm.base_url,
                    api_key=key,
                ),
                Route(
                    alias=EMBEDDING_ALIAS,
                    model="openai/" + _openai_name(embed),
                    kind="embedding",
                    api_base=llm.base_url,
                    api_key=key,
                ),
            )
        else:
            routes = (
                Route(alias=CHAT_ALIAS, model=model),
                Route(alias=EMBEDDING_ALIAS, model=embed, kind="embedding"),
            )
        chat = routes[0]
        routes += tuple(chat.model_copy(update={"alias": alias}) for alias in extra_chat_aliases)
        config = GatewayConfig(routes=routes, budget=budget, log_bodies=log_bodies)
        gateway = Gateway(
            config, ledger, validator=validator, validate_roots=validate_roots, unix_socket=unix_socket
        )
        stack.enter_context(gateway)
        yield gateway


@contextlib.contextmanager
def open_validation_service(
    *,
    ledger: Path,
    validator: Validator,
    validate_roots: ValidateRoots = (),
    unix_socket: Path | None = None,
) -> Iterator[Gateway]:
    """The gateway with no model behind it, for agents that use no LLM: ``validate-submission``
    is the same command, behind the same token and address, for every agent and runtime; a
    chat call is refused as a call to an unknown model."""
    gateway = Gateway(
        GatewayConfig(routes=()),
        ledger,
        validator=validator,
        validate_roots=validate_roots,
        unix_socket=unix_socket,
    )
    with gateway:
        yield gateway
