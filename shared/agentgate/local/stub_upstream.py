"""A tiny OpenAI-compatible upstream for tests and benchmarks (stdlib asyncio, raw HTTP/1.1).

    POST /v1/chat/completions   stream and non-stream
    GET  /v1/models             one model, "stub"
    GET  /_requests             the last request bodies received (JSON list, oldest first)
    DELETE /_requests           forget them (and reset /_stats)
    GET  /_stats                {"requests", "completed", "disconnected", "tcp_nodelay"}: did a
                                client hang up? (tcp_nodelay: this connection's socket option)

The reply is deterministic and quotes every message it received, so a test can prove what
reached the model:  'Stub reply to N messages: [system] ... [user] ...'. Each word is one delta
(one token for usage). Knobs, per request (body fields) or per process (env / start_stub args):
    stub_deltas   / AGENTGATE_STUB_DELTAS    exactly this many deltas (merged or padded)
    stub_delay_ms / AGENTGATE_STUB_DELAY_MS  pause between deltas
`max_tokens` cuts the reply (finish_reason "length"). The last user message's text triggers:
    __fail__        HTTP 500 with an OpenAI error body, before any byte of stream
    __status_NNN__  HTTP NNN with an OpenAI error body (e.g. __status_401__)
    __stall__       one delta, then silence until the client goes away
    __slow__        50 ms between deltas
    __tool__        with `tools` given: a streamed call of the first tool, finish "tool_calls"
                    (unless the last message is a tool's result: then the reply quotes it)
Sockets run with TCP_NODELAY: without it small writes stall ~40 ms (Nagle + delayed ACK).

Run standalone: python -m agentgate.local.stub_upstream --port 9999
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import threading
import time
from collections import deque
from typing import Any, Callable

_STATUS_TEXT = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                405: "Method Not Allowed", 422: "Unprocessable Entity", 429: "Too Many Requests",
                500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
_STATUS_TRIGGER = re.compile(r"__status_(\d{3})__")
_KEEP_REQUESTS = 200


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                out.append(str(part.get("text", "")))
            elif isinstance(part, dict) and part.get("type") == "image_url":
                out.append("[image]")
        return " ".join(out)
    return "" if content is None else str(content)


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


class StubUpstream:
    def __init__(self, deltas: int | None = None, delay_ms: float | None = None) -> None:
        self.deltas = deltas if deltas is not None else _int(os.environ.get("AGENTGATE_STUB_DELTAS"), 0)
        self.delay_ms = delay_ms if delay_ms is not None else float(os.environ.get("AGENTGATE_STUB_DELAY_MS") or 0)
        self.requests: deque[Any] = deque(maxlen=_KEEP_REQUESTS)
        self.stats = {"requests": 0, "completed": 0, "disconnected": 0}

    # ---- HTTP plumbing -------------------------------------------------------------------

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:  # keep-alive: one request after another on this connection
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(_int(headers.get("content-length"), 0))
                keep = await self.route(method, path.split("?", 1)[0], body, reader, writer)
                if not keep or headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            pass
        except asyncio.CancelledError:  # the stub is stopping: end quietly
            pass
        finally:
            writer.close()

    async def respond(self, writer: asyncio.StreamWriter, status: int, payload: Any) -> bool:
        data = json.dumps(payload).encode()
        writer.write(
            f"HTTP/1.1 {status} {_STATUS_TEXT.get(status, 'Error')}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(data)}\r\nx-request-id: req_stub\r\n\r\n".encode() + data
        )
        await writer.drain()
        return True

    async def route(self, method: str, path: str, body: bytes, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> bool:
        path = path.rstrip("/")
        if path == "/_requests" and method == "GET":
            return await self.respond(writer, 200, list(self.requests))
        if path == "/_requests" and method == "DELETE":
            self.requests.clear()
            self.stats = {k: 0 for k in self.stats}
            return await self.respond(writer, 200, {"ok": True})
        if path == "/_stats":
            sock = writer.get_extra_info("socket")
            nodelay = bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)) if sock else False
            return await self.respond(writer, 200, {**self.stats, "tcp_nodelay": nodelay})
        if path.endswith("/models") and method == "GET":
            return await self.respond(writer, 200, {"object": "list", "data": [
                {"id": "stub", "object": "model", "created": 0, "owned_by": "agentgate"}]})
        if path.endswith("/chat/completions") and method == "POST":
            try:
                req = json.loads(body or b"{}")
            except ValueError:
                return await self.respond(writer, 400, _error("body is not JSON", "invalid_request_error"))
            return await self.chat(req, reader, writer)
        return await self.respond(writer, 404, _error(f"no route {method} {path}", "not_found"))

    # ---- chat completions ----------------------------------------------------------------

    async def chat(self, req: dict[str, Any], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        self.requests.append(req)
        self.stats["requests"] += 1
        messages = req.get("messages") or []
        last_user = next((_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
        status = 500 if "__fail__" in last_user else None
        if m := _STATUS_TRIGGER.search(last_user):
            status = int(m.group(1))
        if status:
            return await self.respond(writer, status, _error(f"stub upstream failure (HTTP {status})", "server_error"))

        words, finish = self.reply_words(req, messages)
        # Only when the user spoke last: after a tool's result the stub answers (quoting it).
        answering_tool = bool(messages) and messages[-1].get("role") == "tool"
        tool = (req.get("tools") or [None])[0] if "__tool__" in last_user and not answering_tool else None
        delay = 0.05 if "__slow__" in last_user else _int(req.get("stub_delay_ms"), 0) / 1000 or self.delay_ms / 1000
        usage = {"prompt_tokens": sum(len(_text(m.get("content")).split()) for m in messages),
                 "completion_tokens": len(words)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        cid, created, model = f"chatcmpl-stub{self.stats['requests']}", int(time.time()), req.get("model", "stub")

        if not req.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": "".join(words)}
            if tool:
                message = {"role": "assistant", "content": None, "tool_calls": [_tool_call(tool)]}
                finish = "tool_calls"
            self.stats["completed"] += 1
            return await self.respond(writer, 200, {
                "id": cid, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage})

        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
                     b"transfer-encoding: chunked\r\nx-request-id: req_stub\r\n\r\n")
        # A client that hangs up sends EOF: watch for it so we stop generating (and count it).
        gone = asyncio.ensure_future(reader.read(1))
        base = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model}

        def hung_up() -> bool:
            if not gone.done() or gone.cancelled():
                return False
            return gone.exception() is not None or gone.result() == b""

        async def send(obj: Any) -> bool:
            if hung_up():
                return False
            data = b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n\n"
            writer.write(b"%x\r\n%s\r\n" % (len(data), data))
            await writer.drain()
            return True

        try:
            chunks: list[dict[str, Any]] = []
            if tool:
                chunks = _tool_chunks(tool)
                finish = "tool_calls"
            else:
                chunks = [{"content": w} for w in words]
            if chunks:
                chunks[0] = {"role": "assistant", **chunks[0]}
            for i, delta in enumerate(chunks):
                if i and delay:
                    await asyncio.wait([gone], timeout=delay)  # returns early if the client left
                if not await send({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}):
                    break
                if "__stall__" in last_user:
                    await asyncio.wait([gone], timeout=3600)
                    break
            if not hung_up():
                await send({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
                if (req.get("stream_options") or {}).get("include_usage"):
                    await send({**base, "choices": [], "usage": usage})
                await send(b"[DONE]")
                writer.write(b"0\r\n\r\n")
                await writer.drain()
                self.stats["completed"] += 1
                return True
            self.stats["disconnected"] += 1
            return False
        except ConnectionError:
            self.stats["disconnected"] += 1
            return False
        finally:
            if not gone.done():
                gone.cancel()
            elif not gone.cancelled() and gone.exception() is None and gone.result():
                # The byte was the start of the client's next request: put it back.
                reader._buffer[0:0] = gone.result()  # noqa: SLF001 (a test stub; no public unread)

    def reply_words(self, req: dict[str, Any], messages: list[dict[str, Any]]) -> tuple[list[str], str]:
        quoted = " ".join(f"[{m.get('role')}] {_text(m.get('content'))}" for m in messages)
        words = re.findall(r"\S+\s*", f"Stub reply to {len(messages)} messages: {quoted}")
        n = _int(req.get("stub_deltas"), 0) or self.deltas
        if n > 0:
            if len(words) < n:
                words += [f" w{i}" for i in range(n - len(words))]
            elif len(words) > n:  # merge the tail so there are exactly n deltas
                words = words[: n - 1] + ["".join(words[n - 1:])]
        limit = req.get("max_completion_tokens") or req.get("max_tokens")
        if isinstance(limit, int) and 0 <= limit < len(words):
            return words[:limit], "length"
        return words, "stop"


def _error(message: str, etype: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": etype, "param": None, "code": None}}


def _tool_call(tool: dict[str, Any]) -> dict[str, Any]:
    name = (tool.get("function") or {}).get("name", "tool")
    return {"id": "call_stub_0", "type": "function", "function": {"name": name, "arguments": '{"city": "Paris"}'}}


def _tool_chunks(tool: dict[str, Any]) -> list[dict[str, Any]]:
    # As OpenAI streams it: id and name first, the arguments in pieces.
    call = _tool_call(tool)
    return [
        {"tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                         "function": {"name": call["function"]["name"], "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]},
    ]


async def serve(stub: StubUpstream, host: str, port: int) -> asyncio.AbstractServer:
    return await asyncio.start_server(stub.handle, host, port)


def start_stub(host: str = "127.0.0.1", port: int = 0, *, deltas: int | None = None,
               delay_ms: float | None = None) -> tuple[str, Callable[[], None]]:
    """Run the stub in a background thread; returns (base URL ending in /v1, stop function)."""
    stub = StubUpstream(deltas, delay_ms)
    ready = threading.Event()
    state: dict[str, Any] = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        state["loop"] = loop
        server = loop.run_until_complete(serve(stub, host, port))
        state["port"] = server.sockets[0].getsockname()[1]
        ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()

            async def drain() -> None:
                await asyncio.gather(*tasks, return_exceptions=True)

            loop.run_until_complete(drain())
            loop.close()

    thread = threading.Thread(target=run, name="stub-upstream", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the stub upstream did not start")

    def stop() -> None:
        state["loop"].call_soon_threadsafe(state["loop"].stop)
        thread.join(5)

    return f"http://{host}:{state['port']}/v1", stop


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local OpenAI-compatible stub upstream")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9999)
    parser.add_argument("--deltas", type=int, default=None, help="deltas per reply (default: one per word)")
    parser.add_argument("--delay-ms", type=float, default=None, help="pause between deltas")
    args = parser.parse_args(argv)
    run_forever(StubUpstream(args.deltas, args.delay_ms), args.host, args.port)


def run_forever(stub: "StubUpstream", host: str, port: int) -> None:
    """Serve `stub` in the foreground until interrupted, printing its base URL once bound."""

    async def run() -> None:
        server = await serve(stub, host, port)
        print(f"stub upstream on http://{host}:{server.sockets[0].getsockname()[1]}/v1", flush=True)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
