"""Child process of bench/run.py: DynamoDB calls per chat turn, counted in process.

The chat app (agentgate.api.chat, the module functions/chat/app.py serves) is imported here and
driven straight through ASGI, with the `x-amzn-request-context` header the Lambda Web Adapter
sets; its models point at the gateway's embedded moto (AGENTGATE_DYNAMODB_ENDPOINT, set by the
parent from dev.json), so the bot the parent created is there. Calls are counted with
agentgate.chat.metrics.count_store_calls (PynamoDB's pre-send signal), each stamped with
time.monotonic_ns(); the bench stub stamps each request's arrival the same way (CLOCK_MONOTONIC
is one clock for every process), which splits a turn's calls into "before the upstream was
reached" and "after". A raw ASGI driver (not httpx's ASGITransport, which buffers the body)
also stamps the first body byte, for a breakdown of the time to first token.

    python bench/store_calls.py STUB_URL BOT_ID OWNER_ID ADMIN_KEY   -> one JSON object on stdout
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
import urllib.request
import uuid

READS = {"GetItem", "Query", "BatchGetItem", "Scan", "TransactGetItems"}
REPEAT = 5


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


class Recorder:
    """Per-call (start_ns, end_ns, operation, table) on top of the project's counter."""

    def __init__(self, calls):
        self.calls = calls
        self.rows: list[list] = []
        self._open: dict[str, list] = {}
        original = calls.add

        def add(operation, table):
            self.rows.append([time.monotonic_ns(), None, operation, table])
            original(operation, table)

        calls.add = add  # type: ignore[method-assign]

    def connect_post_signal(self) -> None:
        """End times from PynamoDB's post-send signal (matched in order per operation)."""
        from pynamodb import signals

        if not signals.signals_available:
            return

        def post(sender, operation_name=None, table_name=None, req_uuid=None):
            now = time.monotonic_ns()
            for row in self.rows:
                if row[1] is None and row[2] == operation_name and row[3] == table_name:
                    row[1] = now
                    return

        self._post = post  # keep a strong reference (blinker holds receivers weakly)
        signals.post_dynamodb_send.connect(post)

    def take(self) -> list[list]:
        rows, self.rows = self.rows, []
        self.calls.reset()
        return rows


async def asgi_turn(app, path: str, body: dict, context: str) -> dict:
    """One request straight into the ASGI app; timestamps of the response start and each body."""
    raw = json.dumps(body).encode()
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
        "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000),
        "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
                    (b"content-length", str(len(raw)).encode()),
                    (b"x-amzn-request-context", context.encode())],
    }
    done = asyncio.Event()
    delivered = False
    out = {"status": None, "bodies": []}

    async def receive():
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        now = time.monotonic_ns()
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
        elif message["type"] == "http.response.body" and message.get("body"):
            out["bodies"].append((now, message["body"]))

    out["t0"] = time.monotonic_ns()
    await app(scope, receive, send)
    out["t_end"] = time.monotonic_ns()
    done.set()
    return out


def summarize(rows: list[list], arrival_ns: int | None, t0: int, first_ns: int | None) -> dict:
    before = [r for r in rows if arrival_ns is not None and r[0] < arrival_ns]
    ops: dict[str, int] = {}
    for r in rows:
        ops[r[2]] = ops.get(r[2], 0) + 1
    blocking_ms = 0.0
    for r in before:
        if r[2] in READS and r[1] is not None:
            blocking_ms += (r[1] - r[0]) / 1e6
    return {
        "total": len(rows),
        "ops": ops,
        "before_reads": sum(1 for r in before if r[2] in READS),
        "before_writes": sum(1 for r in before if r[2] not in READS),
        "before_ops": [r[2] for r in before],
        "read_ms_before": blocking_ms,  # sum of the read round trips before the upstream (sequential or not)
        "to_upstream_ms": (arrival_ns - t0) / 1e6 if arrival_ns else None,
        "to_first_byte_ms": (first_ns - t0) / 1e6 if first_ns else None,
        "upstream_to_first_byte_ms": (first_ns - arrival_ns) / 1e6 if first_ns and arrival_ns else None,
        "call_ms": [round((r[1] - r[0]) / 1e6, 3) for r in rows if r[1] is not None],
    }


async def main() -> dict:
    stub_url, bot_id, owner_id, admin_key = sys.argv[1:5]
    from import_probe import current_rss_kb

    rss = {"start": current_rss_kb()}
    from agentgate.api.chat import app
    from agentgate.chat import service as chat_service
    from agentgate.chat.metrics import count_store_calls
    from agentgate import lifecycle

    # What Lambda's init does before the first request (agentgate.lifecycle): imports and clients.
    init_ms = lifecycle.run_init_hooks()
    rss["after the init hooks"] = current_rss_kb()

    runner_started: list[int] = []
    real_run_turn = chat_service._run_turn

    def stamped_run_turn(req, cancel):  # the indirection the tests replace: stamp when the model is called
        runner_started.append(time.monotonic_ns())
        return real_run_turn(req, cancel)

    chat_service._run_turn = stamped_run_turn

    rss["chat app imported"] = current_rss_kb()

    context = json.dumps({"authorizer": {"key_id": "bench", "owner_id": owner_id, "scopes": "chat read admin"}},
                         separators=(",", ":"))
    stub_root = stub_url.rsplit("/v1", 1)[0]

    def openai_body(text: str, session: str | None = None) -> dict:
        body = {"model": bot_id, "stream": True, "messages": [{"role": "user", "content": text}]}
        if session:
            body["sessionId"] = session
        return body

    def coze_body(text: str) -> dict:
        return {"bot_id": bot_id, "user_id": "bench", "stream": True, "auto_save_history": True,
                "additional_messages": [{"role": "user", "content": text, "content_type": "text"}]}

    result: dict = {"scenarios": {}, "errors": [], "init_ms": init_ms}
    last_conversation: dict = {}
    with count_store_calls() as calls:
        rec = Recorder(calls)
        rec.connect_post_signal()

        async def turn(path: str, body: dict) -> dict:
            rec.take()
            runner_started.clear()
            since = time.monotonic_ns()
            out = await asgi_turn(app, path, body, context)
            await asyncio.sleep(0.05)  # anything detached finishes (nothing should be)
            rows = rec.take()
            arrivals = [a for a in _get_json(stub_root + "/_arrivals") if a >= since]
            arrival = arrivals[0] if arrivals else None
            first = out["bodies"][0][0] if out["bodies"] else None
            text = b"".join(b for _, b in out["bodies"])
            summary = summarize(rows, arrival, out["t0"], first)
            summary["to_runner_ms"] = (runner_started[0] - out["t0"]) / 1e6 if runner_started else None
            summary["status"] = out["status"]
            summary["upstream_requests"] = len(arrivals)
            m = re.search(rb'"conversation_id":\s*"([^"]+)"', text)
            if m:
                last_conversation["id"] = m.group(1).decode()
            if out["status"] != 200 or (b"[DONE]" not in text and b"conversation.chat.completed" not in text):
                result["errors"].append(f"{path}: HTTP {out['status']}: {text[:300]!r}")
            return summary

        # Warm up: botocore clients, the openai SDK and its pool, first-use imports.
        first = await turn("/v1/chat/completions", openai_body("warm up bench_deltas=5"))
        result["first_turn"] = first  # right after the import: lazy imports and client creation land here
        for _ in range(2):
            await turn("/v1/chat/completions", openai_body("warm up bench_deltas=5"))
        await turn("/v1/chat/completions", openai_body("warm up bench_deltas=5", f"warm-{uuid.uuid4().hex}"))
        rss["after the first turns (botocore client, openai SDK)"] = current_rss_kb()

        async def scenario(name: str, make, repeat: int = REPEAT) -> None:
            runs = [await make(i) for i in range(repeat)]
            result["scenarios"][name] = runs
            rss[f"after '{name}'"] = current_rss_kb()

        await scenario("openai, no memory",
                       lambda i: turn("/v1/chat/completions", openai_body("hello bench_deltas=5")), 20)
        await scenario("openai + sessionId, new session",
                       lambda i: turn("/v1/chat/completions",
                                      openai_body("hello bench_deltas=5", f"bench-{uuid.uuid4().hex}")))
        session = f"bench-{uuid.uuid4().hex}"
        await turn("/v1/chat/completions", openai_body("first turn bench_deltas=5", session))
        await scenario("openai + sessionId, continued",
                       lambda i: turn("/v1/chat/completions", openai_body(f"turn {i} bench_deltas=5", session)))

        # Coze v3: a new conversation, then one continued (?conversation_id=...).
        await scenario("coze /v3/chat, new conversation",
                       lambda i: turn("/v3/chat", coze_body("hello bench_deltas=5")))
        conv_id = last_conversation.get("id")
        if conv_id:
            async def continued(i):
                body = coze_body(f"again {i} bench_deltas=5")
                body["conversation_id"] = conv_id
                return await turn("/v3/chat", body)

            await scenario("coze /v3/chat, continued conversation", continued)

        from import_probe import peak_rss_kb

        result["maxrss_kb"] = peak_rss_kb()  # the chat function's share: the authorizer is another Lambda

        # The authorizer on a cache miss (API Gateway caches its answer per key for the TTL).
        from agentgate.auth.authorizer import decide

        auth_runs = []
        for _ in range(3):
            rec.take()
            decision = decide(f"Bearer {admin_key}")
            rows = rec.take()
            auth_runs.append({"allowed": decision.allowed, "ops": [r[2] for r in rows],
                              "call_ms": [round((r[1] - r[0]) / 1e6, 3) for r in rows if r[1] is not None]})
        result["authorizer"] = auth_runs
        rss["after the authorizer calls"] = current_rss_kb()

    result["rss_kb"] = rss
    return result


if __name__ == "__main__":
    try:
        out = asyncio.run(main())
    except Exception as exc:  # noqa: BLE001 - the parent prints what went wrong
        import traceback

        out = {"fatal": f"{exc!r}", "traceback": traceback.format_exc()}
    print(json.dumps(out))
