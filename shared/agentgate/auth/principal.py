"""Who is calling: read in one place from the authorizer's context.

Buffered functions (Mangum) find it in the `aws.event` scope; streaming functions (Lambda Web
Adapter) find it in the `x-amzn-request-context` header that the adapter writes from the event.
The local gateway supplies the same and strips any client-sent `x-amzn-*` header first.

The authorizer's decision is cached (per Authorization header, for the stage's TTL), so whatever
can change between two requests of the same key is carried in the context and checked again on
every request by `refusal`: the key's expiry (also a rotated secret's grace period, folded into
`expired_at`) and its IP allow-list against the request's own source address. Checking the
address here, after the cache, means a cached decision never serves another address. The key's
policy (bots, workflows, rate limits, conversation policies) rides along for the routes to apply
(agentgate.policy). To add a fact: a field, one line in `to_context` and `from_context`, and a
check in `refusal` if it can refuse.
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
ROTATED = "api key rotated: its grace period is over, use the new key"
IP_REFUSED = "this key may not be used from this address"
# The HTTP status of each refusal the principal reader gives.
REFUSAL_STATUS = {EXPIRED: 401, IP_REFUSED: 403}


def _words(value) -> tuple[str, ...]:
    return tuple(str(value or "").split())


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
    # The key's access policy (agentgate.policy); empty = no restriction.
    bot_ids: tuple[str, ...] = ()  # bots (ids or aliases) it may use
    workflow_ids: tuple[str, ...] = ()
    allowed_ips: tuple[str, ...] = ()  # CIDRs
    rpm: int = -1  # requests per window; -1 = the scope's default, 0 = unlimited
    tpm: int = -1  # tokens per window
    concurrency: int = -1  # concurrent streams
    default_bot: str = ""
    dm_policy: str = "allow"
    group_policy: str = "allow"

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

    def refusal(self, at_ms: int, source_ip: str | None = None) -> str | None:
        """Why this (possibly cached) principal may not act now (see REFUSAL_STATUS), or None."""
        if self.is_expired(at_ms):
            return EXPIRED
        if self.allowed_ips:
            from agentgate.policy.addresses import allowed

            if not allowed(source_ip, self.allowed_ips):
                return IP_REFUSED
        return None

    def to_context(self) -> dict[str, str | int]:
        """The authorizer's context: API Gateway only passes flat string/number/bool values."""
        ctx: dict[str, str | int] = {
            "key_id": self.key_id,
            "owner_id": self.owner_id,
            "scopes": " ".join(self.scopes),
            "expired_at": self.expired_at,
        }
        for name in ("bot_ids", "workflow_ids", "allowed_ips"):
            if getattr(self, name):
                ctx[name] = " ".join(getattr(self, name))
        for name in ("rpm", "tpm", "concurrency"):
            if getattr(self, name) >= 0:
                ctx[name] = getattr(self, name)
        if self.default_bot:
            ctx["default_bot"] = self.default_bot
        if self.dm_policy != "allow":
            ctx["dm_policy"] = self.dm_policy
        if self.group_policy != "allow":
            ctx["group_policy"] = self.group_policy
        return ctx

    @classmethod
    def from_context(cls, ctx: dict | None) -> "Principal | None":
        if not ctx or not ctx.get("owner_id") or not ctx.get("key_id"):
            return None
        return cls(
            key_id=str(ctx["key_id"]),
            owner_id=str(ctx["owner_id"]),
            scopes=tuple(scope_rules.parse(str(ctx.get("scopes", "")))),
            expired_at=_int(ctx.get("expired_at", 0)),
            bot_ids=_words(ctx.get("bot_ids")),
            workflow_ids=_words(ctx.get("workflow_ids")),
            allowed_ips=_words(ctx.get("allowed_ips")),
            rpm=_int(ctx.get("rpm", -1)),
            tpm=_int(ctx.get("tpm", -1)),
            concurrency=_int(ctx.get("concurrency", -1)),
            default_bot=str(ctx.get("default_bot") or ""),
            dm_policy=str(ctx.get("dm_policy") or "allow"),
            group_policy=str(ctx.get("group_policy") or "allow"),
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


def source_ip_from_scope(scope: dict) -> str | None:
    """The caller's address as API Gateway saw it (requestContext.identity.sourceIp)."""
    identity = request_context_from_scope(scope).get("identity") or {}
    ip = identity.get("sourceIp") if isinstance(identity, dict) else None
    return str(ip) if ip else None


def principal_from_scope(scope: dict) -> Principal | None:
    return Principal.from_context(request_context_from_scope(scope).get("authorizer"))
