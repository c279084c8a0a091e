"""The gateway against the scripted server, over real HTTP, with the openai SDK as the client."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from helpers import scripted_gateway_config
from pydantic import SecretStr

from rexmle.errors import ConfigError
from rexmle.gateway import Budget, Gateway, GatewayConfig, Route, read_calls, summarise
from rexmle.gateway.scripted import Script, ScriptedLLM, requests_log, schema_instance

SCRIPT = {
    "rules": [
        {"name": "review", "when": {"tool": "submit_review"}, "tool_arguments": {"metric": 0.25}},
        {"name": "schema", "when": {"response_format": "json_schema"}, "json": {"answer": "forced"}},
        {"name": "object", "when": {"response_format": "json_object"}, "json": {"final_decision": True}},
        {"name": "slow", "when": {"contains": ["SLOW"]}, "content": "late", "delay_s": 0.5},
        {"name": "code", "content": "Plan.\n```python\nprint('hi')\n```"},
        {"name": "embed", "when": {"endpoint": "embeddings"}},
    ]
}

REVIEW_TOOL = {
    "type": "function",
    "function": {
        "name": "submit_review",
        "parameters": {
            "type": "object",
            "properties": {
                "is_bug": {"type": "boolean"},
                "metric": {"type": "number"},
                "summary": {"type": "string"},
            },
            "required": ["is_bug", "metric", "summary"],
        },
    },
}


@pytest.fixture
def scripted(tmp_path: Path) -> Iterator[ScriptedLLM]:
    with ScriptedLLM(Script.model_validate(SCRIPT), tmp_path / "requests.jsonl") as llm:
        yield llm


def _config(llm: ScriptedLLM, **budget: float) -> GatewayConfig:
    return scripted_gateway_config(llm.base_url, Budget(**budget))  # type: ignore[no-any-return]


@pytest.fixture
def gateway(scripted: ScriptedLLM, tmp_path: Path) -> Iterator[Gateway]:
    with Gateway(_config(scripted), tmp_path / "llm.jsonl") as gw:
        yield gw


def _client(gw: Gateway, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key or gw.token, max_retries=0)


def test_plain_tool_schema_stream_and_embeddings_are_metered(
    gateway: Gateway, scripted: ScriptedLLM, tmp_path: Path
) -> None:
    c = _client(gateway)
    plain = c.chat.completions.create(
        model="rexmle-chat", messages=[{"role": "system", "content": "write code " * 50}]
    )
    assert "```python" in (plain.choices[0].message.content or "")
    assert plain.model == "rexmle-chat"  # the agent never learns the real model

    review = c.chat.completions.create(
        model="rexmle-chat",
        messages=[{"role": "system", "content": "review this"}],
        tools=[REVIEW_TOOL],  # type: ignore[list-item]
        tool_choice={"type": "function", "function": {"name": "submit_review"}},
    )
    call = review.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "submit_review"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"is_bug": False, "metric": 0.25, "summary": "x"}  # type: ignore[union-attr]

    schema = {
        "type": "object",
        "properties": {
            "answer": {"type": "string"},
            "items": {"type": "array", "items": {"$ref": "#/$defs/I"}},
        },
        "$defs": {
            "I": {"type": "object", "properties": {"k": {"enum": ["a", "b"]}, "n": {"type": "integer"}}}
        },
    }
    structured = c.chat.completions.create(
        model="rexmle-chat",
        messages=[{"role": "user", "content": "json please"}],
        response_format={"type": "json_schema", "json_schema": {"name": "S", "schema": schema}},
    )
    assert json.loads(structured.choices[0].message.content or "") == {
        "answer": "forced",
        "items": [{"k": "a", "n": 1}],
    }

    obj = c.chat.completions.create(
        model="rexmle-chat",
        messages=[{"role": "user", "content": "j"}],
        response_format={"type": "json_object"},
    )
    assert json.loads(obj.choices[0].message.content or "") == {"final_decision": True}

    chunks = list(
        c.chat.completions.create(
            model="rexmle-chat", messages=[{"role": "user", "content": "stream"}], stream=True
        )
    )
    assert all(ch.choices for ch in chunks)  # no usage-only chunk the client did not ask for
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks) == "Plan.\n```python\nprint('hi')\n```"

    with_usage = list(
        c.chat.completions.create(
            model="rexmle-chat",
            messages=[{"role": "user", "content": "stream"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert with_usage[-1].usage is not None and with_usage[-1].usage.completion_tokens > 0

    emb = c.embeddings.create(model="rexmle-embed", input=["a", "b", "c"])
    assert len(emb.data) == 3 and len(emb.data[0].embedding) == 256

    # The ledger agrees with what the upstream reported, call by call and in total.
    upstream = [r for r in requests_log(tmp_path / "requests.jsonl") if r["usage"]]
    ledger = read_calls(tmp_path / "llm.jsonl")
    assert len(ledger) == len(upstream) == 7
    assert [c.status for c in ledger] == [200] * 7
    assert sum(c.prompt_tokens for c in ledger) == sum(r["usage"]["prompt_tokens"] for r in upstream)
    assert sum(c.completion_tokens for c in ledger) == sum(
        r["usage"].get("completion_tokens", 0) for r in upstream
    )
    usage = summarise(tmp_path / "llm.jsonl")
    assert usage.cost_usd > 0 and usage.unpriced_calls == 0
    # gpt-4o-mini list prices (per token) from litellm's bundled map
    chat = [c for c in ledger if c.endpoint == "chat"]
    expected = sum(c.prompt_tokens * 0.15e-6 + c.completion_tokens * 0.6e-6 for c in chat)
    assert sum(c.cost_usd or 0 for c in chat) == pytest.approx(expected, rel=1e-6)
    assert [c.stream for c in chat] == [False, False, False, False, True, True]


def test_requests_need_the_run_token(gateway: Gateway) -> None:
    with pytest.raises(openai.AuthenticationError):
        _client(gateway, key="sk-someone-else").models.list()
    r = httpx.post(gateway.url + "/v1/chat/completions", json={"model": "rexmle-chat", "messages": []})
    assert r.status_code == 401
    assert httpx.get(gateway.url + "/health").status_code == 200  # liveness only
    assert [m.id for m in _client(gateway).models.list()] == ["rexmle-chat", "rexmle-embed"]


def test_bad_requests_get_openai_style_errors(gateway: Gateway) -> None:
    c = _client(gateway)
    with pytest.raises(openai.NotFoundError, match="rexmle-chat"):
        c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    h = {"Authorization": f"Bearer {gateway.token}"}
    r = httpx.post(gateway.url + "/v1/chat/completions", content=b"{not json", headers=h)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = httpx.post(
        gateway.url + "/v1/chat/completions", json={"model": "rexmle-chat", "messages": []}, headers=h
    )
    assert r.status_code == 400


def test_non_openai_fields_are_dropped_and_named(gateway: Gateway, tmp_path: Path) -> None:
    h = {"Authorization": f"Bearer {gateway.token}"}
    body = {
        "model": "rexmle-chat",
        "messages": [{"role": "user", "content": "x"}],
        "chat_template_kwargs": {"thinking": True},
        "separate_reasoning": True,
        "temperature": 0.3,
    }
    assert httpx.post(gateway.url + "/v1/chat/completions", json=body, headers=h).status_code == 200
    sent = requests_log(tmp_path / "requests.jsonl")[-1]["request"]
    assert "chat_template_kwargs" not in sent and sent["temperature"] == 0.3
    assert read_calls(tmp_path / "llm.jsonl")[-1].dropped_fields == [
        "chat_template_kwargs",
        "separate_reasoning",
    ]


def test_token_budget_refuses_once_spent(scripted: ScriptedLLM, tmp_path: Path) -> None:
    with Gateway(_config(scripted, max_tokens=100), tmp_path / "llm.jsonl") as gw:
        c = _client(gw)
        c.chat.completions.create(model="rexmle-chat", messages=[{"role": "user", "content": "y" * 600}])
        assert gw.exhausted and "tokens" in (gw.meter.reason or "")
        with pytest.raises(openai.RateLimitError, match="LLM budget spent"):
            c.chat.completions.create(model="rexmle-chat", messages=[{"role": "user", "content": "again"}])
    assert [c.status for c in read_calls(tmp_path / "llm.jsonl")] == [200]  # the refusal cost nothing


def test_dollar_budget_needs_a_priced_model(scripted: ScriptedLLM, tmp_path: Path) -> None:
    cfg = GatewayConfig(
        routes=(Route(alias="rexmle-chat", model="openai/no-such-model-xyz", api_base=scripted.base_url),),
        budget=Budget(max_usd=1.0),
    )
    with pytest.raises(ConfigError, match="no price"):
        Gateway(cfg, tmp_path / "llm.jsonl")


def test_unreachable_upstream_is_a_502_and_logged(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port with nothing listening on it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = GatewayConfig(
        routes=(
            Route(
                alias="rexmle-chat",
                model="openai/gpt-4o-mini",
                api_base=f"http://127.0.0.1:{port}/v1",
                api_key=SecretStr("k"),
            ),
        ),
        upstream_retries=0,
        upstream_timeout_s=5,
    )
    with Gateway(cfg, tmp_path / "llm.jsonl") as gw:
        with pytest.raises(openai.APIStatusError) as info:
            _client(gw).chat.completions.create(
                model="rexmle-chat", messages=[{"role": "user", "content": "x"}]
            )
        assert info.value.status_code == 502
    (call,) = read_calls(tmp_path / "llm.jsonl")
    assert call.status == 502 and call.error


def test_gateway_overhead_is_small(gateway: Gateway, scripted: ScriptedLLM) -> None:
    """Not a timing assertion (that lives in bench/): a sanity bound that catches a hang."""
    c = _client(gateway)
    t0 = time.monotonic()
    for _ in range(5):
        c.chat.completions.create(model="rexmle-chat", messages=[{"role": "user", "content": "x"}])
    assert time.monotonic() - t0 < 30


def test_schema_instance_covers_pydantic_shapes() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"anyOf": [{"type": "null"}, {"type": "integer"}]},
            "b": {"type": ["string", "null"]},
            "c": {"const": "fixed"},
            "d": {"$ref": "#/definitions/D"},
        },
        "definitions": {"D": {"type": "object", "properties": {"x": {"type": "boolean"}}}},
    }
    assert schema_instance(schema) == {"a": 1, "b": "x", "c": "fixed", "d": {"x": False}}
