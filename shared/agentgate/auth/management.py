"""Key management rules, shared by the HTTP API and the operator's CLI.

The plaintext key exists only in the return value of `create_key`; the table holds its MD5.
"""

from __future__ import annotations

from dataclasses import dataclass

from agentgate.auth import scopes as scope_rules
from agentgate.auth import tokens
from agentgate.ids import new_id, now_ms
from agentgate.store import keys as key_store
from agentgate.store.keys import ApiKey

MAX_EXPIRE_MS = 10 * 365 * 24 * 3600 * 1000  # ten years


class KeyRuleError(ValueError):
    """A request the rules refuse; `status` says how (403 scope, 404 unknown, 422 invalid)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Actor:
    """Who manages keys: a principal's owner and scopes, or the CLI (root)."""

    key_id: str
    owner_id: str
    scopes: tuple[str, ...]
    expired_at: int = 0  # the acting key's own expiry (ms; 0 = never): no child outlives it

    @property
    def is_root(self) -> bool:
        return scope_rules.ROOT in self.scopes


CLI_ACTOR = Actor(key_id="cli", owner_id="", scopes=(scope_rules.ROOT,))


def _check_scopes(actor: Actor, requested) -> list[str]:
    if requested is None:
        return list(scope_rules.DEFAULT)
    bad = scope_rules.unknown(requested)
    if bad:
        raise KeyRuleError(422, f"unknown scope(s): {', '.join(bad)}; known: {', '.join(scope_rules.ALL)}")
    wanted = scope_rules.parse(requested)
    if not wanted:
        raise KeyRuleError(422, "scopes must name at least one scope")
    held = scope_rules.effective(actor.scopes)
    beyond = [s for s in wanted if s not in held]
    if beyond:
        raise KeyRuleError(403, f"cannot grant scope(s) this key lacks: {', '.join(beyond)}")
    return wanted


def _target_owner(actor: Actor, owner_id: str | None) -> str:
    if owner_id in (None, "") or owner_id == actor.owner_id:
        if not actor.owner_id:
            raise KeyRuleError(422, "owner_id is required")
        return actor.owner_id
    if not actor.is_root:
        raise KeyRuleError(403, "only a root key may act for another owner")
    return owner_id


def child_expiry(actor: Actor, expire_ms: int, now: int) -> tuple[int, bool]:
    """(expired_at, capped) of a key `actor` creates with lifetime `expire_ms` (0 = never).

    A key never outlives the key that created it: an expiring actor's child expires at the
    actor's expiry at the latest, also when it asked for `expire: 0` (capped, not refused: the
    answer says so in `expire_capped`)."""
    wanted = now + expire_ms if expire_ms else 0
    if actor.expired_at and (wanted == 0 or wanted > actor.expired_at):
        return actor.expired_at, True
    return wanted, False


def create_key(actor: Actor, name: str, expire_ms: int = 0, scopes=None, owner_id: str | None = None
               ) -> tuple[ApiKey, str]:
    """Create a key; returns the stored item and the plaintext (shown once, never stored)."""
    if expire_ms < 0 or expire_ms > MAX_EXPIRE_MS:
        raise KeyRuleError(422, f"expire must be between 0 (never) and {MAX_EXPIRE_MS} ms")
    owner = _target_owner(actor, owner_id)
    granted = _check_scopes(actor, scopes)
    plaintext = tokens.generate()
    now = now_ms()
    expired_at, _ = child_expiry(actor, expire_ms, now)
    item = ApiKey(
        key_hash=tokens.hash_key(plaintext),
        id=new_id(),
        owner_id=owner,
        name=name,
        masked=tokens.mask(plaintext),
        scopes=granted,
        status=key_store.STATUS_ACTIVE,
        enabled=1,
        expired_at=expired_at,
        created_at=now,
        updated_at=now,
        last_used_at=0,
        created_by=actor.key_id,
    )
    # A fresh 256-bit key never collides; the condition makes that a checked fact.
    item.save(condition=ApiKey.key_hash.does_not_exist())
    return item, plaintext


def find_key(actor: Actor, key_id: str, owner_id: str | None = None) -> ApiKey:
    """A live key the actor may see: its own owner's, or any for root. Otherwise 404."""
    if actor.is_root and not owner_id:
        item = key_store.find_by_id(key_id)
    else:
        item = key_store.find_by_id(key_id, _target_owner(actor, owner_id))
    if item is None:
        raise KeyRuleError(404, f"api key {key_id} not found")
    return item


def update_key(actor: Actor, key_id: str, *, name: str | None = None, enabled: bool | None = None,
               owner_id: str | None = None) -> ApiKey:
    item = find_key(actor, key_id, owner_id)
    actions = [ApiKey.updated_at.set(now_ms())]
    if name is not None:
        actions.append(ApiKey.name.set(name))
    if enabled is not None:
        actions.append(ApiKey.enabled.set(1 if enabled else 0))
    # Conditional: a concurrent delete wins, and we never resurrect a deleted key.
    try:
        item.update(actions=actions, condition=ApiKey.status == key_store.STATUS_ACTIVE)
    except key_store.UpdateError as err:
        if err.cause_response_code == "ConditionalCheckFailedException":
            raise KeyRuleError(404, f"api key {key_id} not found") from err
        raise
    return item


def delete_key(actor: Actor, key_id: str, owner_id: str | None = None) -> ApiKey:
    """Soft delete (status = 1): the key stops working at once and cannot be restored."""
    item = find_key(actor, key_id, owner_id)
    item.update(actions=[ApiKey.status.set(key_store.STATUS_DELETED), ApiKey.updated_at.set(now_ms())])
    return item


def list_keys(actor: Actor, page: int, size: int, owner_id: str | None = None) -> tuple[list[ApiKey], int]:
    return key_store.list_for_owner(_target_owner(actor, owner_id), page, size)


def describe(item: ApiKey) -> dict:
    """A key as every answer shows it: masked, never the plaintext or the hash."""
    return {
        "id": item.id,
        "name": item.name,
        "api_key": item.masked,
        "user_id": item.owner_id,
        "owner_id": item.owner_id,
        "scopes": list(item.scopes or []),
        "permission": {"scopes": list(item.scopes or [])},
        "status": item.status,
        "enabled": bool(item.enabled),
        "expired_at": item.expired_at,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
        "last_used_at": item.last_used_at,
    }
