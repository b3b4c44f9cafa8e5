"""The access policy's cost per chat turn: time and DynamoDB calls the rate limiter and the
metering add, with the limiter on and off, in one run.

    .venv/bin/python bench/limiter.py [--turns 200] [--store embedded|moto]

It starts the embedded store (moto in its own process, as `agentgate dev` runs it: a real HTTP
round trip per call) unless `--store moto` (in-process mock_aws: no network, the calls' CPU
only), creates a published echo bot, and drives the chat app over ASGI with three principals,
turn by turn in alternation so machine noise falls on all three alike:
  off      AGENTGATE_RATE_LIMITS=off and no metering: the baseline
  metered  the scope's default limits (rpm; one UpdateItem before the model) and metering
  stream   the same, streamed under a concurrency limit (window and slot in parallel)
For each it prints p50/p95 of the time until the model is called and of the whole turn, and the
store calls per turn split into before the model and after it. A report, not a test: it exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "shared"))


def _header(principal) -> dict:
    ctx = {"requestId": "bench", "authorizer": principal.to_context(), "identity": {"sourceIp": "127.0.0.1"}}
    return {"x-amzn-request-context": json.dumps(ctx)}


async def _turn(client, headers: dict, stream: bool, calls, before: list) -> tuple[float, float, dict]:
    from agentgate.chat import service

    body = {"model": "main", "messages": [{"role": "user", "content": "hello there"}], "stream": stream}
    calls.reset()
    started = time.perf_counter()
    first = None
    original = service._run_turn

    def spy(req, cancel):
        before.append(dict(calls.by_operation))
        before.append(time.perf_counter())
        return original(req, cancel)

    service._run_turn = spy
    try:
        # (httpx's ASGI transport hands over the body at the end: the time to the model call is
        # taken where the turn calls the model, not from the first byte)
        async with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as r:
            async for _ in r.aiter_bytes():
                pass
            assert r.status_code == 200, r.status_code
        first = before[1]
    finally:
        service._run_turn = original
    # the metering runs in parallel with the answer's own writes, before the final frame
    return (first - started) * 1000, (time.perf_counter() - started) * 1000, dict(calls.by_operation)


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p * (len(values) - 1))))]


async def run(turns: int) -> None:
    import httpx

    from agentgate.api.chat import app
    from agentgate.auth.principal import Principal
    from agentgate.chat.metrics import count_store_calls
    from agentgate.policy import limits

    modes = {
        "off": (Principal(key_id="1", owner_id="bench", scopes=("chat",)), False),
        "metered": (Principal(key_id="2", owner_id="bench", scopes=("chat",)), False),
        "stream": (Principal(key_id="3", owner_id="bench", scopes=("chat",), concurrency=1000), True),
    }
    results = {name: {"ttft": [], "total": [], "before": [], "after": []} for name in modes}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        with count_store_calls() as calls:
            for i in range(turns + 10):
                for name, (principal, stream) in modes.items():
                    os.environ["AGENTGATE_RATE_LIMITS"] = "off" if name == "off" else "on"
                    before: list = []
                    # "off" also leaves the metering out: the turn as it was before the access policy
                    p = None if name == "off" else principal
                    headers = _header(p or principal)
                    if name == "off":
                        from agentgate.chat import service

                        saved = service.Turn._account
                        service.Turn._account = lambda self: None
                    try:
                        ttft, total, ops = await _turn(client, headers, stream, calls, before)
                    finally:
                        if name == "off":
                            service.Turn._account = saved
                    if i < 10:
                        continue  # warm-up
                    r = results[name]
                    r["ttft"].append(ttft)
                    r["total"].append(total)
                    b = sum((before[0] if before else {}).values())
                    r["before"].append(b)
                    r["after"].append(sum(ops.values()) - b)
    print(f"chat turns per mode: {turns} (echo bot, store: {os.environ.get('BENCH_STORE')}); scope default "
          f"limits for chat: {limits.scope_default(('chat',))}")
    print(f"{'mode':<9} {'model p50':>9} {'model p95':>9} {'turn p50':>9} {'turn p95':>9} "
          f"{'calls before model':>19} {'calls after':>12}")
    base = statistics.median(results["off"]["ttft"])
    for name, r in results.items():
        print(f"{name:<9} {statistics.median(r['ttft']):8.2f}ms {_pct(r['ttft'], .95):8.2f}ms "
              f"{statistics.median(r['total']):8.2f}ms {_pct(r['total'], .95):8.2f}ms "
              f"{statistics.mean(r['before']):19.1f} {statistics.mean(r['after']):12.1f}")
    for name in ("metered", "stream"):
        added = statistics.median(results[name]["ttft"]) - base
        print(f"added before the model is called ({name}): {added:+.2f} ms p50 "
              f"({statistics.median(results[name]['ttft']) / base:.2f}x the baseline)")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--store", choices=["embedded", "moto"], default="embedded")
    args = parser.parse_args()
    os.environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="bench",
                      AWS_SECRET_ACCESS_KEY="bench", AGENTGATE_ECHO_DELAY_MS="0", BENCH_STORE=args.store)
    stop = None
    if args.store == "embedded":
        from agentgate.local import embedded

        store = embedded.start_store(None)  # memory only
        embedded.use_endpoints(store.endpoint, store.endpoint)
        stop = store.stop
    else:
        from moto import mock_aws

        mock = mock_aws()
        mock.start()
        stop = mock.stop
    try:
        from agentgate.local.embedded import ensure_storage
        from agentgate.store import base, bots

        base.configure_models()
        ensure_storage(embedded=args.store == "embedded")
        bot = bots.create_bot("bench", {"name": "bench", "model": "echo"}, aliases=["main"])
        bots.publish_bot("bench", bot.bot_id)
        asyncio.run(run(args.turns))
    finally:
        stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
