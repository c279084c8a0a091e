"""A scripted OpenAI-compatible LLM server for tests and offline demos.

It stands where a provider would: the gateway forwards to it through litellm exactly as
it forwards to OpenAI, so a test exercises agent process -> gateway -> litellm -> HTTP with
no provider. A *script* (YAML) is an ordered list of rules; the first rule whose ``when``
matches the request answers it (a rule with ``times`` is used up after that many answers).
What a rule can recognise is what distinguishes the scaffolds' calls (shared/reference/
agents.md §5): a forced tool (AIDE's and ML-Master's ``submit_review``), the
``response_format`` type and json_schema name (R&D-Agent), streaming, text in the prompt.

A reply is text (``content``), a JSON object (``json``, sent as text), or a tool call
(``tool_arguments``); for a json_schema request or a tool call, fields the script leaves
out are filled from the schema (first enum value, 0.5, 1, false, "x", one array item). Every
request is appended to ``requests.jsonl`` with the usage the server reported, which is what
tests compare the gateway's ledger with; like a provider's bill, the completion tokens reported
never exceed the request's ``max_tokens``. Embeddings are deterministic unit vectors.

Run by hand: ``python -m rexmle.gateway.scripted SCRIPT --port 18080``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from rexmle.config import load_yaml_model
from rexmle.gateway.serve import BackgroundServer


class When(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    endpoint: Literal["chat", "embeddings"] = "chat"
    tool: str | None = None  # name of the tool the request offers (forced or not)
    response_format: Literal["none", "text", "json_object", "json_schema"] | None = None
    schema_name: str | None = None  # json_schema.name
    stream: bool | None = None
    contains: list[str] = []  # every string must occur in the request's message text
    not_contains: list[str] = []
    model: str | None = None

    def matches(self, endpoint: str, body: dict[str, Any], text: str) -> bool:
        if endpoint != self.endpoint:
            return False
        if self.model is not None and body.get("model") != self.model:
            return False
        if self.stream is not None and bool(body.get("stream")) != self.stream:
            return False
        if self.tool is not None and self.tool not in _tool_names(body):
            return False
        rf = body.get("response_format") or {}
        kind = rf.get("type", "none") if isinstance(rf, dict) else "none"
        if self.response_format is not None and kind != self.response_format:
            return False
        if self.schema_name is not None and (rf.get("json_schema") or {}).get("name") != self.schema_name:
            return False
        if any(s not in text for s in self.contains):
            return False
        return not any(s in text for s in self.not_contains)


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    when: When = When()
    content: str | None = None
    json_reply: dict[str, Any] | None = Field(default=None, alias="json")
    tool_arguments: dict[str, Any] | None = None
    times: int | None = Field(default=None, ge=1)
    usage: dict[str, int] | None = None  # prompt_tokens / completion_tokens to report
    delay_s: float = 0.0
    #: Pause between streamed chunks, so a test can hang up in the middle of a stream.
    chunk_delay_s: float = 0.0

    @model_validator(mode="after")
    def _one_reply(self) -> Rule:
        given = [x for x in (self.content, self.json_reply, self.tool_arguments) if x is not None]
        if self.when.endpoint == "chat" and len(given) > 1:
            raise ValueError(f"rule {self.name!r}: give at most one of content, json, tool_arguments")
        return self


class Script(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: list[Rule] = Field(min_length=1)
    embedding_dim: int = Field(default=256, ge=1)
    served_model: str = "gpt-4o-mini"  # the `model` field of replies (what a provider would say)


def load_script(path: Path) -> Script:
    return load_yaml_model(path, Script)


def _tool_names(body: dict[str, Any]) -> list[str]:
    names = []
    for tool in body.get("tools") or []:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict) and "name" in fn:
            names.append(str(fn["name"]))
    for fn in body.get("functions") or []:  # legacy function calling
        if isinstance(fn, dict) and "name" in fn:
            names.append(str(fn["name"]))
    return names


def _message_text(body: dict[str, Any]) -> str:
    parts: list[str] = []
    for msg in body.get("messages") or []:
        content = msg.get("content") if isinstance(msg, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [str(p.get("text", "")) for p in content if isinstance(p, dict)]
    return "\n".join(parts)


def tokens(text: str) -> int:
    """A stand-in tokenizer (about 4 characters per token); deterministic, never zero."""
    return max(1, math.ceil(len(text) / 4))


def _capped(completion_tokens: int, body: dict[str, Any]) -> int:
    """Completion tokens as a provider bills them: never more than the request's ``max_tokens`` /
    ``max_completion_tokens`` (so a rule's large ``usage`` stands for "would write this much",
    and tests can see the gateway's clamp take effect in the usage it is billed). The reply's
    text is left whole: scripted scaffolds parse it, and only the bill matters here."""
    limits = [
        v
        for v in (body.get("max_tokens"), body.get("max_completion_tokens"))
        if isinstance(v, int) and not isinstance(v, bool) and v > 0
    ]
    return min([completion_tokens, *limits])


def schema_instance(schema: dict[str, Any], defs: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """A minimal instance of a JSON schema (enough for pydantic models built from it)."""
    defs = {**(defs or {}), **schema.get("$defs", {}), **schema.get("definitions", {})}
    if depth > 12:
        return None
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return schema_instance(defs.get(name, {}), defs, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            return schema_instance(options[0], defs, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {k: schema_instance(v, defs, depth + 1) for k, v in props.items()}
    if kind == "array":
        return [schema_instance(schema.get("items", {}), defs, depth + 1)]
    if kind == "string":
        return str(schema.get("title") or "x")
    if kind == "integer":
        return 1
    if kind == "number":
        return 0.5
    if kind == "boolean":
        return False
    return None


def _embedding(text: str, dim: int) -> list[float]:
    seed = hashlib.sha256(text.encode()).digest()
    raw = [((seed[i % 32] * (i + 1)) % 251) / 125.0 - 1.0 for i in range(dim)]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [round(v / norm, 6) for v in raw]


class ScriptedLLM:
    """The scripted server. ``start()`` binds 127.0.0.1; ``url`` + "/v1" is its base URL."""

    def __init__(
        self, script: Script, log: Path | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.script = script
        self.log = log
        self._used: dict[int, int] = {}
        self._lock = threading.Lock()
        app = web.Application(client_max_size=64 * 1024**2)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._models)
        self._server = BackgroundServer(app, host, port)
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def base_url(self) -> str:
        return self._server.url + "/v1"

    def start(self) -> ScriptedLLM:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> ScriptedLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------
    def _pick(self, endpoint: str, body: dict[str, Any], text: str) -> Rule | None:
        with self._lock:
            for i, rule in enumerate(self.script.rules):
                if rule.times is not None and self._used.get(i, 0) >= rule.times:
                    continue
                if rule.when.matches(endpoint, body, text):
                    self._used[i] = self._used.get(i, 0) + 1
                    return rule
        return None

    def _write_log(self, entry: dict[str, Any]) -> None:
        if self.log is None:
            return
        with self._lock, self.log.open("a") as f:
            f.write(json.dumps(entry) + "\n")

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [{"id": self.script.served_model, "object": "model"}]}
        )

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        inputs = body.get("input")
        items = inputs if isinstance(inputs, list) else [inputs]
        texts = [x if isinstance(x, str) else json.dumps(x) for x in items]
        rule = self._pick("embeddings", body, "\n".join(texts))
        prompt = sum(tokens(t) for t in texts)
        if rule is not None and rule.usage:
            prompt = rule.usage.get("prompt_tokens", prompt)
        data = [
            {"object": "embedding", "index": i, "embedding": _embedding(t, self.script.embedding_dim)}
            for i, t in enumerate(texts)
        ]
        usage = {"prompt_tokens": prompt, "total_tokens": prompt}
        self._write_log(
            {
                "time": time.time(),
                "endpoint": "embeddings",
                "rule": rule.name if rule else None,
                "usage": usage,
                "n_inputs": len(texts),
                "model": body.get("model"),
            }
        )
        return web.json_response(
            {"object": "list", "data": data, "model": self.script.served_model, "usage": usage}
        )

    def _reply(self, rule: Rule, body: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
        """(content, tool_call) for a chat request."""
        rf = body.get("response_format") if isinstance(body.get("response_format"), dict) else {}
        assert rf is not None
        tools: list[dict[str, Any]] = [
            t["function"] for t in body.get("tools") or [] if isinstance(t, dict) and "function" in t
        ]
        if rule.tool_arguments is not None or (rule.content is None and rule.json_reply is None and tools):
            wanted = rule.when.tool or (tools[0]["name"] if tools else "tool")
            fn: dict[str, Any] = next(
                (t for t in tools if t.get("name") == wanted), tools[0] if tools else {"name": wanted}
            )
            args = schema_instance(fn.get("parameters") or {}) or {}
            args.update(rule.tool_arguments or {})
            return None, {"name": fn.get("name", wanted), "arguments": json.dumps(args)}
        if rule.content is not None:
            return rule.content, None
        base: Any = {}
        if rf.get("type") == "json_schema":
            base = schema_instance((rf.get("json_schema") or {}).get("schema") or {}) or {}
        if isinstance(base, dict):
            base.update(rule.json_reply or {})
        return json.dumps(base), None

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return web.json_response(
                {"error": {"message": "body is not JSON", "type": "invalid_request_error"}}, status=400
            )
        text = _message_text(body)
        rule = self._pick("chat", body, text)
        entry: dict[str, Any] = {
            "time": time.time(),
            "endpoint": "chat",
            "rule": rule.name if rule else None,
            "model": body.get("model"),
            "stream": bool(body.get("stream")),
            "tools": _tool_names(body),
            "response_format": body.get("response_format"),
            "request": body,
        }
        if rule is None:
            entry["usage"] = None
            self._write_log(entry)
            msg = "scripted LLM: no rule matches this request"
            return web.json_response(
                {"error": {"message": msg, "type": "invalid_request_error", "code": "no_rule"}}, status=400
            )
        if rule.delay_s:
            await asyncio.sleep(rule.delay_s)
        content, tool_call = self._reply(rule, body)
        out_text = content if content is not None else json.dumps(tool_call)
        usage = {
            "prompt_tokens": (rule.usage or {}).get("prompt_tokens", tokens(text)),
            "completion_tokens": _capped((rule.usage or {}).get("completion_tokens", tokens(out_text)), body),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        entry["usage"] = usage
        self._write_log(entry)
        cid = "chatcmpl-" + uuid.uuid4().hex[:16]
        created = int(time.time())
        model = self.script.served_model
        calls: list[dict[str, Any]] | None = (
            [{"id": "call_" + uuid.uuid4().hex[:12], "type": "function", "function": tool_call}]
            if tool_call
            else None
        )
        finish = "tool_calls" if tool_call else "stop"
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": content}
            if calls:
                message["tool_calls"] = calls
            return web.json_response(
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": usage,
                }
            )
        return await _stream_reply(request, rule, body, cid, created, model, content, calls, finish, usage)


async def _stream_reply(
    request: web.Request,
    rule: Rule,
    body: dict[str, Any],
    cid: str,
    created: int,
    model: str,
    content: str | None,
    calls: list[dict[str, Any]] | None,
    finish: str,
    usage: dict[str, int],
) -> web.StreamResponse:
    """A scripted reply as OpenAI's server-sent chunks: the role, the content in three pieces, a
    tool call in two, the finish reason, the usage chunk when asked for, ``[DONE]``."""
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)

    async def send(
        delta: dict[str, Any], finish_reason: str | None = None, extra: dict[str, Any] | None = None
    ) -> None:
        chunk = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }
        chunk.update(extra or {})
        if rule.chunk_delay_s:
            await asyncio.sleep(rule.chunk_delay_s)
        await resp.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")

    await send({"role": "assistant", "content": ""})
    if content:
        step = max(1, len(content) // 3)
        for i in range(0, len(content), step):
            await send({"content": content[i : i + step]})
    if calls:
        call = calls[0]
        await send(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": call["function"]["name"], "arguments": ""},
                    }
                ]
            }
        )
        await send({"tool_calls": [{"index": 0, "function": {"arguments": call["function"]["arguments"]}}]})
    await send({}, finish)
    if (body.get("stream_options") or {}).get("include_usage"):
        usage_chunk = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": usage,
        }
        await resp.write(b"data: " + json.dumps(usage_chunk).encode() + b"\n\n")
    await resp.write(b"data: [DONE]\n\n")
    await resp.write_eof()
    return resp


def requests_log(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("script", type=Path)
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--log", type=Path, default=None)
    args = parser.parse_args(argv)
    server = ScriptedLLM(load_script(args.script), args.log, port=args.port).start()
    print(f"scripted LLM on {server.base_url} (Ctrl-C to stop)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
