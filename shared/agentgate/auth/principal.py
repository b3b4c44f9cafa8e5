"""Who is calling: read in one place from the authorizer's context.

Buffered functions (Mangum) find it in the `aws.event` scope; streaming functions (Lambda Web
Adapter) find it in the `x-amzn-request-context` header that the adapter writes from the event.
The local gateway supplies the same and strips any client-sent `x-amzn-*` header first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from agentgate.auth import scopes as scope_rules


@dataclass(frozen=True)
class Principal:
    key_id: str
    owner_id: str
    scopes: tuple[str, ...] = field(default_factory=tuple)

    def can(self, scope: str) -> bool:
        return scope_rules.allows(self.scopes, scope)

    @property
    def is_root(self) -> bool:
        return scope_rules.ROOT in self.scopes

    def to_context(self) -> dict[str, str]:
        """The authorizer's context: API Gateway only passes flat string/number/bool values."""
        return {"key_id": self.key_id, "owner_id": self.owner_id, "scopes": " ".join(self.scopes)}

    @classmethod
    def from_context(cls, ctx: dict | None) -> "Principal | None":
        if not ctx or not ctx.get("owner_id") or not ctx.get("key_id"):
            return None
        return cls(
            key_id=str(ctx["key_id"]),
            owner_id=str(ctx["owner_id"]),
            scopes=tuple(scope_rules.parse(str(ctx.get("scopes", "")))),
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
    except (ValueError, UnicodeDecodeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def principal_from_scope(scope: dict) -> Principal | None:
    return Principal.from_context(request_context_from_scope(scope).get("authorizer"))
