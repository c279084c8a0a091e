"""The budget holds when the agent sends many calls at once, and hostile bodies get a clean 400.

Everything goes over real HTTP: client threads -> gateway -> litellm -> the scripted upstream,
which bills at most the ``max_tokens`` each request carried (as a provider does), so the ledger
shows whether the gateway's clamp reached the upstream. Before reservations, 50 concurrent calls
against a 3,000-token budget were all admitted (the budget was only checked before forwarding)
and spent about 50,000 tokens.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import scripted_gateway_config

from rexmle.gateway import Budget, Gateway, LlmCall, read_calls
from rexmle.gateway.scripted import Script, ScriptedLLM, requests_log

SCRIPT = {
    "rules": [
        # "would write 100,000 tokens": the upstream bills min(this, the request's max_tokens)
        {
            "name": "long",
            "when": {"contains": ["write"]},
            "content": "A long answer.",
            "usage": {"completion_tokens": 100_000},
            "delay_s": 0.05,
        },
        {"name": "slow", "when": {"contains": ["SLOW"]}, "content": "late", "delay_s": 3.0},
        {
            "name": "dribble",
            "when": {"contains": ["DRIBBLE"]},
            "content": "one slow chunk after another",
            "chunk_delay_s": 0.5,
        },
        {"name": "embed", "when": {"endpoint": "embeddings"}},
        # any other chat text matches no rule: the upstream answers 400
    ]
}

BUDGET = 3000
#: What one clamped call may add on top of the budget: the last call admitted gets at least one
#: completion token even when its prompt estimate does not fit. These prompts are ~60 bytes of
#: JSON (an estimate of ~30 tokens; the upstream bills ~4), so 64 is a generous bound.
ONE_CLAMPED_CALL = 64
#: gpt-4o-mini list prices per token in litellm's bundled map (the route's real model)
USD_IN, USD_OUT = 0.15e-6, 0.6e-6


@pytest.fixture
def scripted(tmp_path: Path) -> Iterator[ScriptedLLM]:
    with ScriptedLLM(Script.model_validate(SCRIPT), tmp_path / "requests.jsonl") as llm:
        yield llm


def _gateway(llm: ScriptedLLM, tmp_path: Path, **budget: Any) -> Gateway:
    config = scripted_gateway_config(llm.base_url, Budget(**budget), upstream_retries=0)
    return Gateway(
        config, tmp_path / "llm.jsonl", validator=lambda p: {"valid": True}, validate_roots=(tmp_path,)
    )


def _headers(gw: Gateway) -> dict[str, str]:
    return {"Authorization": f"Bearer {gw.token}"}


def _chat(client: httpx.Client, gw: Gateway, text: str, stream: bool = False, **extra: Any) -> int:
    """One chat call over HTTP; returns the status (a stream is read to its end)."""
    body = {"model": "rexmle-chat", "messages": [{"role": "user", "content": text}], **extra}
    url = gw.url + "/v1/chat/completions"
    if not stream:
        return client.post(url, json=body, headers=_headers(gw)).status_code
    with client.stream("POST", url, json={**body, "stream": True}, headers=_headers(gw)) as r:
        for _ in r.iter_lines():
            pass
        return r.status_code


def _hammer(gw: Gateway, n: int, stream: bool, max_tokens: int, rounds: bool = True) -> list[int]:
    """``n`` threads start together, each asking for ``max_tokens``. With ``rounds``, each keeps
    calling (a 429 while others hold the budget is retried) until the harness would stop the agent
    (``gw.exhausted``), so the run ends with the budget spent, not just one wave admitted."""
    barrier = threading.Barrier(n)
    statuses: list[int] = []
    lock = threading.Lock()
    deadline = time.monotonic() + 60

    def agent(i: int) -> None:
        with httpx.Client(timeout=30) as client:
            barrier.wait()
            while time.monotonic() < deadline:
                status = _chat(client, gw, f"write a lot {i}", stream, max_tokens=max_tokens)
                with lock:
                    statuses.append(status)
                if not rounds or gw.exhausted:
                    return
                if status == 429:
                    time.sleep(0.01)

    threads = [threading.Thread(target=agent, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def _check_ledger(tmp_path: Path) -> tuple[int, float]:
    """Ledger totals, after checking that every forwarded call is in it with the upstream's usage
    and that no call reached the upstream asking for more than the budget."""
    ledger = read_calls(tmp_path / "llm.jsonl")
    upstream = [r for r in requests_log(tmp_path / "requests.jsonl") if r["usage"]]
    assert len(ledger) == len(upstream) > 0
    assert sum(c.prompt_tokens + c.completion_tokens for c in ledger) == sum(
        r["usage"]["prompt_tokens"] + r["usage"]["completion_tokens"] for r in upstream
    )
    for r in upstream:
        assert 1 <= r["request"]["max_tokens"] <= BUDGET
    tokens = sum(c.prompt_tokens + c.completion_tokens for c in ledger)
    return tokens, sum(c.cost_usd or 0.0 for c in ledger)


def test_ten_concurrent_calls_stay_within_the_token_budget(scripted: ScriptedLLM, tmp_path: Path) -> None:
    with _gateway(scripted, tmp_path, max_tokens=BUDGET) as gw:
        statuses = _hammer(gw, 10, stream=False, max_tokens=1000)
        assert gw.exhausted
    tokens, _ = _check_ledger(tmp_path)
    assert BUDGET <= tokens <= BUDGET + ONE_CLAMPED_CALL
    assert set(statuses) <= {200, 429} and 429 in statuses
    assert gw.meter.in_flight == 0
    # the clamp reached the upstream: later calls were sent with less than the 1000 asked for
    sent = [r["request"]["max_tokens"] for r in requests_log(tmp_path / "requests.jsonl")]
    assert min(sent) < 1000


@pytest.mark.adversarial
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_fifty_concurrent_calls_stay_within_the_token_budget(
    scripted: ScriptedLLM, tmp_path: Path, stream: bool
) -> None:
    with _gateway(scripted, tmp_path, max_tokens=BUDGET) as gw:
        statuses = _hammer(gw, 50, stream=stream, max_tokens=1000)
        assert gw.exhausted
    tokens, _ = _check_ledger(tmp_path)
    assert BUDGET <= tokens <= BUDGET + ONE_CLAMPED_CALL
    assert set(statuses) <= {200, 429}
    assert gw.meter.in_flight == 0
    assert all(c.stream == stream for c in read_calls(tmp_path / "llm.jsonl"))


@pytest.mark.adversarial
def test_fifty_concurrent_calls_stay_within_the_dollar_budget(scripted: ScriptedLLM, tmp_path: Path) -> None:
    max_usd = 0.002  # about 3,300 completion tokens of gpt-4o-mini
    with _gateway(scripted, tmp_path, max_usd=max_usd) as gw:
        _hammer(gw, 50, stream=False, max_tokens=1000)
        assert gw.exhausted
    _, cost = _check_ledger(tmp_path)
    assert max_usd <= cost <= max_usd + ONE_CLAMPED_CALL * USD_OUT
    assert gw.meter.in_flight == 0


def test_the_clamp_reaches_the_upstream(scripted: ScriptedLLM, tmp_path: Path) -> None:
    """max_tokens, max_completion_tokens, and a call that names neither, each leave the gateway
    clamped to what the budget has left; and the upstream bills no more than that."""
    log = tmp_path / "requests.jsonl"
    with _gateway(scripted, tmp_path, max_tokens=BUDGET) as gw, httpx.Client(timeout=30) as c:
        assert _chat(c, gw, "write a lot", max_tokens=100_000) == 200
        first = requests_log(log)[-1]
        assert BUDGET - ONE_CLAMPED_CALL <= first["request"]["max_tokens"] < BUDGET
        assert first["usage"]["completion_tokens"] == first["request"]["max_tokens"]
        left = BUDGET - gw.usage().tokens
        assert 0 < left < ONE_CLAMPED_CALL  # the first call may spend all but the prompt's margin

    with _gateway(scripted, tmp_path / "2", max_tokens=BUDGET) as gw, httpx.Client(timeout=30) as c:
        assert _chat(c, gw, "write a lot", max_completion_tokens=50_000) == 200
        sent = requests_log(log)[-1]["request"]
        assert BUDGET - ONE_CLAMPED_CALL <= sent["max_completion_tokens"] < BUDGET

    with _gateway(scripted, tmp_path / "3", max_tokens=BUDGET) as gw, httpx.Client(timeout=30) as c:
        assert _chat(c, gw, "write a lot") == 200  # names no limit: the model's own is 16,384
        sent = requests_log(log)[-1]["request"]
        assert BUDGET - ONE_CLAMPED_CALL <= sent["max_tokens"] < BUDGET

    with _gateway(scripted, tmp_path / "4", max_tokens=BUDGET) as gw, httpx.Client(timeout=30) as c:
        assert _chat(c, gw, "write a lot", max_tokens=200) == 200  # fits: forwarded as asked
        assert requests_log(log)[-1]["request"]["max_tokens"] == 200

    # A budget far above the model's output limit (16,384), or none, leaves the request alone.
    for name, budget in (("5", {"max_tokens": 5_000_000, "max_usd": 10.0}), ("6", {})):
        with _gateway(scripted, tmp_path / name, **budget) as gw, httpx.Client(timeout=30) as c:
            assert _chat(c, gw, "write a lot") == 200
            assert "max_tokens" not in requests_log(log)[-1]["request"]


def test_a_resumed_ledger_counts_before_the_clamp(scripted: ScriptedLLM, tmp_path: Path) -> None:
    """A gateway restarted on a run's ledger clamps against what is left after earlier calls."""
    earlier = LlmCall(
        time=0.0, endpoint="chat", alias="rexmle-chat", model="openai/gpt-4o-mini", status=200,
        prompt_tokens=900, completion_tokens=1900, cost_usd=None, latency_s=1.0,
    )  # fmt: skip
    (tmp_path / "llm.jsonl").write_text(earlier.model_dump_json() + "\n")
    with _gateway(scripted, tmp_path, max_tokens=BUDGET) as gw, httpx.Client(timeout=30) as c:
        assert _chat(c, gw, "write a lot", max_tokens=1000) == 200
        sent = requests_log(tmp_path / "requests.jsonl")[-1]["request"]["max_tokens"]
        assert 200 - ONE_CLAMPED_CALL <= sent < 200
        assert gw.usage().calls == 2


def _wait_idle(gw: Gateway) -> None:
    deadline = time.monotonic() + 10
    while gw.meter.in_flight and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gw.meter.in_flight == 0


def test_failed_and_abandoned_calls_give_their_reservation_back(
    scripted: ScriptedLLM, tmp_path: Path
) -> None:
    """An upstream error, a client that hangs up while waiting, and one that hangs up in the
    middle of a stream each hold a reservation of nearly the whole budget; once they end, the
    next call must be admitted with the whole remainder again."""
    log = tmp_path / "requests.jsonl"
    with _gateway(scripted, tmp_path, max_tokens=BUDGET) as gw, httpx.Client(timeout=30) as c:
        assert _chat(c, gw, "no rule matches this", max_tokens=100_000) == 400  # the upstream's 400
        _wait_idle(gw)
        with pytest.raises(httpx.ReadTimeout), httpx.Client(timeout=0.5) as impatient:
            _chat(impatient, gw, "SLOW", max_tokens=100_000)
        _wait_idle(gw)
        url = gw.url + "/v1/chat/completions"
        body = {
            "model": "rexmle-chat",
            "messages": [{"role": "user", "content": "DRIBBLE"}],
            "stream": True,
            "max_tokens": 100_000,
        }
        with c.stream("POST", url, json=body, headers=_headers(gw)) as r:
            assert r.status_code == 200
            next(r.iter_lines())  # one chunk, then hang up
        _wait_idle(gw)
        spent = gw.usage().tokens
        assert _chat(c, gw, "write a lot", max_tokens=100_000) == 200
        sent = requests_log(log)[-1]["request"]["max_tokens"]
        assert BUDGET - spent - ONE_CLAMPED_CALL <= sent < BUDGET - spent
    ledger = read_calls(tmp_path / "llm.jsonl")
    assert ledger[0].status == 400 and ledger[-1].status == 200
    assert [c.error for c in ledger if c.stream] == ["client disconnected mid-stream"]


def test_concurrent_embeddings_stay_within_the_token_budget(scripted: ScriptedLLM, tmp_path: Path) -> None:
    """Embeddings cannot be clamped: each reserves its input's estimate and is refused when that
    does not fit beside the calls in flight."""
    text = "an embedding input of some length " * 20  # ~170 tokens as the upstream counts them
    barrier = threading.Barrier(20)
    statuses: list[int] = []

    def agent(gw: Gateway) -> None:
        with httpx.Client(timeout=30) as client:
            barrier.wait()
            body = {"model": "rexmle-embed", "input": [text]}
            r = client.post(gw.url + "/v1/embeddings", json=body, headers=_headers(gw))
            statuses.append(r.status_code)

    with _gateway(scripted, tmp_path, max_tokens=1000) as gw:
        threads = [threading.Thread(target=agent, args=(gw,)) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    ledger = read_calls(tmp_path / "llm.jsonl")
    one_call = max(c.prompt_tokens for c in ledger)
    assert sum(c.prompt_tokens for c in ledger) <= 1000 + one_call
    assert 200 in statuses and 429 in statuses
    assert gw.meter.in_flight == 0


def test_bad_bodies_get_a_400_and_no_traceback(
    scripted: ScriptedLLM, tmp_path: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    deep = b"[" * 100_000 + b"]" * 100_000
    nested: Any = "x"
    for _ in range(100):  # valid JSON, well under Python's recursion limit, but deeper than 64
        nested = {"a": nested}
    bodies = [
        b"{not json",
        b"[1, 2, 3]",
        b'"a string"',
        deep,
        b"{" * 50_000,
        json.dumps({"model": "rexmle-chat", "messages": [nested]}).encode(),
        b'{"model": "rexmle-chat", "messages": "\xff\xfe"}',  # not UTF-8
    ]
    with _gateway(scripted, tmp_path, max_tokens=BUDGET) as gw, httpx.Client(timeout=30) as c:
        for path in ("/v1/chat/completions", "/v1/embeddings", "/validate"):
            for raw in bodies:
                headers = {"Content-Type": "application/json", **_headers(gw)}
                r = c.post(gw.url + path, content=raw, headers=headers)
                assert r.status_code == 400, (path, raw[:40], r.text[:200])
                error = r.json()["error"]
                assert error["code"] == "invalid_json" and error["type"] == "invalid_request_error"
                assert error["message"] and "\n" not in error["message"]
        # JSON is UTF-8 whatever charset the header names (an unknown one was a 500)
        body = {"model": "rexmle-chat", "messages": [{"role": "user", "content": "write a lot"}]}
        headers = {"Content-Type": "application/json; charset=no-such-charset", **_headers(gw)}
        r = c.post(gw.url + "/v1/chat/completions", content=json.dumps(body).encode(), headers=headers)
        assert r.status_code == 200
    # none of the bad bodies reached the upstream or the ledger
    assert len(read_calls(tmp_path / "llm.jsonl")) == len(requests_log(tmp_path / "requests.jsonl")) == 1
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and "Error handling request" not in out + err
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_bad_limits_get_a_400(scripted: ScriptedLLM, tmp_path: Path) -> None:
    """A max_tokens the gateway cannot clamp (not a positive integer) is refused, not forwarded."""
    with _gateway(scripted, tmp_path, max_tokens=BUDGET) as gw, httpx.Client(timeout=30) as c:
        for extra in ({"max_tokens": "many"}, {"max_completion_tokens": -1}, {"n": 0}, {"stream_options": 3}):
            assert _chat(c, gw, "write a lot", **extra) == 400, extra
    assert requests_log(tmp_path / "requests.jsonl") == []
