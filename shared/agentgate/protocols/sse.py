"""Server-sent events: frame encoding, the streaming headers, and the keep-alive marker.

Every frame is bytes ready for one ASGI send: the chat routes send each one as it is made, never
batching (no buffering middleware sits in front: see api.middleware).
"""

from __future__ import annotations

import json
from typing import Any

# Sent with every event stream. `x-accel-buffering: no` keeps nginx-like proxies from holding
# frames back; `cache-control: no-cache` keeps caches out of the way.
SSE_HEADERS = {
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
}
SSE_MEDIA_TYPE = "text/event-stream"

# An SSE comment: every conforming parser (the openai SDK's included) skips it.
COMMENT_KEEPALIVE = b": keep-alive\n\n"
# A bare line end: what a strict event/data line parser tolerates (cozepy raises on a comment
# line but skips empty ones), and no event for a conforming SSE parser either.
BLANK_KEEPALIVE = b"\n"


class KeepAlive:
    """Marker in a turn's event stream: nothing happened for a while, send the keep-alive."""

    __slots__ = ()

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return "KeepAlive()"


KEEPALIVE = KeepAlive()


def dumps(obj: Any) -> str:
    """Compact JSON, UTF-8 kept as is (what every client here parses)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def data_frame(obj: Any) -> bytes:
    """`data: <json>\\n\\n` (a str is sent verbatim, e.g. `[DONE]`)."""
    payload = obj if isinstance(obj, str) else dumps(obj)
    return f"data: {payload}\n\n".encode()


def event_frame(event: str, obj: Any) -> bytes:
    """`event: <name>\\ndata: <json>\\n\\n` (a str is sent verbatim)."""
    payload = obj if isinstance(obj, str) else dumps(obj)
    return f"event: {event}\ndata: {payload}\n\n".encode()
