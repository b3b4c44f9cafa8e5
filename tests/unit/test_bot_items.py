"""Hot items (issue 10, point 10 a/b): chat reads a bot's small online item, never the bot item
that holds draft and online; lists read an INCLUDE-projection index, never whole configs; bots
written before online items existed keep working and gain one on their next write."""

from __future__ import annotations

import json

import boto3
import pytest
from fastapi.testclient import TestClient
from pynamodb.connection.base import Connection

from agentgate.config import settings
from agentgate.store import bot_cache
from agentgate.store import bots

BIG_PROMPT = "x" * 60_000  # a large draft: what chat must never read


@pytest.fixture
def requests(monkeypatch):
    """Every DynamoDB request PynamoDB sends: (operation, its arguments)."""
    seen: list[tuple[str, dict]] = []
    original = Connection._make_api_call

    def recording(self, operation_name, operation_kwargs, *args, **kwargs):
        seen.append((operation_name, operation_kwargs))
        return original(self, operation_name, operation_kwargs, *args, **kwargs)

    monkeypatch.setattr(Connection, "_make_api_call", recording)
    return seen


def _keys(requests, operation="GetItem") -> list[str]:
    return [kw["Key"]["bot_id"]["S"] for op, kw in requests if op == operation]


def _published(owner="alice", aliases=(), **values) -> str:
    values = {"name": "Helper", "prompt": BIG_PROMPT, **values}
    bot = bots.create_bot(owner, values, list(aliases))
    bots.publish_bot(owner, bot.bot_id)
    return bot.bot_id


def _table():
    return boto3.resource("dynamodb", region_name=settings().region).Table(settings().bots_table)


def _as_older_bot(bot_id: str) -> None:
    """Make a bot look as one written before online items and listings existed."""
    _table().delete_item(Key={"bot_id": bots.online_key(bot_id)})
    _table().update_item(Key={"bot_id": bot_id}, UpdateExpression="REMOVE listing")


def test_resolution_by_id_reads_the_online_item_only(aws, requests):
    bot_id = _published()
    bots.update_bot("alice", bot_id, {"prompt": "a new draft " + BIG_PROMPT})  # draft differs from online
    requests.clear()
    online = bots.resolve_online_bot("alice", bot_id)
    assert online.prompt == BIG_PROMPT and online.version == "1"
    assert _keys(requests) == [bots.online_key(bot_id)]
    (_, kwargs), = requests
    assert not kwargs.get("ConsistentRead"), "chat's read is eventually consistent (half the units)"
    # The online item holds no draft: it is about half the bot item.
    item = _table().get_item(Key={"bot_id": bots.online_key(bot_id)})["Item"]
    whole = _table().get_item(Key={"bot_id": bot_id})["Item"]
    assert "draft" not in item and len(json.dumps(item, default=str)) < 0.6 * len(json.dumps(whole, default=str))


def test_a_chat_turn_never_reads_the_bot_item(aws, requests, as_owner):
    from agentgate.api.chat import app

    bot_id = _published()
    bot_cache.clear()
    requests.clear()
    r = TestClient(app).post("/v1/chat/completions", headers=as_owner("alice", "chat"),
                             json={"model": bot_id, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200, r.text
    reads = _keys(requests)
    assert reads == [bots.online_key(bot_id)], reads
    assert bot_id not in reads  # the draft + online item: ~2x the size


def test_unpublished_bots_answer_from_their_online_item_too(aws, requests):
    bot = bots.create_bot("alice", {"name": "draft only", "prompt": BIG_PROMPT}, [])
    requests.clear()
    assert bots.resolve_online_bot("alice", bot.bot_id) is None
    assert _keys(requests) == [bots.online_key(bot.bot_id)]  # a tombstone: no second read
    bots.publish_bot("alice", bot.bot_id)
    bots.unpublish_bot("alice", bot.bot_id)
    requests.clear()
    assert bots.resolve_online_bot("alice", bot.bot_id) is None
    assert _keys(requests) == [bots.online_key(bot.bot_id)]


def test_an_older_bot_falls_back_to_its_item_and_its_next_write_adds_the_online_item(aws, requests):
    bot_id = _published(aliases=["old"])
    _as_older_bot(bot_id)
    requests.clear()
    assert bots.resolve_online_bot("alice", bot_id).prompt == BIG_PROMPT
    assert _keys(requests) == [bots.online_key(bot_id), bot_id]
    assert [b.bot_id for b in bots.list_online_bots("alice")] == [bot_id]  # lists read it whole
    assert bots.list_bots("alice", "all", 1, 10, full=False)[0][0].name == "Helper"

    bots.update_bot("alice", bot_id, {"name": "renamed"})
    requests.clear()
    assert bots.resolve_online_bot("alice", bot_id).name == "Helper"  # online untouched by a draft edit
    assert _keys(requests) == [bots.online_key(bot_id)]


def test_delete_removes_the_online_item(aws):
    bot_id = _published(aliases=["main"])
    bots.delete_bot("alice", bot_id)
    assert _table().scan()["Items"] == []
    assert bots.resolve_online_bot("alice", bot_id) is None


def test_lists_read_the_listing_projection_never_the_configs(aws, requests):
    first = _published(aliases=["one"], description="the first")
    second = bots.create_bot("alice", {"name": "draft", "prompt": BIG_PROMPT}, []).bot_id
    requests.clear()
    online = bots.list_online_bots("alice")
    assert [op for op, _ in requests] == ["Query"]
    (_, query), = requests
    assert query["IndexName"] == "owner_list"
    assert [(b.bot_id, b.aliases, b.name, b.description) for b in online] == [(first, ["one"], "Helper", "the first")]
    # The index itself returns no config: what a Query reads is the listing alone.
    raw = Bot_query_raw("alice")
    assert raw and all("draft" not in item and "online" not in item for item in raw)
    # (alias and online items are in the index too, keyed above "a": the key condition skips them)
    assert {item["bot_id"] for item in raw if item["bot_id"] < "a"} == {first, second}

    requests.clear()
    page, total = bots.list_bots("alice", "all", 1, 10, full=False)
    assert [op for op, _ in requests] == ["Query"] and total == 2
    assert [(b.bot_id, b.is_published) for b in page] == [(second, False), (first, True)]


def Bot_query_raw(owner: str) -> list[dict]:  # noqa: N802 - a raw Query, as DynamoDB answers it
    from boto3.dynamodb.conditions import Key

    return _table().query(IndexName="owner_list", KeyConditionExpression=Key("owner_id").eq(owner))["Items"]


def test_a_full_list_reads_only_the_page(aws, requests):
    made = [_published(name=f"bot{i}") for i in range(4)]
    requests.clear()
    page, total = bots.list_bots("alice", "all", 2, 2)
    assert total == 4 and [b.name for b in page] == ["bot1", "bot0"] and page[0].prompt == BIG_PROMPT
    ops = [op for op, _ in requests]
    assert ops == ["Query", "BatchGetItem"]
    (batch,) = [kw for op, kw in requests if op == "BatchGetItem"]
    (keys,) = [spec["Keys"] for spec in batch["RequestItems"].values()]
    assert sorted(k["bot_id"]["S"] for k in keys) == sorted(made[:2])
    full = bots.list_online_bots("alice", full=True)
    assert [b.prompt for b in full] == [BIG_PROMPT] * 4


def test_the_translated_template_projects_only_the_listing_attributes():
    from sam_translate import translated

    table = translated()["Resources"]["BotsTable"]
    (index,) = table["Properties"]["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "owner_list"
    assert index["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": bots.LISTING_ATTRIBUTES}
    (model_index,) = bots.Bot._get_schema()["global_secondary_indexes"]
    assert model_index["projection"] == index["Projection"]  # the embedded store creates the same index
    assert "draft" not in bots.LISTING_ATTRIBUTES and "online" not in bots.LISTING_ATTRIBUTES


def test_the_functions_that_list_bots_may_read_a_page_of_them_whole():
    """list_bots reads a page's whole bots with BatchGetItem (and lists fall back to it for bots
    written before owner_list): the roles of the functions that list bots must allow it."""
    from sam_translate import translated

    cfn = translated()
    allowed = set()
    for name, res in cfn["Resources"].items():
        if res["Type"] != "AWS::IAM::Role":
            continue
        for policy in res["Properties"].get("Policies") or ():
            for st in policy["PolicyDocument"]["Statement"]:
                actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
                if "dynamodb:BatchGetItem" in actions and {"Fn::GetAtt": ["BotsTable", "Arn"]} in resources:
                    allowed.add(name)
    assert {"BotsFunctionRole", "AgentchatFunctionRole", "ChatFunctionRole"} <= allowed
