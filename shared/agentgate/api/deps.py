"""FastAPI dependencies shared by every endpoint group."""

from __future__ import annotations

from fastapi import Request

from agentgate.api.errors import ApiError
from agentgate.auth.principal import (MISSING, REFUSAL_STATUS, Principal, principal_from_scope,
                                      request_context_from_scope, source_ip_from_scope)
from agentgate.ids import now_ms


def current_principal(request: Request) -> Principal:
    """The one principal reader. The authorizer's decision may come from its cache (up to the
    stage's TTL old), so what can lapse meanwhile (the key's expiry) and what the cache does not
    key on (the source address, against the key's IP allow-list) is checked here, every time."""
    principal = principal_from_scope(request.scope)
    if principal is None:
        # Only reachable when a function is called without the authorizer in front of it.
        raise ApiError(401, MISSING)
    reason = principal.refusal(now_ms(), source_ip_from_scope(request.scope))
    if reason is not None:
        raise ApiError(REFUSAL_STATUS.get(reason, 401), reason)
    return principal


def require_scope(principal: Principal, scope: str) -> Principal:
    if not principal.can(scope):
        raise ApiError(403, f"this key lacks the '{scope}' scope")
    return principal


def requires(scope: str):
    """Dependency: the caller's principal, which must hold `scope`."""

    def dependency(request: Request) -> Principal:
        return require_scope(current_principal(request), scope)

    dependency.__name__ = f"requires_{scope}"
    return dependency


def stage_of(request: Request) -> tuple[str | None, str | None]:
    """(apiId, stage) of the API Gateway stage this request came through."""
    ctx = request_context_from_scope(request.scope)
    return ctx.get("apiId"), ctx.get("stage")
