"""The chat path's online-bot cache: hits are reused, bot writes here forget them, misses are not kept."""

import pytest

from agentgate.store import bot_cache
from agentgate.store import bots as store


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch):
    monkeypatch.setenv("AGENTGATE_BOT_CACHE_S", "60")
    bot_cache.clear()
    yield
    bot_cache.clear()


def _counting_resolver(calls):
    def resolve(owner_id, ref):
        calls.append(ref)
        return store.resolve_online_bot(owner_id, ref)

    return resolve


def test_a_published_bot_is_read_once_then_served_from_the_cache(aws):
    bot = store.create_bot("alice", {"name": "b", "model": "echo"}, aliases=["main"])
    store.publish_bot("alice", bot.bot_id)
    calls = []
    resolve = _counting_resolver(calls)
    first = bot_cache.online_bot("alice", "main", resolve)
    second = bot_cache.online_bot("alice", "main", resolve)
    assert first.bot_id == second.bot_id == bot.bot_id and calls == ["main"]
    # Another owner asking for the same alias is a different entry: never alice's bot.
    assert bot_cache.online_bot("mallory", "main", resolve) is None


def test_unpublish_in_this_process_takes_effect_at_once(aws):
    bot = store.create_bot("alice", {"name": "b", "model": "echo"})
    store.publish_bot("alice", bot.bot_id)
    resolve = _counting_resolver([])
    assert bot_cache.online_bot("alice", bot.bot_id, resolve) is not None
    store.unpublish_bot("alice", bot.bot_id)
    assert bot_cache.online_bot("alice", bot.bot_id, resolve) is None


def test_a_republished_prompt_is_seen_at_once(aws):
    bot = store.create_bot("alice", {"name": "b", "model": "echo", "prompt": "v1"})
    store.publish_bot("alice", bot.bot_id)
    resolve = _counting_resolver([])
    assert bot_cache.online_bot("alice", bot.bot_id, resolve).prompt == "v1"
    store.update_bot("alice", bot.bot_id, {"prompt": "v2"})
    store.publish_bot("alice", bot.bot_id)
    assert bot_cache.online_bot("alice", bot.bot_id, resolve).prompt == "v2"


def test_misses_are_not_cached(aws):
    bot = store.create_bot("alice", {"name": "b", "model": "echo"})
    calls = []
    resolve = _counting_resolver(calls)
    assert bot_cache.online_bot("alice", bot.bot_id, resolve) is None
    store.publish_bot("alice", bot.bot_id)
    assert bot_cache.online_bot("alice", bot.bot_id, resolve) is not None
    assert len(calls) == 2


def test_ttl_zero_turns_caching_off(aws, monkeypatch):
    monkeypatch.setenv("AGENTGATE_BOT_CACHE_S", "0")
    bot = store.create_bot("alice", {"name": "b", "model": "echo"})
    store.publish_bot("alice", bot.bot_id)
    calls = []
    resolve = _counting_resolver(calls)
    bot_cache.online_bot("alice", bot.bot_id, resolve)
    bot_cache.online_bot("alice", bot.bot_id, resolve)
    assert len(calls) == 2
