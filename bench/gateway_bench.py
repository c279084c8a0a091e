"""Gateway overhead: the same chat calls sent straight to the scripted LLM and through the gateway.

Run: ``.venv/bin/python bench/gateway_bench.py [--calls 200]`` (or ``make bench``). Writes the
``gateway`` entry of ``bench/results.json``. Both paths are measured in one run, interleaved,
on the same machine and server, so the difference is what the gateway adds per call: auth,
routing, litellm's request/response translation, pricing and the ledger append. Streaming is
measured to the last byte (time to first token is not what an agent's step waits for).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from pydantic import SecretStr
from results_file import header, save_entry

from rexmle.gateway import Gateway, GatewayConfig, Route
from rexmle.gateway.scripted import Script, ScriptedLLM

SCRIPT = Script.model_validate(
    {"rules": [{"name": "code", "content": "Plan.\n```python\nprint(1)\n```\n" * 20}]}
)
PROMPT = [
    {"role": "system", "content": "# Introduction\n" + "You are an expert. " * 800}
]  # ~15 kB, an AIDE-sized prompt


def _call(client: httpx.Client, url: str, key: str, model: str, stream: bool) -> float:
    body = {"model": model, "messages": PROMPT, "stream": stream}
    t0 = time.perf_counter()
    if stream:
        with client.stream("POST", url, json=body, headers={"Authorization": f"Bearer {key}"}) as r:
            r.raise_for_status()
            for _ in r.iter_bytes():
                pass
    else:
        r = client.post(url, json=body, headers={"Authorization": f"Bearer {key}"})
        r.raise_for_status()
    return time.perf_counter() - t0


def _summary(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    return {
        "median_ms": round(1000 * statistics.median(xs), 2),
        "p95_ms": round(1000 * xs[int(0.95 * (len(xs) - 1))], 2),
        "mean_ms": round(1000 * statistics.fmean(xs), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args(argv)
    out: dict[str, object] = {
        **header(),
        "calls_per_path": args.calls,
        "prompt_chars": len(PROMPT[0]["content"]),
    }
    with tempfile.TemporaryDirectory() as tmp, ScriptedLLM(SCRIPT) as llm:
        cfg = GatewayConfig(
            routes=(
                Route(
                    alias="rexmle-chat",
                    model="openai/gpt-4o-mini",
                    api_base=llm.base_url,
                    api_key=SecretStr("k"),
                ),
            ),
            upstream_retries=0,
        )
        with Gateway(cfg, Path(tmp) / "llm.jsonl", token="bench-token") as gw, httpx.Client(timeout=60) as c:
            paths = {
                "direct": (llm.base_url + "/chat/completions", "sk-direct", "gpt-4o-mini"),
                "gateway": (gw.url + "/v1/chat/completions", gw.token, "rexmle-chat"),
            }
            for stream in (False, True):
                for url, key, model in paths.values():  # warm-up (litellm's first call imports lazily)
                    for _ in range(5):
                        _call(c, url, key, model, stream)
                times: dict[str, list[float]] = {"direct": [], "gateway": []}
                for _ in range(args.calls):
                    for name, (url, key, model) in paths.items():
                        times[name].append(_call(c, url, key, model, stream))
                mode = "stream" if stream else "plain"
                d, g = _summary(times["direct"]), _summary(times["gateway"])
                out[mode] = {
                    "direct": d,
                    "gateway": g,
                    "overhead_median_ms": round(g["median_ms"] - d["median_ms"], 2),
                }
                print(
                    f"{mode:6s}: direct {d['median_ms']:.1f} ms, via gateway {g['median_ms']:.1f} ms "
                    f"(median; overhead {g['median_ms'] - d['median_ms']:.1f} ms/call, p95 {g['p95_ms']:.1f} ms)"
                )
    save_entry("gateway", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
