"""One access record per request, built in one place (never holds a key).

The local gateway prints it as a line; Lambda code emits the same record as one JSON log line.

    record = access_log.begin(method, path, source_ip=ip, request_id=rid)   # path as the client sent it
    token = access_log.bind(record)            # routes deeper in the request may now annotate it
    ...                                        # authorizer decides: record.set(key_id=..., owner_id=...)
    access_log.annotate(bot_id="...", tokens=42, ttft_ms=8.1)   # from any code inside the request
    record.finish(status)
    access_log.unbind(token)
    print(record.line())      # human line (agentgate dev)
    record.as_dict()          # the JSON form (None fields left out)

`annotate` is a no-op when no record is bound (tests, CLI), so library code may call it freely.
A record crosses threads and event loops of the same request through contextvars (anyio's
to_thread and asyncio tasks copy the context; the record itself is shared and mutable).

Fields (all optional except method/path): time (ISO 8601 UTC, the request's start), method, path,
status, latency_ms, key_id, owner_id, bot_id, tokens (input + output), source_ip, ttft_ms
(first token, streaming chat), request_id; `extra` holds fields other parts add (audit).
"""

from __future__ import annotations

import contextvars
import json
from time import perf_counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

FIELDS = ("time", "method", "path", "status", "latency_ms", "key_id", "owner_id", "bot_id", "tokens",
          "source_ip", "ttft_ms", "request_id")
# Never recorded, whatever a caller passes: the record must not carry a secret.
_FORBIDDEN = frozenset({"key", "api_key", "authorization", "token", "password", "secret"})

_current: contextvars.ContextVar["AccessRecord | None"] = contextvars.ContextVar("agentgate_access_record",
                                                                                default=None)


@dataclass
class AccessRecord:
    method: str
    path: str
    time: str = ""
    status: int | None = None
    latency_ms: float | None = None
    key_id: str | None = None
    owner_id: str | None = None
    bot_id: str | None = None
    tokens: int | None = None
    source_ip: str | None = None
    ttft_ms: float | None = None
    request_id: str | None = None
    extra: dict = field(default_factory=dict)
    _started: float = field(default_factory=perf_counter, repr=False)

    def set(self, **fields) -> "AccessRecord":
        """Set known fields; unknown ones go to `extra`; secrets are dropped. None leaves a field."""
        for name, value in fields.items():
            if value is None or name.lower() in _FORBIDDEN:
                continue
            if name in FIELDS:
                setattr(self, name, value)
            else:
                self.extra[name] = value
        return self

    def mark_first_token(self) -> None:
        """Record time to first token now (once)."""
        if self.ttft_ms is None:
            self.ttft_ms = round((perf_counter() - self._started) * 1000, 1)

    def finish(self, status: int) -> "AccessRecord":
        self.status = int(status)
        self.latency_ms = round((perf_counter() - self._started) * 1000, 1)
        return self

    def as_dict(self) -> dict:
        """The JSON form: the fields that are known, then `extra`'s."""
        out = {name: getattr(self, name) for name in FIELDS if getattr(self, name) not in (None, "")}
        for name, value in self.extra.items():
            out.setdefault(name, value)
        return out

    def json_line(self) -> str:
        return json.dumps(self.as_dict(), separators=(",", ":"), default=str)

    def line(self) -> str:
        """`2026-12-01T22:30:00.123Z 203.0.113.9 POST /v3/chat 200 12.3ms key=... owner=... bot=...`"""
        parts = [self.time, self.source_ip or "-", self.method, self.path,
                 str(self.status) if self.status is not None else "-",
                 f"{self.latency_ms}ms" if self.latency_ms is not None else "-"]
        for label, name in (("key", "key_id"), ("owner", "owner_id"), ("bot", "bot_id"),
                            ("tokens", "tokens"), ("ttft", "ttft_ms")):
            value = getattr(self, name)
            if value not in (None, ""):
                parts.append(f"{label}={value}{'ms' if name == 'ttft_ms' else ''}")
        for name, value in self.extra.items():
            parts.append(f"{name}={value}")
        return " ".join(parts)


def _iso_now() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def begin(method: str, path: str, **fields) -> AccessRecord:
    """A new record for a request that starts now. `path` is the client's (stage prefix and all)."""
    return AccessRecord(method=method.upper(), path=path, time=_iso_now()).set(**fields)


def bind(record: AccessRecord) -> contextvars.Token:
    return _current.set(record)


def unbind(token: contextvars.Token) -> None:
    _current.reset(token)


def current() -> AccessRecord | None:
    return _current.get()


def annotate(**fields) -> None:
    """Add facts to the request's record (bot_id, tokens, ttft_ms, ...); no-op without one."""
    record = _current.get()
    if record is not None:
        record.set(**fields)


def first_token() -> None:
    """Mark the request's time to first token, if a record is bound."""
    record = _current.get()
    if record is not None:
        record.mark_first_token()
