"""Seed 000's channel configuration, made true in the keys table: `agentgate config apply FILE`.

    owner: alice                     # optional: whose keys (default: the applying root key's owner)
    channels:
      api:
        enabled: true                # false: every configured account is refused
        accounts:
          admin:                     # the account id
            name: "管理员"
            enabled: true
            api_key: "admin-secret-key"   # stored as its MD5 only, like every key
            dm_policy: "allow"       # allow | disabled (policy.conversation_rules)
            group_policy: "allow"
            scopes: [chat]           # optional (default chat)
            allowed_ips: []          # optional: agentgate's own policy fields are accepted too
            rate_limits: {rpm: 60}
    bindings:
      - agent_id: "main"             # a bot by id or alias
        match: {default: true, channel: "api", account_id: "admin"}

Each account is one key (its `account_id` names it), found again on the next apply: applying
the same file twice changes nothing. A changed `api_key` rotates the key to it (same key id and
usage history; the old secret stops at once). An account that left the file is disabled, not
deleted. Bindings bind an account's key to its agents (no binding: all of the owner's bots) and
`match.default` makes one the answer to requests naming no model or `default`; a binding
without `account_id` applies to every account of the channel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agentgate.auth import management, tokens
from agentgate.store import keys as key_store

CHANNEL = "api"
EXTRA_FIELDS = ("allowed_ips", "rate_limits", "workflow_ids")


class ConfigError(ValueError):
    """The file is not a channel configuration; the message names where."""


@dataclass
class Account:
    account_id: str
    name: str
    enabled: bool
    api_key: str
    scopes: list[str]
    dm_policy: str | None
    group_policy: str | None
    extra: dict = field(default_factory=dict)
    bot_ids: list[str] = field(default_factory=list)
    default_bot: str | None = None


@dataclass
class Change:
    action: str  # create | update | rotate | disable | unchanged
    account_id: str
    key_id: str | None = None
    fields: dict = field(default_factory=dict)  # what changes: name -> [old, new]
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"action": self.action, "account_id": self.account_id, "key_id": self.key_id,
                "fields": self.fields, "warnings": self.warnings}


def _mapping(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping")
    return value


def parse(doc) -> tuple[str | None, list[Account], list[str]]:
    """(owner, accounts, warnings) of a configuration document (YAML already loaded)."""
    doc = _mapping(doc, "the configuration")
    warnings: list[str] = []
    owner = doc.get("owner")
    if owner is not None and (not isinstance(owner, str) or not owner.strip()):
        raise ConfigError("owner must be a non-empty string")
    channels = _mapping(doc.get("channels"), "channels")
    unknown = [name for name in channels if name != CHANNEL]
    if unknown:
        warnings.append(f"channels {', '.join(map(str, unknown))}: only the api channel is served here; ignored")
    api = _mapping(channels.get(CHANNEL), "channels.api")
    channel_on = api.get("enabled", True)
    if not isinstance(channel_on, bool):
        raise ConfigError("channels.api.enabled must be true or false")
    accounts = []
    for account_id, raw in _mapping(api.get("accounts"), "channels.api.accounts").items():
        where = f"channels.api.accounts.{account_id}"
        raw = _mapping(raw, where)
        key = raw.get("api_key")
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{where}.api_key is required (the account's key)")
        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(f"{where}.enabled must be true or false")
        scopes = raw.get("scopes", ["chat"])
        if isinstance(scopes, str):
            scopes = scopes.split()
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise ConfigError(f"{where}.scopes is a list of scopes")
        name = raw.get("name", str(account_id))
        accounts.append(Account(
            account_id=str(account_id), name=str(name)[:100] or str(account_id), enabled=channel_on and enabled,
            api_key=key, scopes=scopes, dm_policy=raw.get("dm_policy"), group_policy=raw.get("group_policy"),
            extra={k: raw[k] for k in EXTRA_FIELDS if k in raw}))
        if len(key) < management.CHOSEN_KEY_MIN:
            warnings.append(f"{where}.api_key has {len(key)} characters, fewer than {management.CHOSEN_KEY_MIN}: "
                            "accepted, but easy to guess (generated keys carry 256 random bits)")
    by_id = {a.account_id: a for a in accounts}
    for i, raw in enumerate(doc.get("bindings") or []):
        where = f"bindings[{i}]"
        raw = _mapping(raw, where)
        agent = raw.get("agent_id")
        if isinstance(agent, int) and not isinstance(agent, bool):
            agent = str(agent)
        if not isinstance(agent, str) or not agent:
            raise ConfigError(f"{where}.agent_id is required (a bot id or alias)")
        match = _mapping(raw.get("match"), f"{where}.match")
        if match.get("channel", CHANNEL) != CHANNEL:
            continue
        target = match.get("account_id")
        if target is not None and str(target) not in by_id:
            raise ConfigError(f"{where}.match.account_id {target!r} is not an account of channels.api")
        for account in ([by_id[str(target)]] if target is not None else accounts):
            if agent not in account.bot_ids:
                account.bot_ids.append(agent)
            if match.get("default") is True:
                account.default_bot = agent
    return owner, accounts, warnings


def _existing(owner: str) -> dict[str, key_store.ApiKey]:
    """The owner's keys that a configuration made, by account id."""
    out = {}
    for item in key_store.ApiKey.owner_index.query(owner):
        if item.account_id and item.status != key_store.STATUS_DELETED and not item.is_rotated:
            out[item.account_id] = item
    return out


def _policy(account: Account) -> management.KeyPolicy:
    return management.KeyPolicy(bot_ids=account.bot_ids, default_bot_id=account.default_bot or "",
                                dm_policy=account.dm_policy or "allow", group_policy=account.group_policy or "allow",
                                account_id=account.account_id, workflow_ids=account.extra.get("workflow_ids", []),
                                allowed_ips=account.extra.get("allowed_ips", []),
                                rate_limits=account.extra.get("rate_limits", {}))


def _diff(item: key_store.ApiKey, account: Account, wanted: dict) -> dict:
    described = management.describe(item)
    out = {}
    if described["name"] != account.name:
        out["name"] = [described["name"], account.name]
    if bool(item.enabled) != account.enabled:
        out["enabled"] = [bool(item.enabled), account.enabled]
    if sorted(item.scopes or []) != sorted(account.scopes):
        out["scopes"] = [list(item.scopes or []), account.scopes]
    current = {"bot_ids": described["bot_ids"], "workflow_ids": described["workflow_ids"],
               "allowed_ips": described["allowed_ips"], "rate_limits": described["rate_limits"] or {},
               "default_bot": described["default_bot_id"], "dm_policy": described["dm_policy"],
               "group_policy": described["group_policy"]}
    for name, value in wanted.items():
        if name == "account_id":
            continue
        new = value if value not in (None, "") else ({} if name == "rate_limits" else [] if name.endswith("s") else None)
        old = current.get(name)
        if name == "default_bot":
            old, new = old or None, new or None
        if old != new:
            out[name] = [old, new]
    return out


def apply(actor: management.Actor, doc, *, dry_run: bool = False) -> dict:
    """Make the configuration true (or, with dry_run, say what would change). Root only."""
    if not actor.is_root:
        raise management.KeyRuleError(403, "only the operator (a root key or the CLI) may apply a channel configuration")
    try:
        owner, accounts, warnings = parse(doc)
    except ConfigError as exc:
        raise management.KeyRuleError(422, f"invalid channel configuration: {exc}") from exc
    owner = owner or actor.owner_id
    if not owner:
        raise management.KeyRuleError(422, "name the keys' owner: a top-level `owner:` in the file")
    from agentgate.store.bots import get_bot

    for account in accounts:
        for ref in account.bot_ids:
            if get_bot(owner, ref) is None:
                warnings.append(f"account {account.account_id}: agent {ref!r} is not a bot of {owner} (yet): "
                                "requests to it answer 404 until it exists")
    existing = _existing(owner)
    changes: list[Change] = []
    for account in accounts:
        policy = _policy(account)
        wanted = policy.validated()
        item = existing.pop(account.account_id, None)
        digest = tokens.hash_key(account.api_key)
        if item is None:
            taken = key_store.get_by_hash(digest)
            if taken is not None and taken.status != key_store.STATUS_DELETED:
                if taken.owner_id != owner or taken.is_rotated:
                    raise management.KeyRuleError(409, f"account {account.account_id}: its api_key is already "
                                                       "registered to another key")
                item = taken  # a key registered by hand before: the account adopts it
        if item is None:
            change = Change("create", account.account_id, fields={"name": account.name, "scopes": account.scopes,
                                                                   **{k: v for k, v in wanted.items() if v}})
            if not dry_run:
                created, _ = management.create_key(actor, account.name, 0, account.scopes, owner, chosen=account.api_key,
                                                   allow_weak=True, policy=policy)
                if not account.enabled:
                    management.update_key(actor, created.id, enabled=False, owner_id=owner)
                change.key_id = created.id
            changes.append(change)
            continue
        fields = _diff(item, account, wanted)
        rotate = item.key_hash != digest
        action = "rotate" if rotate else "update" if fields else "unchanged"
        change = Change(action, account.account_id, item.id, fields)
        if rotate:
            change.fields["api_key"] = [item.masked, tokens.mask(account.api_key)]
        if not dry_run and action != "unchanged":
            if rotate:
                management.rotate_key(actor, item.id, 0, owner, chosen=account.api_key)
            if fields:
                management.update_key(actor, item.id, name=account.name, enabled=account.enabled, owner_id=owner,
                                      policy=policy, scopes=account.scopes)
        changes.append(change)
    for account_id, item in sorted(existing.items()):
        if not item.enabled:
            continue
        changes.append(Change("disable", account_id, item.id, {"enabled": [True, False]}))
        if not dry_run:
            management.update_key(actor, item.id, enabled=False, owner_id=owner)
    return {"owner_id": owner, "dry_run": dry_run, "changes": [c.as_dict() for c in changes],
            "changed": sum(1 for c in changes if c.action != "unchanged"), "warnings": warnings}
