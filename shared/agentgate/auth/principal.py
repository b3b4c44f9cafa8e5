"""Who is calling: read in one place from the authorizer's context.

Buffered functions (Mangum) find it in the `aws.event` scope; streaming functions (Lambda Web
Adapter) find it in the `x-amzn-request-context` header that the adapter writes from the event.
The local gateway supplies the same and strips any client-sent `x-amzn-*` header first.

The authorizer's decision is cached (per Authorization header, for the stage's TTL), so whatever
can change between two requests of the same key is carried in the context and checked again on
every request by `refusal` (today: the key's expiry). To add a fact: a field, one line in
`to_context` and `from_context`, and a check in `refusal`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from agentgate.auth import scopes as scope_rules

# The authorizer's denial reasons; the principal reader gives the same ones.
MISSING = "missing authorization in header"
INVALID = "api key invalid"
EXPIRED = "api key expired"
DISABLED = "api key disabled"


def _int(value) -> int:
    """A context number: API Gateway may pass numbers as strings; junk reads as 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip() or 0)
    except ValueError:
        return 0


@dataclass(frozen=True)
class Principal:
    key_id: str
    owner_id: str
    scopes: tuple[str, ...] = field(default_factory=tuple)
    expired_at: int = 0  # the key's expiry, ms since the epoch; 0 = never

    def can(self, scope: str) -> bool:
        return scope_rules.allows(self.scopes, scope)

    @property
    def is_root(self) -> bool:
        return scope_rules.ROOT in self.scopes

    @property
    def is_user(self) -> bool:
        """An AgentChat user signed in with a JWT (the authorizer names them `user:<id>`)."""
        return self.key_id.startswith("user:")

    def is_expired(self, at_ms: int) -> bool:
        return bool(self.expired_at) and at_ms >= self.expired_at

    def refusal(self, at_ms: int) -> str | None:
        """Why this (possibly cached) principal may not act now, or None."""
        if self.is_expired(at_ms):
            return EXPIRED
        return None

    def to_context(self) -> dict[str, str | int]:
        """The authorizer's context: API Gateway only passes flat string/number/bool values."""
        return {
            "key_id": self.key_id,
            "owner_id": self.owner_id,
            "scopes": " ".join(self.scopes),
            "expired_at": self.expired_at,
        }

    @classmethod
    def from_context(cls, ctx: dict | None) -> "Principal | None":
        if not ctx or not ctx.get("owner_id") or not ctx.get("key_id"):
            return None
        return cls(
            key_id=str(ctx["key_id"]),
            owner_id=str(ctx["owner_id"]),
            scopes=tuple(scope_rules.parse(str(ctx.get("scopes", "")))),
            expired_at=_int(ctx.get("expired_at", 0)),
        )


def request_context_from_scope(scope: dict) -> dict:
    """The API Gateway requestContext for an ASGI request, or {}."""
    event = scope.get("aws.event")
    if isinstance(event, dict):
        return event.get("requestContext") or {}
    # The adapter's header is the last one: should a client's copy ever survive, it comes first.
    raw = None
    for name, value in scope.get("headers") or ():
        if name == b"x-amzn-request-context":
            raw = value
    if raw is None:
        return {}
    try:
        parsed = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def principal_from_scope(scope: dict) -> Principal | None:
    return Principal.from_context(request_context_from_scope(scope).get("authorizer"))
