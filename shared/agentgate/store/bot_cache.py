"""A short-lived, per-process cache of published bot configs for the chat path.

Chat reads the bot before it can call the model; on a warm function that read is the largest
part of the time to first token the gateway adds. Like API Gateway's authorizer cache, entries
live a few seconds (AGENTGATE_BOT_CACHE_S, default 5; 0 turns caching off), and a bot write in
this process forgets its owner's entries at once (the local gateway runs every function in one
process). In Lambda, a publish or unpublish reaches a warm chat instance within the TTL.
Only hits are cached: a bot published a moment ago is never refused because of a cached miss.
"""

from __future__ import annotations

import os
import threading
import time

_MAX_ENTRIES = 2048
_entries: dict[tuple[str, str], tuple[float, object]] = {}
_lock = threading.Lock()


def _ttl_s() -> float:
    try:
        return float(os.environ.get("AGENTGATE_BOT_CACHE_S", "5"))
    except ValueError:
        return 5.0


def online_bot(owner_id: str, ref: str, resolve):
    """resolve(owner_id, ref) through the cache."""
    ttl = _ttl_s()
    if ttl <= 0:
        return resolve(owner_id, ref)
    key = (owner_id, ref)
    now = time.monotonic()
    hit = _entries.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    value = resolve(owner_id, ref)
    if value is not None:
        with _lock:
            if len(_entries) >= _MAX_ENTRIES:
                _entries.clear()
            _entries[key] = (now + ttl, value)
    return value


def forget_owner(owner_id: str) -> None:
    """A bot of this owner changed: drop every cached entry of the owner (ids and aliases)."""
    with _lock:
        for key in [k for k in _entries if k[0] == owner_id]:
            del _entries[key]


def clear() -> None:
    with _lock:
        _entries.clear()
