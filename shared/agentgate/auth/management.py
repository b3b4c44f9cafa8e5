"""Key management rules, shared by the HTTP API and the operator's CLI.

The plaintext key exists only in the return value of `create_key`; the table holds its MD5.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

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
    # the acting key's own restrictions: no child escapes them (empty = none)
    bot_ids: tuple[str, ...] = ()
    workflow_ids: tuple[str, ...] = ()
    allowed_ips: tuple[str, ...] = ()

    @property
    def is_root(self) -> bool:
        return scope_rules.ROOT in self.scopes


CLI_ACTOR = Actor(key_id="cli", owner_id="", scopes=(scope_rules.ROOT,))

MAX_GRACE_MS = 7 * 24 * 3600 * 1000
DEFAULT_GRACE_MS = 24 * 3600 * 1000

# The policy fields a key carries (agentgate.policy), as the API and the CLI name them.
POLICY_FIELDS = ("bot_ids", "workflow_ids", "allowed_ips", "rate_limits", "default_bot_id", "dm_policy",
                 "group_policy", "account_id")


@dataclass
class KeyPolicy:
    """A create/update request's policy fields; None = not given (create: the default; update: kept)."""

    bot_ids: list | None = None
    workflow_ids: list | None = None
    allowed_ips: list | None = None
    rate_limits: dict | None = None
    default_bot_id: str | None = None
    dm_policy: str | None = None
    group_policy: str | None = None
    account_id: str | None = None
    # update only: fields to clear (rate_limits back to the scope's default, bindings removed ...)
    clear: list = field(default_factory=list)

    @classmethod
    def from_values(cls, values: dict) -> "KeyPolicy":
        return cls(**{k: values.get(k) for k in POLICY_FIELDS})

    def validated(self) -> dict:
        """Item attribute -> value for the fields given. Raises KeyRuleError(422)."""
        from agentgate.policy import addresses, bindings, conversation_rules, limits

        out: dict = {}
        try:
            if self.bot_ids is not None:
                out["bot_ids"] = bindings.normalise(self.bot_ids, "bot_ids")
            if self.workflow_ids is not None:
                out["workflow_ids"] = bindings.normalise(self.workflow_ids, "workflow_ids")
            if self.allowed_ips is not None:
                out["allowed_ips"] = addresses.normalise(self.allowed_ips)
            if self.rate_limits is not None:
                out["rate_limits"] = limits.normalise(self.rate_limits)
            if self.default_bot_id is not None:
                ref = bindings.normalise([self.default_bot_id], "default_bot_id") if self.default_bot_id else []
                out["default_bot"] = ref[0] if ref else None
            if self.dm_policy is not None:
                out["dm_policy"] = conversation_rules.normalise(self.dm_policy, "dm_policy")
            if self.group_policy is not None:
                out["group_policy"] = conversation_rules.normalise(self.group_policy, "group_policy")
            if self.account_id is not None:
                out["account_id"] = str(self.account_id)[:128] or None
        except ValueError as exc:
            raise KeyRuleError(422, str(exc)) from exc
        return out


def _within_actor(actor: Actor, values: dict, creating: bool) -> dict:
    """A restricted key's children stay inside its restrictions (bots, workflows, addresses): by
    default they inherit them, and asking for more is refused (403)."""
    for name in ("bot_ids", "workflow_ids"):
        held = getattr(actor, name)
        if not held:
            continue
        wanted = values.get(name)
        if wanted is None or (not wanted and name in values):
            if creating or name in values:
                values[name] = list(held)
            continue
        beyond = [ref for ref in wanted if ref not in held]
        if beyond:
            raise KeyRuleError(403, f"cannot grant {name} outside this key's own: {', '.join(beyond)}")
    if actor.allowed_ips:
        wanted = values.get("allowed_ips")
        if wanted is None or (not wanted and "allowed_ips" in values):
            if creating or "allowed_ips" in values:
                values["allowed_ips"] = list(actor.allowed_ips)
        else:
            held = [ipaddress.ip_network(c) for c in actor.allowed_ips]
            beyond = [c for c in wanted if not any(ipaddress.ip_network(c).version == h.version
                                                   and ipaddress.ip_network(c).subnet_of(h) for h in held)]
            if beyond:
                raise KeyRuleError(403, f"cannot allow addresses outside this key's own: {', '.join(beyond)}")
    return values


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
               chosen: str | None = None, allow_weak: bool = False,
               policy: KeyPolicy | None = None) -> tuple[ApiKey, str]:
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
    values = _within_actor(actor, (policy or KeyPolicy()).validated(), creating=True)
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
        **{k: v for k, v in values.items() if v not in (None, [], {})},
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
               owner_id: str | None = None, policy: KeyPolicy | None = None, scopes=None) -> ApiKey:
    item = find_key(actor, key_id, owner_id)
    actions = [ApiKey.updated_at.set(now_ms())]
    if scopes is not None:
        actions.append(ApiKey.scopes.set(_check_scopes(actor, scopes)))
    if name is not None:
        actions.append(ApiKey.name.set(name))
    if enabled is not None:
        actions.append(ApiKey.enabled.set(1 if enabled else 0))
    values = _within_actor(actor, (policy or KeyPolicy()).validated(), creating=False)
    for attr, value in values.items():
        column = getattr(ApiKey, attr)
        actions.append(column.remove() if value in (None, [], {}) else column.set(value))
    # Every secret of the key (a rotated one in its grace period too) carries the same policy.
    # Conditional: a concurrent delete wins, and we never resurrect a deleted key.
    for secret in key_store.secrets_of(item.id, item.owner_id):
        try:
            secret.update(actions=actions, condition=ApiKey.status == key_store.STATUS_ACTIVE)
        except key_store.UpdateError as err:
            if err.cause_response_code == "ConditionalCheckFailedException":
                if secret.key_hash == item.key_hash:
                    raise KeyRuleError(404, f"api key {key_id} not found") from err
                continue
            raise
        if secret.key_hash == item.key_hash:
            item = secret
    return item


def delete_key(actor: Actor, key_id: str, owner_id: str | None = None) -> ApiKey:
    """Soft delete (status = 1): the key (every secret of it) stops working at once and cannot be restored."""
    item = find_key(actor, key_id, owner_id)
    for secret in key_store.secrets_of(item.id, item.owner_id):
        secret.update(actions=[ApiKey.status.set(key_store.STATUS_DELETED), ApiKey.updated_at.set(now_ms())])
    return item


def rotate_key(actor: Actor, key_id: str, grace_ms: int | None = None,
               owner_id: str | None = None, chosen: str | None = None) -> tuple[ApiKey, str]:
    """A new secret for the same key id: returns the new item and its plaintext (shown once).

    The old secret keeps working for `grace_ms` (default 24 h, at most 7 days; 0 = it stops now),
    then is refused ("api key rotated"). The key keeps its id, scopes, bindings, limits and usage
    history (all keyed by the id). A secret still in an earlier grace period keeps its own end."""
    grace = DEFAULT_GRACE_MS if grace_ms is None else grace_ms
    if not isinstance(grace, int) or isinstance(grace, bool) or grace < 0 or grace > MAX_GRACE_MS:
        raise KeyRuleError(422, f"grace_ms is from 0 to {MAX_GRACE_MS} (7 days)")
    item = find_key(actor, key_id, owner_id)
    now = now_ms()
    if chosen is not None:  # the operator's new chosen key (a channel config's changed api_key)
        if not actor.is_root:
            raise KeyRuleError(403, "only the operator (a root key or the CLI) may register a chosen key")
        check_chosen_key(chosen, allow_weak=True)
    plaintext = chosen if chosen is not None else tokens.generate()
    fresh = ApiKey(key_hash=tokens.hash_key(plaintext), masked=tokens.mask(plaintext), updated_at=now,
                   last_used_at=0, rotated_at=None, grace_until=None,
                   **{name: getattr(item, name) for name in _COPIED_ON_ROTATION})
    try:
        fresh.save(condition=ApiKey.key_hash.does_not_exist())
    except Exception as exc:
        if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
            raise KeyRuleError(409, "this key is already registered") from exc
        raise
    try:
        item.update(actions=[ApiKey.rotated_at.set(now), ApiKey.grace_until.set(now + grace),
                             ApiKey.updated_at.set(now)],
                    condition=(ApiKey.status == key_store.STATUS_ACTIVE) & ApiKey.rotated_at.does_not_exist())
    except key_store.UpdateError as err:
        # A concurrent rotation or delete won: leave no second current secret (soft delete, as every key).
        fresh.update(actions=[ApiKey.status.set(key_store.STATUS_DELETED)])
        if err.cause_response_code == "ConditionalCheckFailedException":
            raise KeyRuleError(409, f"api key {key_id} changed meanwhile (rotated or deleted); try again") from err
        raise
    return fresh, plaintext


_COPIED_ON_ROTATION = ("id", "owner_id", "name", "scopes", "status", "enabled", "expired_at", "created_at",
                       "created_by", "bot_ids", "workflow_ids", "allowed_ips", "rate_limits", "default_bot",
                       "dm_policy", "group_policy", "account_id")


def list_keys(actor: Actor, page: int, size: int, owner_id: str | None = None) -> tuple[list[ApiKey], int]:
    return key_store.list_for_owner(_target_owner(actor, owner_id), page, size)


def describe(item: ApiKey, with_secrets: bool = False) -> dict:
    """A key as every answer shows it: masked, never the plaintext or the hash. With
    `with_secrets`, its secrets: the current one and any rotated one (in its grace period or over)."""
    limits = item.rate_limits.as_dict() if hasattr(item.rate_limits, "as_dict") else dict(item.rate_limits or {})
    out = _describe_base(item)
    out.update({
        "bot_ids": list(item.bot_ids or []),
        "workflow_ids": list(item.workflow_ids or []),
        "allowed_ips": list(item.allowed_ips or []),
        "rate_limits": {k: int(v) for k, v in limits.items()} or None,
        "default_bot_id": item.default_bot,
        "dm_policy": item.dm_policy or "allow",
        "group_policy": item.group_policy or "allow",
        "account_id": item.account_id,
    })
    if with_secrets:
        now = now_ms()
        out["secrets"] = [{
            "api_key": s.masked,
            "state": ("grace" if not s.grace_over(now) else "rotated") if s.is_rotated else "active",
            "rotated_at": int(s.rotated_at) if s.rotated_at else None,
            "works_until": int(s.grace_until) if s.is_rotated else (int(s.expired_at or 0) or None),
        } for s in key_store.secrets_of(item.id, item.owner_id)]
    return out


def _describe_base(item: ApiKey) -> dict:
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
