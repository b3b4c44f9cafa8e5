"""The Lambda REQUEST authorizer's decision: key -> MD5 -> one GetItem -> allow or deny.

Denials carry a reason a person can act on. API Gateway turns them into JSON through the
template's Gateway Responses: a missing header never reaches us (the identity source is
required: UNAUTHORIZED), a Deny policy becomes ACCESS_DENIED with `$context.authorizer.reason`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from agentgate.auth import jwt_tokens, tokens
from agentgate.auth.principal import DISABLED, EXPIRED, INVALID, MISSING, ROTATED, Principal  # noqa: F401
from agentgate.config import settings
from agentgate.ids import now_ms
from agentgate.store import keys as key_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    principal: Principal | None
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.principal is not None


def _decide_jwt(token: str) -> Decision:
    """An AgentChat access token: checked by signature and expiry alone, no table read. The user
    is the owner of everything they make; the key id names the user for logs and audits."""
    from agentgate.auth import jwt_tokens

    try:
        claims = jwt_tokens.verify_access_token(token)
    except jwt_tokens.TokenError as exc:
        return Decision(None, EXPIRED if "expired" in str(exc) else INVALID)
    # expired_at: a cached allow never outlives the token (the principal reader checks it).
    return Decision(Principal(key_id=f"user:{claims.user_id}", owner_id=claims.user_id, scopes=claims.scopes,
                              expired_at=claims.expires_at_ms))


def decide(authorization: str | None) -> Decision:
    plaintext = tokens.parse_authorization(authorization)
    if not plaintext:
        return Decision(None, MISSING)
    if jwt_tokens.looks_like_jwt(plaintext):
        return _decide_jwt(plaintext)
    key_hash = tokens.hash_key(plaintext)
    item = key_store.get_by_hash(key_hash)
    if item is None or item.status == key_store.STATUS_DELETED:
        return Decision(None, INVALID)
    now = now_ms()
    if item.is_expired(now):
        return Decision(None, EXPIRED)
    if item.grace_over(now):
        return Decision(None, ROTATED)
    if not item.enabled:
        return Decision(None, DISABLED)
    s = settings()
    if now - (item.last_used_at or 0) >= s.last_used_interval_ms:
        try:
            key_store.touch_last_used(key_hash, now, s.last_used_interval_ms)
        except Exception:  # bookkeeping must never lock a valid key out
            log.warning("last_used_at update failed for key %s", item.id, exc_info=True)
    return Decision(principal_of(item))


def principal_of(item: key_store.ApiKey) -> Principal:
    """A key item's principal: its scopes, its expiry (a rotated secret's grace period folded in,
    so a cached allow never outlives it) and its access policy."""
    expired_at = int(item.expired_at or 0)
    if item.is_rotated:
        grace = int(item.grace_until or 0)
        expired_at = min(expired_at, grace) if expired_at else grace
    limits = dict(item.rate_limits.as_dict() if hasattr(item.rate_limits, "as_dict") else item.rate_limits or {})
    return Principal(
        key_id=item.id, owner_id=item.owner_id, scopes=tuple(item.scopes), expired_at=expired_at,
        bot_ids=tuple(item.bot_ids or ()), workflow_ids=tuple(item.workflow_ids or ()),
        allowed_ips=tuple(item.allowed_ips or ()),
        rpm=int(limits["rpm"]) if limits.get("rpm") is not None else -1,
        tpm=int(limits["tpm"]) if limits.get("tpm") is not None else -1,
        concurrency=int(limits["concurrency"]) if limits.get("concurrency") is not None else -1,
        default_bot=item.default_bot or "", dm_policy=item.dm_policy or "allow",
        group_policy=item.group_policy or "allow")


def _api_wildcard(method_arn: str) -> str:
    """arn:aws:execute-api:region:acct:api/stage/VERB/path -> .../api/stage/*/* (results are
    cached per key, so the policy must cover every route)."""
    parts = method_arn.split("/")
    if len(parts) < 2:
        return method_arn
    return "/".join(parts[:2]) + "/*/*"


def policy(decision: Decision, method_arn: str) -> dict:
    resource = _api_wildcard(method_arn)
    if decision.allowed:
        p = decision.principal
        return {
            "principalId": p.key_id,
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}],
            },
            "context": p.to_context(),
        }
    return {
        "principalId": "anonymous",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": resource}],
        },
        "context": {"reason": decision.reason},
    }


def header(headers: dict | None, name: str = "authorization") -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


def handle(event: dict, context=None) -> dict:
    """The authorizer's Lambda handler logic (functions/authorizer/app.py calls this).

    A missing header raises "Unauthorized" (API Gateway's UNAUTHORIZED response), as API
    Gateway itself does when the identity source is absent.
    """
    decision = decide(header(event.get("headers")))
    if decision.reason == MISSING:
        raise Exception("Unauthorized")  # noqa: TRY002 - the exact message API Gateway expects
    log.info("authorizer decision", extra={"allowed": decision.allowed, "reason": decision.reason,
                                          "key_id": decision.principal.key_id if decision.principal else None})
    return policy(decision, event.get("methodArn", ""))
