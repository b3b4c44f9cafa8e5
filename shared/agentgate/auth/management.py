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
# `expire` at create: seed 002's table calls it a millisecond timestamp, its example (7776000000,
# 90 days) is a duration. Both are accepted: from this value on (2001-09-09 as a timestamp, 31
# years as a duration) it is an absolute expiry, below it a lifetime.
ABSOLUTE_EXPIRE_FROM = 10**12
CHOSEN_KEY_MIN = 16  # characters; shorter chosen keys need allow_weak
CHOSEN_KEY_MAX = 512


def expiry_at(expire: int, now: int) -> int:
    """The key's expired_at (ms, 0 = never) for a create request's `expire`."""
    if expire == 0:
        return 0
    if expire < 0:
        raise KeyRuleError(422, "expire must be 0 (never), a lifetime in ms, or a future ms timestamp")
    if expire >= ABSOLUTE_EXPIRE_FROM:
        if expire <= now:
            raise KeyRuleError(400, f"expire {expire} is a millisecond timestamp in the past (now is {now})")
        if expire - now > MAX_EXPIRE_MS:
            raise KeyRuleError(422, "expire lies more than ten years ahead")
        return expire
    if expire > MAX_EXPIRE_MS:
        raise KeyRuleError(422, f"expire as a lifetime must be at most {MAX_EXPIRE_MS} ms (ten years)")
    return now + expire


def check_chosen_key(value: str, allow_weak: bool = False) -> list[str]:
    """Rules for an operator-chosen key (seeds 000/003 show `your-api-key`, `123tangledup-ai`).
    Returns warnings; raises KeyRuleError when refused."""
    if not isinstance(value, str) or not value or value != value.strip() or any(c.isspace() for c in value):
        raise KeyRuleError(422, "a chosen key must be non-empty and contain no whitespace")
    if len(value) > CHOSEN_KEY_MAX:
        raise KeyRuleError(422, f"a chosen key must be at most {CHOSEN_KEY_MAX} characters")
    if len(value) < CHOSEN_KEY_MIN and not allow_weak:
        raise KeyRuleError(422, f"a chosen key must be at least {CHOSEN_KEY_MIN} characters "
                                "(allow_weak registers a shorter one)")
    warnings = ["a chosen key is only as strong as its choice: generated keys carry 256 random bits"]
    if len(value) < CHOSEN_KEY_MIN:
        warnings.append(f"this key has {len(value)} characters, fewer than {CHOSEN_KEY_MIN}: it is easy to guess")
    return warnings


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
    """(expired_at, capped) of a key `actor` creates with `expire_ms` (0 = never; see `expiry_at`).

    A key never outlives the key that created it: an expiring actor's child expires at the
    actor's expiry at the latest, also when it asked for `expire: 0` (capped, not refused: the
    answer says so in `expire_capped`)."""
    wanted = expiry_at(expire_ms, now)
    if actor.expired_at and (wanted == 0 or wanted > actor.expired_at):
        return actor.expired_at, True
    return wanted, False


def create_key(actor: Actor, name: str, expire_ms: int = 0, scopes=None, owner_id: str | None = None,
               chosen: str | None = None, allow_weak: bool = False) -> tuple[ApiKey, str]:
    """Create a key; returns the stored item and the plaintext (shown once, never stored).

    `expire_ms`: 0 never; below 10**12 a lifetime in ms; from 10**12 an absolute ms timestamp,
    which must lie ahead (`expiry_at`). `chosen`: register this plaintext instead of a generated
    key (the operator's, root only; stored as its MD5 like every key; see `check_chosen_key`).
    """
    now = now_ms()
    expired_at, _ = child_expiry(actor, expire_ms, now)
    owner = _target_owner(actor, owner_id)
    granted = _check_scopes(actor, scopes)
    if chosen is not None:
        if not actor.is_root:
            raise KeyRuleError(403, "only the operator (a root key or the CLI) may register a chosen key")
        check_chosen_key(chosen, allow_weak)
    plaintext = chosen if chosen is not None else tokens.generate()
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
    # A fresh 256-bit key never collides; the condition makes that a checked fact (and refuses
    # a chosen key that is already registered).
    try:
        item.save(condition=ApiKey.key_hash.does_not_exist())
    except Exception as exc:
        if chosen is not None and getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
            raise KeyRuleError(409, "this key is already registered") from exc
        raise
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
