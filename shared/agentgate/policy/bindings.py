"""Keys bound to bots and workflows (seed 002 Q5): what lies outside a key's binding does not
exist for it. Every refusal is a 404 with the protocol's usual "not found" text, so ids never
leak through a different answer. A key without a binding may use all of its owner's bots."""

from __future__ import annotations

import contextvars

# The principal a chat turn acts for, where file lookups deep in content resolution need it
# (set by chat.service around that work; threads started with asyncio.to_thread inherit it).
acting: contextvars.ContextVar = contextvars.ContextVar("agentgate_acting_principal", default=None)

MAX_ENTRIES = 100
DEFAULT_REF = "default"  # a request naming this model (or none) gets the key's default bot


def normalise(refs, what: str = "bot_ids") -> list[str]:
    """Validated bot/workflow refs (ids or aliases), without duplicates. Raises ValueError."""
    if refs is None:
        return []
    if isinstance(refs, str):
        refs = refs.replace(",", " ").split()
    out: list[str] = []
    for raw in refs:
        ref = str(raw).strip() if isinstance(raw, (str, int)) and not isinstance(raw, bool) else ""
        if not ref or len(ref) > 128 or any(c.isspace() for c in ref):
            raise ValueError(f"{what} holds bot or workflow ids or aliases (1-128 characters, no spaces)")
        if ref not in out:
            out.append(ref)
    if len(out) > MAX_ENTRIES:
        raise ValueError(f"{what} holds at most {MAX_ENTRIES} entries")
    return out


def bot_ref_for(principal, ref: str | None) -> str | None:
    """The bot a request means: its own ref, or the key's default bot when it names none or
    `default` (seed 000's `match.default`)."""
    if principal is not None and principal.default_bot and (not ref or ref == DEFAULT_REF):
        return principal.default_bot
    return ref


def bot_allowed(principal, bot) -> bool:
    """Whether the key may use this bot (an OnlineBot/BotSnapshot, or anything with bot_id and
    aliases)."""
    if principal is None or not principal.bot_ids or bot is None:
        return True
    bound = principal.bot_ids
    return bot.bot_id in bound or any(a in bound for a in (getattr(bot, "aliases", None) or ()))


def bot_id_allowed(principal, bot_id: str | None) -> bool:
    """The same check for an item that names its bot by id (a conversation, a chat). A binding
    that names bots by alias costs one (cached) bot read here, to learn the bot's aliases."""
    if principal is None or not principal.bot_ids:
        return True
    if not bot_id:
        return True  # a conversation without a bot yet (Coze allows it) holds no bot's data
    if bot_id in principal.bot_ids:
        return True
    if all(ref.isdigit() for ref in principal.bot_ids):
        return False
    from agentgate.store import bot_cache
    from agentgate.store.bots import resolve_online_bot

    bot = bot_cache.online_bot(principal.owner_id, bot_id, resolve_online_bot)
    return bot is not None and bot_allowed(principal, bot)


def workflow_allowed(principal, workflow_id: str | None) -> bool:
    if principal is None or not principal.workflow_ids:
        return True
    return bool(workflow_id) and str(workflow_id) in principal.workflow_ids


def file_visible(principal, record) -> bool:
    """A bound key sees only the files it uploaded itself (files of other bots' keys do not exist
    for it); an unbound key sees all of its owner's. principal None: the acting one, if any."""
    principal = principal if principal is not None else acting.get()
    if principal is None or not principal.bot_ids:
        return True
    return getattr(record, "key_id", None) == principal.key_id
