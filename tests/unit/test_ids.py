"""IDs: numeric strings JavaScript keeps exact, time-ordered as strings, old 19-digit ids still valid."""

import pytest

from agentgate import ids


def test_new_ids_are_exact_in_javascript_and_sort_by_time_as_strings():
    made = [ids.new_id() for _ in range(5000)]
    assert all(ids.is_id(v) and len(v) == 16 and int(v) <= 2**53 - 1 for v in made)
    assert made == sorted(made) and len(set(made)) == len(made)
    assert float(made[0]) == int(made[0])  # a JSON number round-trips through a double
    assert abs(ids.id_time_ms(made[-1]) - ids.now_ms()) < 5000


def test_ids_of_the_first_scheme_keep_working_and_sort_before_new_ones():
    legacy = str(10**18 + ((ids.now_ms() - 1_704_067_200_000) << 22 | 12345))
    assert ids.is_id(legacy)
    assert abs(ids.id_time_ms(legacy) - ids.now_ms()) < 5000
    assert legacy < ids.new_id()  # string order: an old conversation's new messages come after its old ones
    for bad in ("", "abc", "0123456789012345", "12345", 1234567890123456, None):
        assert not ids.is_id(bad)


def test_retry_on_collision_takes_a_fresh_id():
    class Taken(Exception):
        cause_response_code = "ConditionalCheckFailedException"

    seen = []

    def create(value):
        seen.append(value)
        if len(seen) < 3:
            raise Taken()
        return value

    assert ids.retry_on_collision(create) == seen[-1] and len(set(seen)) == 3
    with pytest.raises(ValueError):
        ids.retry_on_collision(lambda v: (_ for _ in ()).throw(ValueError("other")))


def _replay(monkeypatch, values):
    """new_id() hands out `values` first (another instance's ids), then fresh ones."""
    real = ids.new_id
    queue = list(values)
    monkeypatch.setattr(ids, "new_id", lambda: queue.pop(0) if queue else real())


def test_a_taken_id_is_retried_for_bots_conversations_and_files(aws, monkeypatch):
    from agentgate.files import service as files
    from agentgate.store import bots, conversations

    bot = bots.create_bot("alice", {"name": "first"})
    _replay(monkeypatch, [bot.bot_id])
    other = bots.create_bot("bob", {"name": "second"})
    assert other.bot_id != bot.bot_id and bots.get_bot("alice", bot.bot_id).draft.name == "first"

    conv = conversations.create_conversation("alice", bot.bot_id)
    _replay(monkeypatch, [conv.conversation_id])
    second = conversations.create_conversation("bob", other.bot_id)
    assert second.conversation_id != conv.conversation_id
    assert conversations.get_conversation("alice", conv.conversation_id) is not None

    first_file = files.store_upload("alice", "a.txt", b"alice's")
    _replay(monkeypatch, [first_file.file_id])
    second_file = files.store_upload("bob", "b.txt", b"bob's")
    assert second_file.file_id != first_file.file_id
    assert files.get_file("alice", first_file.file_id).file_name == "a.txt"
