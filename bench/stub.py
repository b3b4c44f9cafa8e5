"""The benchmark's upstream: agentgate's stub (TCP_NODELAY, OpenAI-compatible), plus two things a
benchmark through the gateway needs and the plain stub cannot give:

- knobs in the message text: the gateway forwards only the OpenAI parameters it knows, so
  `stub_deltas` / `stub_delay_ms` body fields never reach the upstream through it. Here a user
  message containing `bench_deltas=N bench_delay_ms=D` sets them, so the direct request and the
  request through the gateway ask the very same stub for the very same reply shape;
- GET /_arrivals: the time.monotonic_ns() at which each chat request arrived (Linux
  CLOCK_MONOTONIC, comparable across processes), to tell which store calls came before the
  upstream was reached.

Run: python bench/stub.py [--port 0]   (prints "stub upstream on http://127.0.0.1:PORT/v1")
"""

from __future__ import annotations

import argparse
import re
import time
from collections import deque
from typing import Any

from agentgate.local.stub_upstream import StubUpstream, _text, run_forever

_KNOB = re.compile(r"bench_(deltas|delay_ms)=(\d+(?:\.\d+)?)")


class BenchStub(StubUpstream):
    def __init__(self) -> None:
        super().__init__(0, 0)
        self.arrivals: deque[int] = deque(maxlen=1000)

    async def route(self, method, path, body, reader, writer) -> bool:
        if path.rstrip("/") == "/_arrivals":
            if method == "DELETE":
                self.arrivals.clear()
            return await self.respond(writer, 200, list(self.arrivals))
        return await super().route(method, path, body, reader, writer)

    async def chat(self, req: dict[str, Any], reader, writer) -> bool:
        self.arrivals.append(time.monotonic_ns())
        messages = req.get("messages") or []
        last_user = next((_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
        for name, value in _KNOB.findall(last_user):
            req["stub_deltas" if name == "deltas" else "stub_delay_ms"] = int(float(value))
        return await super().chat(req, reader, writer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    run_forever(BenchStub(), args.host, args.port)

if __name__ == "__main__":
    main()
