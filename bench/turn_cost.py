"""What one chat turn costs the store: DynamoDB calls and estimated request units per turn.

    .venv/bin/python bench/turn_cost.py [--prompt-kb 2]

Starts the embedded store (moto in its own process), publishes an echo bot whose prompt is
--prompt-kb KB (draft and online both), and drives the chat app in process over ASGI (as the
Lambda Web Adapter would) through the common turns. Every call PynamoDB makes is counted and
priced by agentgate.chat.metrics.measure_store_cost: read request units (4 KB strongly
consistent, half eventually consistent) and write request units (1 KB; x2 in a transaction).
Estimates from the items sent and returned (UpdateItem by what it sends; index writes not
counted). Also prints the bot read before and after the online item, and the cancel poll's cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
STREAMS = 10_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompt-kb", type=float, default=2.0)
    args = parser.parse_args()
    os.environ.setdefault("AGENTGATE_ECHO_DELAY_MS", "0")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_REGION", "us-east-1")
    from agentgate.local import embedded

    store = embedded.start_store(None)
    try:
        embedded.use_endpoints(store.endpoint, store.info.get("s3_endpoint") or store.endpoint)
        embedded.fake_credentials()
        embedded.ensure_storage(embedded=True)
        asyncio.run(run(args.prompt_kb))
    finally:
        store.stop()
    return 0


async def run(prompt_kb: float) -> None:
    from store_calls import asgi_turn

    from agentgate.api.chat import app
    from agentgate.chat import service
    from agentgate.chat.metrics import item_size, measure_store_cost
    from agentgate.config import settings
    from agentgate.store import bot_cache, bots

    prompt = ("You are a helpful assistant. " * 200)[: int(prompt_kb * 1024)]
    bot = bots.create_bot("bench", {"name": "cost", "model": "echo", "prompt": prompt}, ["cost"])
    bots.publish_bot("bench", bot.bot_id)
    bots.update_bot("bench", bot.bot_id, {"prompt": prompt + " (draft)"})  # draft and online both held
    ctx = lambda extra=None: json.dumps({"authorizer": {"key_id": "1000000000000000001", "owner_id": "bench",  # noqa: E731
                                                        "scopes": "chat read", **(extra or {})}})

    def openai(text, session=None):
        body = {"model": bot.bot_id, "stream": True, "messages": [{"role": "user", "content": text}]}
        if session:
            body["sessionId"] = session
        return "/v1/chat/completions", body

    def coze(text, conversation=None):
        body = {"bot_id": bot.bot_id, "user_id": "u1", "stream": True, "auto_save_history": True,
                "additional_messages": [{"role": "user", "content": text, "content_type": "text"}]}
        if conversation:
            body["conversation_id"] = conversation
        return "/v3/chat", body

    # warm up (imports, clients), outside the counts
    for _ in range(2):
        await asgi_turn(app, *openai("warm up"), ctx())

    rows = []

    async def measure(label, make, repeat=3, cold_bot=False, extra=None):
        samples = []
        for i in range(repeat):
            path, body = make(i)
            if cold_bot:
                bot_cache.clear()
            with measure_store_cost() as cost:
                out = await asgi_turn(app, path, body, ctx(extra))
                await asyncio.sleep(0.05)  # detached writes land
            text = b"".join(b for _, b in out["bodies"])
            if out["status"] != 200:
                print(f"  ! {label}: HTTP {out['status']} {text[:200]!r}")
            samples.append(cost)
        last = samples[-1]
        reads = sum(n for op, n in last.by_operation.items() if op in ("GetItem", "Query", "BatchGetItem"))
        rows.append((label, reads, last.total - reads, last.read_units, last.write_units,
                     ", ".join(f"{op} {n}" for op, n in sorted(last.by_operation.items())), last))
        return text

    session = f"s-{uuid.uuid4().hex}"
    await asgi_turn(app, *openai("first", session), ctx())
    await measure("OpenAI, no memory, bot not cached (first in 5 s)", lambda i: openai("hello"), cold_bot=True)
    await measure("OpenAI, no memory, bot cached", lambda i: openai("hello"))
    await measure("OpenAI + sessionId, continued session", lambda i: openai(f"turn {i}", session))
    first = await measure("Coze /v3/chat, new conversation", lambda i: coze("hello"), repeat=1)
    conv = json.loads(next(line[5:] for line in first.decode().splitlines()
                           if line.startswith("data:") and "conversation_id" in line))["conversation_id"]
    await measure("Coze /v3/chat, continued conversation", lambda i: coze(f"again {i}", conv))

    print(f"Store cost per chat turn (echo bot, prompt {prompt_kb:g} KB; estimated request units)")
    print(f"  {'turn':<50} {'reads':>5} {'writes':>6} {'RRU':>6} {'WRU':>6}  operations")
    for label, reads, writes, rru, wru, ops, _ in rows:
        print(f"  {label:<50} {reads:>5} {writes:>6} {rru:>6.1f} {wru:>6.1f}  {ops}")
    for label, *_, cost in (rows[0], rows[-1]):
        print(f"  calls of '{label}': " + "; ".join(
            f"{t.split('-', 1)[-1]} {op} r{r:g} w{w:g}" for op, t, r, w in cost.rows))

    # The bot read before and after: the bot item (draft + online) vs its online item.
    import boto3

    client = boto3.client("dynamodb", region_name=settings().region, endpoint_url=settings().dynamodb_endpoint)
    whole = client.get_item(TableName=settings().bots_table, Key={"bot_id": {"S": bot.bot_id}})["Item"]
    online = client.get_item(TableName=settings().bots_table, Key={"bot_id": {"S": bots.online_key(bot.bot_id)}})["Item"]
    units = lambda size: max(1, -(-size // 4096)) / 2  # noqa: E731 - eventually consistent
    print(f"  chat's bot read: the online item {item_size(online) / 1024:.1f} KB = {units(item_size(online)):g} RRU, "
          f"where the bot item ({item_size(whole) / 1024:.1f} KB, draft + online) was {units(item_size(whole)):g} RRU; "
          f"at the 180 KB maximum per config: 22.5 against 45 RRU")
    poll, strong = service.cancel_poll_s(), service.DEFAULT_CANCEL_POLL_S
    print(f"  a Coze or Responses stream polls its cancel flag every {poll:g} s (AGENTGATE_CANCEL_POLL_S): one eventually "
          f"consistent GetItem, 0.5 RRU; {STREAMS:,} streams: {STREAMS / poll:,.0f} reads/s = {STREAMS / poll / 2:,.0f} RRU/s "
          f"(before: 1 s, consistent: {STREAMS:,} reads/s = {STREAMS:,} RRU/s); a cancel reaching the same "
          f"process ends the poll with no read")


if __name__ == "__main__":
    sys.exit(main())
