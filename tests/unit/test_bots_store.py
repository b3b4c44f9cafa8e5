"""store/bots: drafts, publishing, aliases and the one-read resolution chat relies on."""

from __future__ import annotations

import boto3
import pytest
from pynamodb.connection.base import Connection

from agentgate import ids
from agentgate.config import settings
from agentgate.store import bots


@pytest.fixture
def calls(monkeypatch):
    """The DynamoDB operations PynamoDB makes, in order."""
    seen: list[str] = []
    original = Connection._make_api_call

    def counting(self, operation_name, *args, **kwargs):
        seen.append(operation_name)
        return original(self, operation_name, *args, **kwargs)

    monkeypatch.setattr(Connection, "_make_api_call", counting)
    return seen


def _make(owner="alice", name="Helper", aliases=None, **values):
    return bots.create_bot(owner, {"name": name, **values}, aliases or [])


def test_new_bot_has_defaults_and_is_not_online(aws):
    bot = _make(prompt="Be brief.")
    assert ids.is_id(bot.bot_id) and int(bot.bot_id) <= 2**53 - 1
    draft = bots.draft_snapshot(bot)
    assert draft.model == settings().default_model == "echo"
    assert draft.memory_window == bots.DEFAULT_MEMORY_WINDOW
    assert draft.variables == {} and draft.tools == [] and draft.workflows == []
    assert draft.version == "0" and draft.is_published is False
    assert bots.resolve_online_bot("alice", bot.bot_id) is None


def test_publish_freezes_the_draft_as_numbered_versions(aws):
    bot = _make(prompt="v1 prompt", variables={"city": "Paris"}, temperature=0.5, max_tokens=100)
    bots.publish_bot("alice", bot.bot_id)
    online = bots.resolve_online_bot("alice", bot.bot_id)
    assert online is not None
    assert (online.version, online.prompt, online.variables) == ("1", "v1 prompt", {"city": "Paris"})
    assert (online.temperature, online.max_tokens) == (0.5, 100)
    assert online.published_at and online.published_at < 10**11  # seconds, not ms

    bots.update_bot("alice", bot.bot_id, {"prompt": "v2 prompt"})
    assert bots.resolve_online_bot("alice", bot.bot_id).prompt == "v1 prompt"  # online untouched
    assert bots.draft_snapshot(bots.get_bot("alice", bot.bot_id)).prompt == "v2 prompt"

    bots.publish_bot("alice", bot.bot_id)
    online = bots.resolve_online_bot("alice", bot.bot_id)
    assert (online.version, online.prompt) == ("2", "v2 prompt")

    bots.unpublish_bot("alice", bot.bot_id)
    assert bots.resolve_online_bot("alice", bot.bot_id) is None
    # The draft survives, and the next publish continues the numbering.
    bots.publish_bot("alice", bot.bot_id)
    assert bots.resolve_online_bot("alice", bot.bot_id).version == "3"


def test_resolution_is_one_get_item_by_id_or_alias(aws, calls):
    bot = _make(aliases=["main"], prompt="hi")
    bots.publish_bot("alice", bot.bot_id)

    calls.clear()
    by_alias = bots.resolve_online_bot("alice", "main")
    assert calls == ["GetItem"]
    calls.clear()
    by_id = bots.resolve_online_bot("alice", bot.bot_id)
    assert calls == ["GetItem"]
    assert by_alias == by_id
    assert by_alias.bot_id == bot.bot_id and by_alias.aliases == ["main"]


def test_list_online_bots_is_one_query_and_only_published(aws, calls):
    published = _make(name="one", aliases=["one"])
    _make(name="draft-only")
    bots.publish_bot("alice", published.bot_id)
    _make(owner="bob", name="bobs")

    calls.clear()
    online = bots.list_online_bots("alice")
    assert calls == ["Query"]  # never a Scan; alias items are excluded by the key condition
    assert [b.bot_id for b in online] == [published.bot_id]


def test_resolution_refuses_other_owners_unknown_and_odd_refs(aws):
    bot = _make(aliases=["main"])
    bots.publish_bot("alice", bot.bot_id)
    assert bots.resolve_online_bot("bob", bot.bot_id) is None
    assert bots.resolve_online_bot("bob", "main") is None
    assert bots.get_bot("bob", bot.bot_id) is None
    for ref in ("", "nope", "9999999999999999999", "x" * 5000, "alice#main", "#"):
        assert bots.resolve_online_bot("alice", ref) is None


def test_alias_is_unique_per_owner_and_a_loser_stores_nothing(aws):
    first = _make(aliases=["main"])
    with pytest.raises(bots.AliasTaken) as err:
        _make(name="second", aliases=["other", "main"])
    assert err.value.alias == "main"
    page, total = bots.list_bots("alice", "all", 1, 50)
    assert total == 1 and page[0].bot_id == first.bot_id
    assert bots.get_bot("alice", "other") is None  # the other alias was not claimed either

    second = _make(name="second")
    with pytest.raises(bots.AliasTaken):
        bots.update_bot("alice", second.bot_id, {"name": "renamed"}, ["main"])
    assert bots.get_bot("alice", second.bot_id).draft.name == "second"  # the edit did not land

    # Another owner may use the same name.
    assert _make(owner="bob", aliases=["main"]).owner_id == "bob"


def test_alias_conflict_is_named_when_other_aliases_are_dropped(aws):
    _make(name="holder", aliases=["main"])
    mover = _make(name="mover", aliases=["a", "b"])
    with pytest.raises(bots.AliasTaken) as err:
        bots.update_bot("alice", mover.bot_id, {}, ["b", "main"])  # drops "a", keeps "b", wants "main"
    assert err.value.alias == "main"
    assert bots.get_bot("alice", "a").bot_id == mover.bot_id  # nothing changed
    assert bots.get_bot("alice", "main").draft.name == "holder"


def test_changing_aliases_frees_the_old_ones_and_refreshes_copies(aws):
    bot = _make(aliases=["main", "old"])
    bots.publish_bot("alice", bot.bot_id)
    bots.update_bot("alice", bot.bot_id, {}, ["main", "new"])
    assert bots.resolve_online_bot("alice", "old") is None
    assert bots.resolve_online_bot("alice", "new").bot_id == bot.bot_id
    assert bots.resolve_online_bot("alice", "main").aliases == ["main", "new"]
    # The freed alias can go to another bot.
    other = _make(name="other", aliases=["old"])
    assert bots.get_bot("alice", "old").bot_id == other.bot_id
    # Aliases also find drafts for management.
    assert bots.get_bot("alice", "new").bot_id == bot.bot_id


def test_a_stale_write_loses_and_modify_retries(aws):
    bot = _make(aliases=["main"])
    stale = bots.get_bot("alice", bot.bot_id)
    bots.update_bot("alice", bot.bot_id, {"prompt": "fresh"})
    stale.draft.prompt = "stale"
    with pytest.raises(bots.ConcurrentChange):
        bots._commit(stale, previous_aliases=["main"])
    assert bots.get_bot("alice", bot.bot_id).draft.prompt == "fresh"
    # The public functions re-read and retry, so sequential edits always land.
    assert bots.update_bot("alice", bot.bot_id, {"prompt": "again"}).draft.prompt == "again"


def test_list_bots_pages_newest_first_and_filters_by_status(aws):
    made = [_make(name=f"bot{i}") for i in range(5)]
    for bot in made[:2]:
        bots.publish_bot("alice", bot.bot_id)
    bots.update_bot("alice", made[0].bot_id, {"name": "bot0-edited"})

    page, total = bots.list_bots("alice", "all", 1, 2)
    assert total == 5 and [b.name for b in page] == ["bot4", "bot3"]
    page, _ = bots.list_bots("alice", "all", 3, 2)
    assert [b.name for b in page] == ["bot0-edited"]
    assert bots.list_bots("alice", "all", 4, 2) == ([], 5)

    online, total = bots.list_bots("alice", "published_online", 1, 10)
    assert total == 2 and {b.name for b in online} == {"bot0", "bot1"}  # online names
    drafts, _ = bots.list_bots("alice", "published_draft", 1, 10)
    assert {b.name for b in drafts} == {"bot0-edited", "bot1"}
    unpublished, total = bots.list_bots("alice", "unpublished_draft", 1, 10)
    assert total == 3 and all(not b.is_published for b in unpublished)


def test_every_item_carries_its_owner(aws):
    bot = _make(aliases=["main", "x"])
    bots.publish_bot("alice", bot.bot_id)
    table = boto3.resource("dynamodb", region_name=settings().region).Table(settings().bots_table)
    items = table.scan()["Items"]  # a test may scan; no request path does
    assert len(items) == 4  # the bot, its online item, two aliases
    assert all(item["owner_id"] == "alice" for item in items)
