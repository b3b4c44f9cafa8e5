"""GET /v1/usage: metered usage of the caller's owner (root: every owner), grouped by key, bot,
end user or day; with key_id and requests=true, the key's last requests (its audit trail).
Served by the keys function (admin scope)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from agentgate.api.deps import requires
from agentgate.api.errors import ApiError
from agentgate.api.openapi import errors
from agentgate.auth import management
from agentgate.auth.principal import Principal
from agentgate.auth.scopes import ADMIN
from agentgate.policy import metering

router = APIRouter()
Admin = Annotated[Principal, Depends(requires(ADMIN))]
DAY_PATTERN = r"^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{1,13})$"
Day = Annotated[str | None, Query(max_length=24, description="YYYY-MM-DD or an epoch time (s or ms), UTC",
                                  json_schema_extra={"pattern": DAY_PATTERN})]


def _owner_scope(principal: Principal, owner_id: str | None) -> str | None:
    """Whose usage: the caller's owner; root may name one, or see all (None)."""
    if principal.is_root:
        return owner_id or None
    if owner_id and owner_id != principal.owner_id:
        raise ApiError(403, "only a root key may read another owner's usage", param="owner_id")
    return principal.owner_id


def _check_key(principal: Principal, key_id: str, owner: str | None) -> None:
    if key_id == principal.key_id:
        return
    actor = management.Actor(key_id=principal.key_id, owner_id=principal.owner_id, scopes=principal.scopes)
    try:
        management.find_key(actor, key_id, owner if not principal.is_root else None)
    except management.KeyRuleError as err:
        raise ApiError(404, f"api key {key_id} not found", param="key_id") from err


@router.get("/v1/usage", responses=errors(404))
def usage(
    principal: Admin,
    from_: Annotated[str | None, Query(alias="from", max_length=24, description="YYYY-MM-DD or an epoch time "
                                       "(s or ms), UTC", json_schema_extra={"pattern": DAY_PATTERN})] = None,
    to: Day = None,
    group_by: Literal["key", "bot", "user", "day"] = "day",
    key_id: Annotated[str | None, Query(max_length=64)] = None,
    bot_id: Annotated[str | None, Query(max_length=128)] = None,
    owner_id: Annotated[str | None, Query(max_length=128)] = None,
    requests: bool = False,
    limit: Annotated[int, Query(ge=1, le=metering.MAX_REQUESTS)] = 50,
):
    owner = _owner_scope(principal, owner_id)
    if requests:
        if not key_id:
            raise ApiError(422, "requests=true lists one key's last requests: give key_id", param="key_id")
        _check_key(principal, key_id, owner)
        items = metering.recent_requests(key_id, limit)
        data = {"key_id": key_id, "requests": items, "count": len(items)}
        return {"code": 0, "msg": "", **data, "data": data}
    if key_id:
        _check_key(principal, key_id, owner)
    try:
        start, end = metering.day_range(from_, to)
        data = metering.summary(owner, start, end, group_by, key_id=key_id, bot_id=bot_id)
    except ValueError as exc:
        raise ApiError(422, str(exc)) from exc
    return {"code": 0, "msg": "", **data, "data": data}
