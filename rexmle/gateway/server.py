"""The LLM gateway: an OpenAI-compatible server between the agent and the real provider.

Why our own and not the litellm proxy: the proxy meters and enforces budgets only with a
Postgres database (measured, see shared/reference/agents.md §6); a run needs neither. So
this is a thin pass-through that (1) authenticates the agent with a per-run token, (2) maps
the alias the agent sees (``rexmle-chat``) to the real model, (3) forwards through
``litellm.acompletion`` / ``aembedding`` so every provider litellm knows works, (4) writes
each call to ``llm.jsonl`` priced from litellm's bundled price map, and (5) holds the run
to its dollar or token budget: each call reserves its worst case before it is forwarded, with
its ``max_tokens`` lowered to what the budget has room for, and is refused when nothing is
left beside the calls in flight (see :mod:`rexmle.gateway.meter`); once the budget is spent
the harness stops the agent.

Whatever the agent sends, a bad request is a 4xx with an OpenAI-style error body, never a
500 with a traceback on the harness's stderr.

Endpoints: ``POST /v1/chat/completions`` (plain, tools, response_format, SSE streaming),
``POST /v1/embeddings``, ``GET /v1/models``, ``POST /validate`` + ``GET /health`` (format
check of a submission on public files only; never a score).
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never fetch prices at import

import asyncio
import functools
import hmac
import json
import logging
import secrets
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Literal, NamedTuple

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from rexmle.errors import ConfigError
from rexmle.gateway.meter import Budget, LlmCall, Meter, Reservation, Usage
from rexmle.gateway.serve import BackgroundServer

CHAT_ALIAS = "rexmle-chat"
EMBEDDING_ALIAS = "rexmle-embed"

#: OpenAI request fields forwarded to litellm (which translates them per provider and drops
#: what a provider lacks). Anything else (e.g. vLLM's ``chat_template_kwargs`` that ML-Master
#: sends) is not part of the OpenAI API: it is dropped and named in the ledger line.
_CHAT_FIELDS = {
    "temperature", "top_p", "n", "stop", "max_tokens", "max_completion_tokens", "presence_penalty",
    "frequency_penalty", "logit_bias", "user", "tools", "tool_choice", "parallel_tool_calls",
    "response_format", "seed", "logprobs", "top_logprobs", "reasoning_effort", "functions",
    "function_call", "modalities", "prediction", "verbosity",
}  # fmt: skip
_EMBEDDING_FIELDS = {"dimensions", "encoding_format", "user"}
#: Request fields the provider turns into prompt tokens (what the prompt estimate counts).
_PROMPT_FIELDS = ("messages", "tools", "functions", "tool_choice", "response_format")
#: Deepest JSON a request may nest. Real requests (messages -> content parts, tool schemas)
#: stay within a dozen or two levels; deeper input only serves to exhaust Python's recursion
#: limit here or in litellm, where it used to surface as a 500 and a traceback.
MAX_JSON_DEPTH = 64

_log = logging.getLogger(__name__)

#: Validation callback: (submission dir on the host) -> {"valid": bool, "reason": str|None, ...}
Validator = Callable[[Path], dict[str, Any]]
#: Folders ``/validate`` may read: paths as the agent sees them, mapped to the host's (a tuple
#: means the agent sees host paths, as in the local runtime).
ValidateRoots = Mapping[Path, Path] | tuple[Path, ...]


class Route(BaseModel):
    """An alias the agent may name, and the real model behind it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alias: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")
    model: str = Field(min_length=1, description="litellm model string, e.g. anthropic/claude-sonnet-4-5")
    kind: Literal["chat", "embedding"] = "chat"
    api_base: str | None = None
    #: Name of the harness environment variable that holds the key (the key itself is never
    #: stored in a config or a run record). None: litellm's own per-provider variable.
    api_key_env: str | None = None
    #: A literal key (only for the scripted LLM, whose "key" is not a secret); never serialised.
    api_key: SecretStr | None = Field(default=None, exclude=True, repr=False)


class GatewayConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Empty for a run whose agent uses no LLM: the gateway then only serves ``/validate``.
    routes: tuple[Route, ...] = ()
    budget: Budget = Budget()
    log_bodies: bool = False
    host: str = "127.0.0.1"
    port: int = 0
    upstream_timeout_s: float = 600.0
    upstream_retries: int = 2

    @model_validator(mode="after")
    def _unique_aliases(self) -> GatewayConfig:
        aliases = [r.alias for r in self.routes]
        if len(set(aliases)) != len(aliases):
            raise ValueError(f"duplicate model aliases in gateway routes: {aliases}")
        return self


def model_price_known(model: str) -> bool:
    """True when litellm's bundled price map prices ``model`` (a litellm model string)."""
    import litellm

    try:
        info = litellm.get_model_info(model)
    except Exception:
        return False
    return bool(info.get("input_cost_per_token") or info.get("output_cost_per_token"))


def check_config(config: GatewayConfig) -> None:
    """Refuse, before anything starts, a key variable that is not set and a dollar budget that
    cannot be enforced (no silent unmetered runs)."""
    for route in config.routes:
        if route.api_key is None and route.api_key_env and not os.environ.get(route.api_key_env):
            raise ConfigError(
                f"environment variable {route.api_key_env} (API key for {route.model}) is not set"
            )
    if config.budget.max_usd is None:
        return
    for route in config.routes:
        if not model_price_known(route.model):
            raise ConfigError(
                f"model {route.model!r} has no price in litellm's bundled price map, so a dollar budget "
                "cannot be enforced; use --max-tokens (and --max-usd 0 to disable the dollar limit) "
                "or a model name litellm prices"
            )


def _error(status: int, message: str, code: str, etype: str = "invalid_request_error") -> web.Response:
    body = {"error": {"message": message, "type": etype, "code": code, "param": None}}
    return web.json_response(body, status=status)


def _one_line(text: str, limit: int = 300) -> str:
    return " ".join(text.split())[:limit]


def _deeper_than(value: Any, limit: int) -> bool:
    """True when ``value`` nests lists/objects more than ``limit`` levels (the top is level 1).
    Iterative, so it cannot itself run out of stack."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def _prompt_estimate(value: Any) -> int:
    """An upper estimate of the prompt tokens a request will be billed: one token per three
    characters of its JSON (ASCII-escaped), plus a few for the reply's priming.

    Why not ``litellm.token_counter``: the reservation must not fall short of the real count,
    or calls in flight together can pass the budget by the shortfall, and a tokenizer is exact
    only for the models it belongs to (litellm falls back to an OpenAI one, or tries to fetch
    a Hugging Face tokenizer, for the rest); it also costs milliseconds per large prompt on the
    server's one event loop. Byte-level BPE tokenizers average about four characters of English
    or code per token; the JSON adds the structure (keys, quotes, roles) that stands for a
    provider's per-message overhead; escaping turns each non-ASCII character into 6 or 12
    characters, i.e. 2 or 4 tokens. Over-estimating only costs an admitted call a few
    completion tokens near the end of the budget, and is given back when the call settles.
    """
    text = json.dumps(value, ensure_ascii=True, default=str)
    return len(text) // 3 + 8


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _completion_request(body: dict[str, Any]) -> tuple[int | None, int] | web.Response:
    """(the completion limit the agent asked for or None, the number of choices ``n``)."""
    asked: int | None = None
    for field in ("max_tokens", "max_completion_tokens"):
        value = body.get(field)
        if value is None:
            continue
        if not _positive_int(value):
            return _error(400, f"'{field}' must be a positive integer", "invalid_value")
        asked = value if asked is None else min(asked, value)
    n = body.get("n")
    if n is not None and not _positive_int(n):
        return _error(400, "'n' must be a positive integer", "invalid_value")
    return asked, n or 1


class _ModelLimits(NamedTuple):
    max_output_tokens: int | None
    usd_per_prompt_token: float
    usd_per_completion_token: float


@functools.lru_cache(maxsize=64)
def _model_limits(model: str) -> _ModelLimits:
    """Output limit and prices of ``model`` from litellm's bundled map, for reservations.

    Prices are the highest the map lists for the tiers a gateway call can be billed at: the
    long-context tiers (``..._above_200k_tokens``) and prompt-cache writes for input, reasoning
    tokens for output; not the batch, flex and priority tiers, which need a ``service_tier`` the
    gateway does not forward. So a reservation is not below the cost :func:`_cost` will record.
    Unknown model: no output limit, price 0 (a dollar budget then cannot start, see
    :func:`check_config`)."""
    import litellm

    try:
        info = dict(litellm.get_model_info(model))
    except Exception:
        return _ModelLimits(None, 0.0, 0.0)

    def highest(*prefixes: str) -> float:
        prices = [
            float(v)
            for k, v in info.items()
            if k.startswith(prefixes)
            and not any(tier in k for tier in ("batches", "flex", "priority"))
            and isinstance(v, (int, float))
            and not isinstance(v, bool)
        ]
        return max(prices, default=0.0)

    cap = info.get("max_output_tokens")
    return _ModelLimits(
        cap if isinstance(cap, int) and _positive_int(cap) else None,
        highest("input_cost_per_token", "cache_creation_input_token_cost"),
        highest("output_cost_per_token", "output_cost_per_reasoning_token"),
    )


def _usage_of(obj: Any) -> tuple[int, int]:
    usage = getattr(obj, "usage", None)
    if usage is None and isinstance(obj, dict):
        usage = obj.get("usage")
    if usage is None:
        return 0, 0
    get = usage.get if isinstance(usage, dict) else (lambda k, d=0: getattr(usage, k, d))
    return int(get("prompt_tokens", 0) or 0), int(get("completion_tokens", 0) or 0)


def _cost(response: Any, model: str, call_type: str) -> float | None:
    import litellm

    try:
        return float(litellm.completion_cost(completion_response=response, model=model, call_type=call_type))
    except Exception:
        return None


class Gateway:
    """One run's gateway. ``start()`` binds; ``url`` is what the agent gets; ``stop()`` ends it."""

    def __init__(
        self,
        config: GatewayConfig,
        ledger: Path,
        token: str | None = None,
        validator: Validator | None = None,
        validate_roots: ValidateRoots = (),
        unix_socket: Path | None = None,
    ) -> None:
        check_config(config)
        self.config = config
        self.token = token or "rxm-" + secrets.token_urlsafe(24)
        self.meter = Meter(ledger, config.budget)
        self._routes = {r.alias: r for r in config.routes}
        self._validator = validator
        # sandbox path -> host path (a container sees /home/submission; the harness reads the host's)
        pairs = (
            validate_roots.items()
            if isinstance(validate_roots, Mapping)
            else ((p, p) for p in validate_roots)
        )
        self._validate_roots = tuple((Path(seen), Path(host).resolve()) for seen, host in pairs)
        self._unix_socket = unix_socket
        app = web.Application(middlewares=[self._guard, self._auth], client_max_size=64 * 1024**2)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/health", self._health)
        app.router.add_post("/validate", self._validate)
        self._server = BackgroundServer(app, config.host, config.port, unix_socket)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Gateway:
        if self.config.routes:  # a validation-only gateway (no LLM) never pays litellm's import
            import litellm  # imported here so that `import rexmle` stays fast

            litellm.suppress_debug_info = True
        self._server.start()
        if self._unix_socket is not None:  # the sandbox's user is not ours: let it connect
            os.chmod(self._unix_socket, 0o666)
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL without the /v1 suffix."""
        return self._server.url

    @property
    def exhausted(self) -> bool:
        return self.meter.exhausted.is_set()

    def usage(self) -> Usage:
        return self.meter.snapshot()

    # -- middleware ------------------------------------------------------------------------
    @web.middleware
    async def _guard(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Last line of defence: an error no handler expected becomes a 500 with an OpenAI-style
        body and one line on the log, instead of aiohttp's traceback on the harness's stderr
        (the agent must not be able to write there)."""
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception as exc:
            message = _one_line(f"{type(exc).__name__}: {exc}")
            _log.error("gateway: %s %s failed: %s", request.method, request.path, message)
            return _error(500, f"gateway error: {message}", "internal_error", "api_error")

    @web.middleware
    async def _auth(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path == "/health":
            return await handler(request)
        given = request.headers.get("Authorization", "")
        given = given[7:] if given.lower().startswith("bearer ") else request.headers.get("api-key", "")
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return _error(401, "missing or wrong API key for this run's gateway", "invalid_api_key")
        return await handler(request)

    # -- endpoints -------------------------------------------------------------------------
    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _models(self, request: web.Request) -> web.Response:
        data = [
            {"id": r.alias, "object": "model", "created": 0, "owned_by": "rexmle"} for r in self.config.routes
        ]
        return web.json_response({"object": "list", "data": data})

    async def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        """The request's JSON object, or the 400 that says why not.

        Parsed from the raw bytes: JSON is UTF-8 (RFC 8259), and decoding with the charset the
        header names made an unknown charset a 500. Input nested past Python's recursion limit
        makes ``json`` raise RecursionError, which is caught here; anything deeper than
        ``MAX_JSON_DEPTH`` is refused before it reaches litellm."""
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(413, "request body is larger than 64 MiB", "request_too_large")
        try:
            body = json.loads(raw)
        except RecursionError:
            return _error(400, f"request body nests deeper than {MAX_JSON_DEPTH} levels", "invalid_json")
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            return _error(400, f"request body is not JSON: {_one_line(str(exc), 200)}", "invalid_json")
        if not isinstance(body, dict):
            return _error(400, "request body must be a JSON object", "invalid_json")
        if _deeper_than(body, MAX_JSON_DEPTH):
            return _error(400, f"request body nests deeper than {MAX_JSON_DEPTH} levels", "invalid_json")
        return body

    def _route(self, body: dict[str, Any], kind: str) -> Route | web.Response:
        alias = body.get("model")
        route = self._routes.get(str(alias))
        if route is None or route.kind != kind:
            known = ", ".join(r.alias for r in self.config.routes if r.kind == kind) or "none"
            return _error(404, f"unknown {kind} model {alias!r}; this run serves: {known}", "model_not_found")
        return route

    def _reserve(
        self, route: Route, prompt_tokens: int, cap: int | None, choices: int = 1, completions: bool = True
    ) -> Reservation | web.Response:
        """Reserve the call's worst case against the budget, or the 429 that refuses it."""
        limits = _model_limits(route.model)
        got = self.meter.reserve(
            prompt_tokens,
            completion_cap=cap,
            choices=choices,
            usd_per_prompt_token=limits.usd_per_prompt_token,
            usd_per_completion_token=limits.usd_per_completion_token,
            completions=completions,
        )
        if isinstance(got, str):
            return _error(429, got, "llm_budget_exhausted", "insufficient_quota")
        return got

    def _upstream_kwargs(self, route: Route) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "model": route.model,
            "timeout": self.config.upstream_timeout_s,
            "num_retries": self.config.upstream_retries,
        }
        if route.api_base:
            kw["api_base"] = route.api_base
        if route.api_key is not None:
            kw["api_key"] = route.api_key.get_secret_value()
        elif route.api_key_env:
            key = os.environ.get(route.api_key_env)
            if not key:
                raise ConfigError(
                    f"environment variable {route.api_key_env} (API key for {route.model}) is not set"
                )
            kw["api_key"] = key
        return kw

    def _record(
        self,
        endpoint: str,
        route: Route,
        t0: float,
        status: int,
        usage: tuple[int, int] = (0, 0),
        cost: float | None = None,
        stream: bool = False,
        error: str | None = None,
        request: dict[str, Any] | None = None,
        response: dict[str, Any] | None = None,
        dropped: list[str] | None = None,
        reservation: Reservation | None = None,
    ) -> None:
        bodies = self.config.log_bodies
        self.meter.record(
            LlmCall(
                time=time.time(),
                endpoint=endpoint,
                alias=route.alias,
                model=route.model,
                stream=stream,
                status=status,
                prompt_tokens=usage[0],
                completion_tokens=usage[1],
                cost_usd=cost if status < 400 else None,
                latency_s=round(time.monotonic() - t0, 4),
                error=error,
                dropped_fields=dropped or [],
                request=request if bodies else None,
                response=response if bodies else None,
            ),
            reservation,
        )

    @staticmethod
    def _upstream_error(exc: Exception) -> tuple[int, str]:
        status = int(getattr(exc, "status_code", 0) or 0)
        message = " ".join(str(exc).split())[:500] or type(exc).__name__
        if status in (400, 401, 403, 404, 413, 422, 429):
            return status, message
        return 502, f"upstream error: {message}"

    async def _chat(self, request: web.Request) -> web.StreamResponse:

        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        route = self._route(body, "chat")
        if isinstance(route, web.Response):
            return route
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _error(400, "'messages' must be a non-empty list", "invalid_messages")
        asked = _completion_request(body)
        if isinstance(asked, web.Response):
            return asked
        max_tokens, choices = asked
        stream_options = body.get("stream_options")
        if stream_options is not None and not isinstance(stream_options, dict):
            return _error(400, "'stream_options' must be an object", "invalid_value")
        stream = bool(body.get("stream", False))
        wants_usage = bool((stream_options or {}).get("include_usage"))
        extra = {k: v for k, v in body.items() if k in _CHAT_FIELDS}
        dropped = sorted(set(body) - _CHAT_FIELDS - {"model", "messages", "stream", "stream_options"})
        kw = self._upstream_kwargs(route)
        # Without the gateway's clamp the call could write what the agent asked for, else the
        # model's own output limit (None: unknown, so the budget alone bounds it).
        cap = max_tokens if max_tokens is not None else _model_limits(route.model).max_output_tokens
        prompt = _prompt_estimate({k: body[k] for k in _PROMPT_FIELDS if k in body})
        reservation = self._reserve(route, prompt, cap, choices)
        if isinstance(reservation, web.Response):
            return reservation
        try:
            limit = reservation.completion_limit
            if limit is not None and (cap is None or limit < cap):
                # The clamp: without it the reservation would not bound what the call spends.
                named = [f for f in ("max_tokens", "max_completion_tokens") if extra.get(f) is not None]
                for field in named or ["max_tokens"]:
                    extra[field] = limit
            return await self._complete(
                request, route, body, kw, extra, stream, wants_usage, dropped, reservation
            )
        finally:
            # A call that ended without reaching the ledger (the agent hung up while it waited,
            # or something above raised) gives its reservation back; a recorded one already has.
            self.meter.release(reservation)

    async def _complete(
        self,
        request: web.Request,
        route: Route,
        body: dict[str, Any],
        kw: dict[str, Any],
        extra: dict[str, Any],
        stream: bool,
        wants_usage: bool,
        dropped: list[str],
        reservation: Reservation,
    ) -> web.StreamResponse:
        """The upstream call of a checked, reserved chat request, recorded in the ledger."""
        import litellm

        messages = body["messages"]
        t0 = time.monotonic()
        try:
            if stream:
                upstream = await litellm.acompletion(
                    messages=messages, stream=True, stream_options={"include_usage": True}, **kw, **extra
                )
            else:
                upstream = await litellm.acompletion(messages=messages, **kw, **extra)
        except Exception as exc:
            status, message = self._upstream_error(exc)
            self._record(
                "chat",
                route,
                t0,
                status,
                stream=stream,
                error=message,
                request=body,
                dropped=dropped,
                reservation=reservation,
            )
            return _error(status, message, "upstream_error", "api_error")
        if not stream:
            payload = upstream.model_dump(exclude_none=True)
            payload["model"] = route.alias
            usage = _usage_of(upstream)
            cost = _cost(upstream, route.model, "completion")
            self._record(
                "chat",
                route,
                t0,
                200,
                usage,
                cost,
                request=body,
                response=payload,
                dropped=dropped,
                reservation=reservation,
            )
            return web.json_response(payload)
        return await self._stream(
            request, upstream, route, body, messages, wants_usage, t0, dropped, reservation
        )

    async def _stream(
        self,
        request: web.Request,
        upstream: Any,
        route: Route,
        body: dict[str, Any],
        messages: list[Any],
        wants_usage: bool,
        t0: float,
        dropped: list[str],
        reservation: Reservation,
    ) -> web.StreamResponse:
        import litellm

        resp = web.StreamResponse(
            status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)
        chunks: list[Any] = []
        error: str | None = None
        try:
            async for chunk in upstream:
                chunks.append(chunk)
                data = chunk.model_dump(exclude_none=True)
                data["model"] = route.alias
                if not data.get("choices") and not wants_usage:
                    continue  # a usage-only chunk the client did not ask for (some clients index choices[0])
                if not wants_usage:
                    data.pop("usage", None)
                await resp.write(b"data: " + json.dumps(data).encode() + b"\n\n")
            await resp.write(b"data: [DONE]\n\n")
        except (ConnectionResetError, asyncio.CancelledError):
            error = "client disconnected mid-stream"
        except Exception as exc:
            error = self._upstream_error(exc)[1]
            payload = {"error": {"message": error, "type": "api_error", "code": "upstream_error"}}
            await resp.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
        built = None
        if chunks:
            try:
                built = litellm.stream_chunk_builder(chunks, messages=messages)
            except Exception:
                built = None
        usage = _usage_of(built) if built is not None else (0, 0)
        cost = _cost(built, route.model, "completion") if built is not None else None
        status = 200 if error is None else 502
        response = built.model_dump(exclude_none=True) if built is not None else None
        self._record(
            "chat", route, t0, status, usage, cost, True, error, body, response, dropped, reservation
        )
        if error is None:
            await resp.write_eof()
        return resp

    async def _embeddings(self, request: web.Request) -> web.Response:
        import litellm

        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        route = self._route(body, "embedding")
        if isinstance(route, web.Response):
            return route
        if "input" not in body:
            return _error(400, "'input' is required", "invalid_input")
        extra = {k: v for k, v in body.items() if k in _EMBEDDING_FIELDS}
        kw = self._upstream_kwargs(route)
        # An embedding writes nothing: its worst case is its input, which cannot be clamped.
        reservation = self._reserve(route, _prompt_estimate(body["input"]), None, completions=False)
        if isinstance(reservation, web.Response):
            return reservation
        try:
            t0 = time.monotonic()
            try:
                upstream = await litellm.aembedding(input=body["input"], **kw, **extra)
            except Exception as exc:
                status, message = self._upstream_error(exc)
                self._record(
                    "embeddings", route, t0, status, error=message, request=body, reservation=reservation
                )
                return _error(status, message, "upstream_error", "api_error")
            payload = upstream.model_dump(exclude_none=True)
            payload["model"] = route.alias
            usage = _usage_of(upstream)
            cost = _cost(upstream, route.model, "embedding")
            self._record("embeddings", route, t0, 200, usage, cost, request=body, reservation=reservation)
            return web.json_response(payload)
        finally:
            self.meter.release(reservation)

    # -- validation ------------------------------------------------------------------------
    def _host_path(self, path: Path) -> Path | None:
        """The host folder for a folder the agent named, if it lies inside a validate root."""
        for seen, host in self._validate_roots:
            if path != seen and seen not in path.parents:
                continue
            try:
                real = (host / path.relative_to(seen)).resolve()
            except OSError:
                return None
            if real == host or host in real.parents:
                return real
        return None

    async def _validate(self, request: web.Request) -> web.Response:
        """Format check of a submission. JSON ``{"submission_dir": PATH, "table": NAME}`` names a
        folder in the sandbox (and optionally the table in it, default submission.csv); a
        multipart upload (field ``file``, the reference grading server's form) is checked as a
        ``submission.csv`` whose referenced files are looked up in the sandbox's submission folder.
        """
        if self._validator is None:
            return _error(404, "this run has no validation endpoint", "no_validator")
        loop = asyncio.get_running_loop()
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            upload = form.get("file")
            if upload is None or not hasattr(upload, "file"):
                return web.json_response(
                    {"valid": False, "reason": "multipart field 'file' is missing"}, status=400
                )
            content = upload.file.read()
            base = self._validate_roots[0][1] if self._validate_roots else None
            result = await loop.run_in_executor(None, self._validate_upload, content, base)
            return web.json_response(result)
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        named = Path(str(body.get("submission_dir", "")))
        target = self._host_path(named) if named.is_absolute() else None
        if target is None or not target.is_dir():
            return web.json_response(
                {"valid": False, "reason": "submission_dir must be a folder inside your sandbox"}, status=400
            )
        table = str(body.get("table") or "submission.csv")
        if "/" in table or table in (".", "..") or not (target / table).is_file():
            return web.json_response({"valid": False, "reason": f"no table {table!r} in {named}"}, status=400)
        if table == "submission.csv":
            result = await loop.run_in_executor(None, self._validator, target)
        else:  # a scaffold's per-node table (ML-Master: submission_<node>.csv) checked as submission.csv
            content = (target / table).read_bytes()
            result = await loop.run_in_executor(None, self._validate_upload, content, target)
        return web.json_response(result)

    def _validate_upload(self, content: bytes, base: Path | None) -> dict[str, Any]:
        assert self._validator is not None
        parent = base.parent if base is not None and base.is_dir() else None
        with tempfile.TemporaryDirectory(prefix=".rexmle-validate-", dir=parent) as tmp:
            folder = Path(tmp) / "submission"
            if base is not None and parent is not None:  # the files the uploaded table references
                shutil.copytree(base, folder, symlinks=True, copy_function=_link_or_copy)
            folder.mkdir(exist_ok=True)
            table = folder / "submission.csv"
            table.unlink(
                missing_ok=True
            )  # may be a hard link to the agent's own file: never write through it
            table.write_bytes(content)
            return self._validator(folder)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
