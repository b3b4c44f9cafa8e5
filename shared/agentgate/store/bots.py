"""Bots: a draft config, a published online config, and per-owner aliases.

Table design (one table, every request path a GetItem or a Query):
- Bot item: pk bot_id (a numeric id, agentgate.ids). Holds owner_id, the `draft` config, the `online` config
  (absent while unpublished), the bot's aliases, the last published version number and `listing`
  (the few fields a list shows, of the draft and of the online config). `revision` is
  PynamoDB's optimistic lock: concurrent edits and publishes never interleave. Management reads
  it (consistently); chat never does: with both configs it is up to 2 x 180 KB (~45 read units).
- Online item: pk "online#<bot_id>". A copy of the bot's online config alone (a tombstone with
  `online` absent while unpublished): what chat reads for a bot named by id, ONE eventually
  consistent GetItem of an item a fraction of the bot item's size. A bot written before online
  items existed has none: resolution then falls back to the bot item, and the bot's next write
  (update, publish, unpublish) creates it.
- Alias item: pk "alias#<owner>#<name>". Claims the name for one bot of that owner (uniqueness is
  a conditional put) and carries a copy of that bot's online config. So resolving a bot for chat
  is ONE GetItem, whether the caller names an id or an alias.
- GSI owner_list (owner_id, bot_id), INCLUDE projection of the listing attributes only (never
  the configs): lists an owner's bots for /v1/models and the bot lists. Alias and online keys
  start with a letter and ids with a digit, so the key condition `bot_id < "a"` keeps them out.
Every write that touches a bot, its online item and its aliases is one transaction conditioned
on the revision.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from pynamodb.attributes import (
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from agentgate.config import settings
from agentgate import ids
from agentgate.ids import now_s
from agentgate.store import bot_cache
from agentgate.store.base import register

ALIAS_PREFIX = "alias#"
ONLINE_PREFIX = "online#"
BOT_KEY_CEILING = "a"  # every bot id sorts below this; every alias and online key above it
DEFAULT_MEMORY_WINDOW = 20
_WRITE_ATTEMPTS = 3
# A bot item holds two configs (draft and online) and DynamoDB items stop at 400 KB.
CONFIG_MAX_BYTES = 180_000

# Draft fields an edit may set (the API validates them; the store only copies them).
CONFIG_FIELDS = ("name", "description", "icon_url", "icon_file_id", "prompt", "model", "temperature",
                 "max_tokens", "memory_window", "variables", "onboarding", "tools", "workflows", "knowledge_ids",
                 "tool_ids", "mcp_ids")


class AliasTaken(Exception):
    """Another bot of the same owner already holds this alias."""

    def __init__(self, alias: str):
        super().__init__(f"alias '{alias}' is already used by another bot")
        self.alias = alias


class ConcurrentChange(Exception):
    """The bot kept changing under us; the caller may retry."""


class ConfigTooLarge(Exception):
    """The draft would not fit (twice) in one DynamoDB item."""

    def __init__(self, size: int):
        super().__init__(f"the bot's configuration is too large ({size} bytes; at most {CONFIG_MAX_BYTES})")
        self.size = size


# ---------------------------------------------------------------------------------------- models


class BotConfig(MapAttribute):
    """One version of a bot's behaviour: what the draft holds and what publishing freezes."""

    name = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    icon_url = UnicodeAttribute(default="")
    icon_file_id = UnicodeAttribute(default="")
    prompt = UnicodeAttribute(default="")  # system prompt; may hold {{variables}}
    model = UnicodeAttribute()  # "provider/model" or a bare provider name
    temperature = NumberAttribute(null=True)  # None: the provider's default
    max_tokens = NumberAttribute(null=True)  # None: the provider's default
    memory_window = NumberAttribute(default=DEFAULT_MEMORY_WINDOW)  # prior messages remembered
    variables = JSONAttribute(default=dict)  # {name: default value} for {{name}}
    onboarding = JSONAttribute(default=dict)  # {prologue, suggested_questions}
    tools = JSONAttribute(default=list)  # [{plugin_id, api_id}] (Coze plugin_id_list)
    workflows = JSONAttribute(default=list)  # [workflow_id]
    knowledge_ids = JSONAttribute(default=list)  # [knowledge_id]: retrieved from before each turn
    tool_ids = JSONAttribute(default=list)  # server-side tools (agentgate.tools), seed 001's agents
    mcp_ids = JSONAttribute(default=list)  # server-side tools of kind mcp
    updated_at = NumberAttribute(default=0)  # seconds


# What a list shows of each config (snapshots built from the listing carry these; the rest of a
# config - prompt, variables, tools... - only a full read has).
LISTING_FIELDS = ("name", "description", "icon_url", "icon_file_id", "model", "updated_at")
# The bot item's attributes the owner_list index projects (besides its keys, owner_id and bot_id).
LISTING_ATTRIBUTES = ["listing", "aliases", "version", "published_at", "created_at", "updated_at"]


class OwnerListIndex(GlobalSecondaryIndex):
    """An owner's bots, with only what listings need (INCLUDE): a Query reads a few hundred
    bytes per bot instead of every draft and online config."""

    class Meta:
        index_name = "owner_list"
        projection = IncludeProjection(LISTING_ATTRIBUTES)

    owner_id = UnicodeAttribute(hash_key=True)
    bot_id = UnicodeAttribute(range_key=True)


@register(lambda s: s.bots_table)
class Bot(Model):
    """A bot. Registered first, so it is the model that creates the table (with its index)."""

    class Meta:
        table_name = "agentgate-bots"

    bot_id = UnicodeAttribute(hash_key=True)
    owner_id = UnicodeAttribute()
    draft = BotConfig()
    online = BotConfig(null=True)  # None: not published (chat answers 404)
    aliases = ListAttribute(of=UnicodeAttribute, default=list)
    version = NumberAttribute(default=0)  # last published version; 0 = never published
    published_at = NumberAttribute(null=True)  # when the current online version went live
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    revision = VersionAttribute()
    listing = JSONAttribute(null=True)  # {"draft": {LISTING_FIELDS}, "online": {...} | None}; None: older item

    owner_list = OwnerListIndex()


@register(lambda s: s.bots_table)
class BotAlias(Model):
    """A copy of a bot's online state (None while unpublished): a claimed alias, or the bot's
    online item (key "online#<bot_id>"), which chat reads instead of the bot item."""

    class Meta:
        table_name = "agentgate-bots"

    bot_id = UnicodeAttribute(hash_key=True)  # "alias#<owner>#<name>" or "online#<bot_id>"
    owner_id = UnicodeAttribute()
    target_id = UnicodeAttribute()  # the bot that holds the alias
    online = BotConfig(null=True)
    aliases = ListAttribute(of=UnicodeAttribute, default=list)
    version = NumberAttribute(default=0)
    published_at = NumberAttribute(null=True)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()

    owner_list = OwnerListIndex()


def alias_key(owner_id: str, alias: str) -> str:
    # The alias pattern excludes '#', so the last segment is always the alias.
    return f"{ALIAS_PREFIX}{owner_id}#{alias}"


def online_key(bot_id: str) -> str:
    return f"{ONLINE_PREFIX}{bot_id}"


def looks_like_id(ref: str) -> bool:
    """Refs made only of digits are ids (aliases may not be all digits)."""
    return ref.isdigit()


def _usable_ref(ref: str | None) -> bool:
    # Never a key DynamoDB rejects (empty, over-long) nor one with the key separator.
    return bool(ref) and len(ref) <= 128 and "#" not in ref


# ---------------------------------------------------------------------------------------- views


@dataclass(frozen=True)
class BotSnapshot:
    """A plain, read-only view of one config of a bot (its online version, or its draft)."""

    bot_id: str
    owner_id: str
    name: str
    description: str
    icon_url: str
    prompt: str
    model: str
    temperature: float | None
    max_tokens: int | None
    memory_window: int
    variables: dict[str, str]
    aliases: list[str]
    version: str  # "1", "2", ...; a draft shows the last published one ("0": never published)
    published_at: int | None  # seconds
    updated_at: int  # seconds
    tools: list = field(default_factory=list)
    workflows: list = field(default_factory=list)
    created_at: int = 0
    icon_file_id: str = ""
    onboarding: dict = field(default_factory=dict)
    is_published: bool = True
    knowledge_ids: list = field(default_factory=list)
    tool_ids: list = field(default_factory=list)
    mcp_ids: list = field(default_factory=list)


# What chat serves: a snapshot of the published version.
OnlineBot = BotSnapshot


def _num(value: Any) -> int | None:
    return None if value is None else int(value)


def _snapshot(item: Bot | BotAlias, cfg: BotConfig, *, bot_id: str, version: int, is_published: bool) -> BotSnapshot:
    temperature = None if cfg.temperature is None else float(cfg.temperature)
    return BotSnapshot(
        bot_id=bot_id,
        owner_id=item.owner_id,
        name=cfg.name,
        description=cfg.description or "",
        icon_url=cfg.icon_url or "",
        prompt=cfg.prompt or "",
        model=cfg.model,
        temperature=temperature,
        max_tokens=_num(cfg.max_tokens),
        memory_window=int(cfg.memory_window if cfg.memory_window is not None else DEFAULT_MEMORY_WINDOW),
        variables=dict(cfg.variables or {}),
        aliases=list(item.aliases or []),
        version=str(version),
        published_at=_num(item.published_at),
        updated_at=int(cfg.updated_at or item.updated_at),
        tools=list(cfg.tools or []),
        workflows=list(cfg.workflows or []),
        created_at=int(item.created_at),
        icon_file_id=cfg.icon_file_id or "",
        onboarding=dict(cfg.onboarding or {}),
        is_published=is_published,
        knowledge_ids=list(cfg.knowledge_ids or []),
        tool_ids=list(cfg.tool_ids or []),
        mcp_ids=list(cfg.mcp_ids or []),
    )


def _listed_snapshot(item: Bot, cfg: dict, *, is_published: bool) -> BotSnapshot:
    """A snapshot from the owner_list index: the listing fields; every other config field keeps
    its default (a full read has them)."""
    return BotSnapshot(
        bot_id=item.bot_id, owner_id=item.owner_id, name=cfg.get("name") or "",
        description=cfg.get("description") or "", icon_url=cfg.get("icon_url") or "", prompt="",
        model=cfg.get("model") or "", temperature=None, max_tokens=None, memory_window=DEFAULT_MEMORY_WINDOW,
        variables={}, aliases=list(item.aliases or []), version=str(int(item.version or 0)),
        published_at=_num(item.published_at), updated_at=int(cfg.get("updated_at") or item.updated_at or 0),
        created_at=int(item.created_at or 0), icon_file_id=cfg.get("icon_file_id") or "",
        is_published=is_published,
    )


def _listing(bot: Bot) -> dict:
    def fields(cfg: BotConfig | None) -> dict | None:
        if cfg is None:
            return None
        return {name: getattr(cfg, name) for name in LISTING_FIELDS}

    return {"draft": fields(bot.draft), "online": fields(bot.online)}


def online_snapshot(item: Bot | BotAlias) -> OnlineBot | None:
    if item.online is None:
        return None
    bot_id = item.target_id if isinstance(item, BotAlias) else item.bot_id
    return _snapshot(item, item.online, bot_id=bot_id, version=int(item.version), is_published=True)


def draft_snapshot(bot: Bot) -> BotSnapshot:
    return _snapshot(bot, bot.draft, bot_id=bot.bot_id, version=int(bot.version),
                     is_published=bot.online is not None)


# ---------------------------------------------------------------------------------------- reads


def get_bot(owner_id: str, ref: str) -> Bot | None:
    """The owner's bot by id or alias (an alias costs a second GetItem), else None."""
    if not _usable_ref(ref):
        return None
    bot_id = ref
    if not looks_like_id(ref):
        alias = _get(BotAlias, alias_key(owner_id, ref), consistent=True)
        if alias is None:
            return None
        bot_id = alias.target_id
    # Consistent: management reads feed revision-locked writes, and a stale read would only retry.
    bot = _get(Bot, bot_id, consistent=True)
    return bot if bot is not None and bot.owner_id == owner_id else None


def resolve_online_bot(owner_id: str, ref: str) -> OnlineBot | None:
    """The published config of the owner's bot named by id or alias: one eventually consistent
    GetItem of a copy that holds the online config only (the bot's online item, or the alias).
    A bot without an online item yet (written before they existed) costs a second GetItem, of
    the bot item.

    None when unknown, another owner's, or unpublished (callers answer 404 either way).
    """
    if not _usable_ref(ref):
        return None
    if looks_like_id(ref):
        item = _get(BotAlias, online_key(ref))
        if item is None:
            item = _get(Bot, ref)  # an older bot: no online item until its next write
    else:
        item = _get(BotAlias, alias_key(owner_id, ref))
    if item is None or item.owner_id != owner_id:
        return None
    return online_snapshot(item)


def _owner_listing(owner_id: str) -> list[Bot]:
    """The owner's bots, newest first, as the owner_list index projects them (one Query; items
    written before the index carried `listing` are read whole, in one BatchGetItem per 100)."""
    items = list(Bot.owner_list.query(owner_id, Bot.bot_id < BOT_KEY_CEILING, scan_index_forward=False))
    older = [item.bot_id for item in items if item.listing is None]
    if older:
        whole = _full_items(older)
        items = [whole.get(item.bot_id, item) if item.listing is None else item for item in items]
        for item in items:
            if item.listing is None and item.draft is not None:
                item.listing = _listing(item)
    return [item for item in items if item.listing is not None and item.owner_id == owner_id]


def _full_items(bot_ids: list[str]) -> dict[str, Bot]:
    return {bot.bot_id: bot for bot in Bot.batch_get(bot_ids)}


def _published(item: Bot) -> bool:
    return (item.listing or {}).get("online") is not None


def list_online_bots(owner_id: str, *, full: bool = False) -> list[OnlineBot]:
    """Every published bot of the owner, newest first: one Query on the owner_list index, which
    projects the listing fields only (what /v1/models shows; prompt, variables and the other
    config fields keep their defaults). full=True reads the online configs too (the bots'
    online items, one BatchGetItem per 100)."""
    listed = [item for item in _owner_listing(owner_id) if _published(item)]
    if not full:
        return [_listed_snapshot(item, item.listing["online"], is_published=True) for item in listed]
    return [snap for snap in _online_snapshots([item.bot_id for item in listed]) if snap is not None]


def _online_snapshots(bot_ids: list[str]) -> list[OnlineBot | None]:
    copies = {item.target_id: item for item in BotAlias.batch_get([online_key(b) for b in bot_ids])}
    missing = [b for b in bot_ids if b not in copies]
    whole = _full_items(missing) if missing else {}
    return [online_snapshot(copies.get(b) or whole[b]) if (b in copies or b in whole) else None for b in bot_ids]


# publish_status values (Coze's), and which bots each one lists
PUBLISH_STATUSES = ("all", "published_online", "published_draft", "unpublished_draft")


def list_bots(owner_id: str, publish_status: str, page_num: int, page_size: int, *,
              full: bool = True) -> tuple[list[BotSnapshot], int]:
    """One page of the owner's bots, newest first, and the total matching.

    `published_online` shows online configs; the other statuses show drafts. An owner holds
    tens or hundreds of bots, so one Query over its owner_list partition (listing fields only)
    gives page and total. full=True (the default) then reads the page's whole configs (one
    BatchGetItem per 100 bots of the page); full=False answers from the listing alone (what
    the Coze lists show).
    """
    show_online = publish_status == "published_online"  # the others show drafts
    chosen: list[tuple[Bot, bool]] = []  # (item, show the online config)
    for item in _owner_listing(owner_id):
        published = _published(item)
        listed = {"all": True, "published_online": published, "published_draft": published,
                  "unpublished_draft": not published}.get(publish_status, False)
        if listed:
            chosen.append((item, show_online))
    start = (page_num - 1) * page_size
    page = chosen[start : start + page_size]
    if not full:
        return [_listed_snapshot(item, item.listing["online" if online else "draft"], is_published=_published(item))
                for item, online in page], len(chosen)
    whole = _full_items([item.bot_id for item, _ in page]) if page else {}
    out = []
    for item, online in page:
        bot = whole.get(item.bot_id)
        if bot is None:  # deleted between the Query and the read
            continue
        snap = online_snapshot(bot) if online else draft_snapshot(bot)
        if snap is not None:
            out.append(snap)
    return out, len(chosen)


def _get(model: type[Model], key: str, consistent: bool = False):
    try:
        return model.get(key, consistent_read=consistent)
    except DoesNotExist:
        return None


# ---------------------------------------------------------------------------------------- writes


def _new_config(values: dict) -> BotConfig:
    cfg = BotConfig(model=settings().default_model, memory_window=DEFAULT_MEMORY_WINDOW)
    _apply(cfg, values)
    return cfg


def _apply(cfg: BotConfig, values: dict) -> None:
    for name in CONFIG_FIELDS:
        if name in values and values[name] is not None:
            setattr(cfg, name, copy.deepcopy(values[name]))


def _copy_config(cfg: BotConfig) -> BotConfig:
    return BotConfig(**{name: copy.deepcopy(getattr(cfg, name)) for name in CONFIG_FIELDS + ("updated_at",)})


def _check_size(cfg: BotConfig) -> None:
    size = len(json.dumps({n: getattr(cfg, n) for n in CONFIG_FIELDS}, ensure_ascii=False).encode("utf-8"))
    if size > CONFIG_MAX_BYTES:
        raise ConfigTooLarge(size)


def create_bot(owner_id: str, values: dict, aliases: list[str] | None = None) -> Bot:
    """A new unpublished bot; its aliases are claimed at once (AliasTaken if one is held)."""
    now = now_s()
    cfg = _new_config(values)
    _check_size(cfg)
    cfg.updated_at = now

    def create(bot_id: str) -> Bot:
        bot = Bot(bot_id=bot_id, owner_id=owner_id, draft=cfg, online=None, aliases=list(aliases or []),
                  version=0, created_at=now, updated_at=now, listing=None)
        _commit(bot, previous_aliases=[])  # new: conditional on the bot_id being free
        return bot

    # ConcurrentChange on a new bot means its id was taken (another instance, same millisecond).
    return ids.retry_on_collision(create, collided=lambda exc: isinstance(exc, ConcurrentChange))


def update_bot(owner_id: str, ref: str, values: dict, aliases: list[str] | None = None) -> Bot | None:
    """Edit the draft (the online version is untouched). aliases=None keeps them; a list replaces them."""

    def change(bot: Bot) -> None:
        _apply(bot.draft, values)
        _check_size(bot.draft)
        bot.draft.updated_at = bot.updated_at = now_s()
        if aliases is not None:
            bot.aliases = list(aliases)

    return _modify(owner_id, ref, change)


def publish_bot(owner_id: str, ref: str) -> Bot | None:
    """Freeze the draft as the next online version ("1", "2", ...)."""

    def change(bot: Bot) -> None:
        now = now_s()
        bot.online = _copy_config(bot.draft)
        bot.online.updated_at = now
        bot.version = int(bot.version) + 1
        bot.published_at = bot.updated_at = now

    return _modify(owner_id, ref, change)


def unpublish_bot(owner_id: str, ref: str) -> Bot | None:
    """Take the online version down (the draft stays); idempotent."""

    def change(bot: Bot) -> None:
        bot.online = None
        bot.published_at = None
        bot.updated_at = now_s()

    return _modify(owner_id, ref, change)


def delete_bot(owner_id: str, ref: str) -> Bot | None:
    """Delete a bot and release its aliases, in one transaction; None when it is not the owner's."""
    bot = get_bot(owner_id, ref)
    if bot is None:
        return None
    held_by_me = BotAlias.target_id == bot.bot_id
    try:
        with TransactWrite(connection=Bot._get_connection().connection) as tx:
            tx.delete(bot, condition=Bot.owner_id == owner_id)  # with its revision condition
            tx.delete(BotAlias(bot_id=online_key(bot.bot_id)))  # absent for an older bot: a no-op
            for alias in bot.aliases or []:
                tx.delete(BotAlias(bot_id=alias_key(owner_id, alias)), condition=held_by_me)
    except TransactWriteError as err:
        raise ConcurrentChange("the bot changed while being deleted; try again") from err
    finally:
        bot_cache.forget_owner(owner_id)
    return bot


def _modify(owner_id: str, ref: str, change) -> Bot | None:
    """Read, change, and write back under the revision lock, retrying when another write wins."""
    for _ in range(_WRITE_ATTEMPTS):
        bot = get_bot(owner_id, ref)
        if bot is None:
            return None
        previous = list(bot.aliases or [])
        change(bot)
        try:
            _commit(bot, previous_aliases=previous)
            return bot
        except ConcurrentChange:
            continue
    raise ConcurrentChange("the bot changed while being updated; try again")


def _alias_item(bot: Bot, alias: str) -> BotAlias:
    return _copy_item(bot, alias_key(bot.owner_id, alias))


def _copy_item(bot: Bot, key: str) -> BotAlias:
    return BotAlias(
        bot_id=key, owner_id=bot.owner_id, target_id=bot.bot_id,
        online=_copy_config(bot.online) if bot.online is not None else None, aliases=list(bot.aliases),
        version=bot.version, published_at=bot.published_at, created_at=bot.created_at,
        updated_at=bot.updated_at,
    )


def _commit(bot: Bot, previous_aliases: list[str]) -> None:
    """Write the bot, its online item and every alias copy in one transaction.

    The bot's put carries the revision condition (VersionAttribute); an alias put succeeds only
    when the alias is free or already this bot's, which is what makes aliases unique per owner.
    The online item needs no condition of its own: the bot's revision orders every writer.
    """
    held_by_me = BotAlias.bot_id.does_not_exist() | (BotAlias.target_id == bot.bot_id)
    current = list(bot.aliases or [])
    dropped = [a for a in previous_aliases if a not in current]
    bot.listing = _listing(bot)
    try:
        # The model's own connection: it already points at the configured endpoint and region.
        with TransactWrite(connection=Bot._get_connection().connection) as tx:
            tx.save(bot)  # carries the revision condition
            tx.save(_copy_item(bot, online_key(bot.bot_id)))
            for alias in current:
                tx.save(_alias_item(bot, alias), condition=held_by_me)
            for alias in dropped:
                tx.delete(BotAlias(bot_id=alias_key(bot.owner_id, alias)), condition=held_by_me)
    except TransactWriteError as err:
        # PynamoDB sends deletes before puts: [dropped aliases..., bot, online item, current aliases...].
        _raise_reason(err, alias_at={len(dropped) + 2 + i: a for i, a in enumerate(current)})
        raise
    finally:
        # After the write, so no reader in this process keeps the old config (see bot_cache).
        bot_cache.forget_owner(bot.owner_id)


def _raise_reason(err: TransactWriteError, alias_at: dict[int, str]) -> None:
    """Turn a cancelled transaction into AliasTaken or ConcurrentChange."""
    reasons = list(getattr(err, "cancellation_reasons", None) or [])
    failed = [i for i, r in enumerate(reasons) if r is not None and r.code == "ConditionalCheckFailed"]
    for i in failed:
        if i in alias_at:
            raise AliasTaken(alias_at[i]) from err
    if failed or err.cause_response_code == "TransactionCanceledException":
        # A revision conflict, or a write racing ours on the same items: re-read and retry.
        raise ConcurrentChange("the bot changed while being updated") from err


__all__ = [
    "AliasTaken", "Bot", "BotAlias", "BotConfig", "BotSnapshot", "ConcurrentChange", "ConfigTooLarge", "OnlineBot",
    "LISTING_ATTRIBUTES", "online_key",
    "PUBLISH_STATUSES", "create_bot", "delete_bot", "draft_snapshot", "get_bot", "list_bots", "list_online_bots",
    "online_snapshot", "publish_bot", "resolve_online_bot", "unpublish_bot", "update_bot",
]
