"""Coze conversations and messages through the conversations app (principal from the context header)."""

from __future__ import annotations

import json

import boto3
import pytest
from fastapi.testclient import TestClient

import agentgate.api.conversations as conv_api
from agentgate.api.conversations import app
from agentgate.config import settings
from agentgate.store import conversations as store

BOT = "7000000000000000001"
OTHER_BOT = "7000000000000000002"


@pytest.fixture
def client(aws, monkeypatch):
    # The bots store is another group's; here every numeric bot but "404..." counts as published.
    monkeypatch.setattr(conv_api, "bot_is_published", lambda owner, bot: not bot.startswith("404"))
    return TestClient(app)


@pytest.fixture
def alice(as_owner):
    return as_owner("alice", "chat")


def _create(client, headers, **body):
    body.setdefault("bot_id", BOT)
    return client.post("/v1/conversation/create", json=body, headers=headers)


def _conv(client, headers, **body) -> dict:
    r = _create(client, headers, **body)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def _add(client, headers, cid, content="hi", **body):
    body = {"role": "user", "content": content, "content_type": "text", **body}
    r = client.post("/v1/conversation/message/create", params={"conversation_id": cid}, json=body, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def _list(client, headers, cid, **body):
    return client.post("/v1/conversation/message/list", params={"conversation_id": cid}, json=body, headers=headers)


def _table_count(name: str) -> int:
    return boto3.resource("dynamodb", region_name=settings().region).Table(name).scan(Select="COUNT")["Count"]


# ----------------------------------------------------------------------------- conversations


def test_create_with_initial_messages_then_retrieve_both_ways(client, alice):
    r = _create(client, alice, bot_id=int(BOT), user_id="user_001", meta_data={"k": "v"},
                messages=[{"role": "user", "content": "hello", "content_type": "text", "type": "",
                           "meta_data": {"a": "b"}},
                          {"role": "assistant", "content": "hi there", "content_type": "text"}])
    assert r.status_code == 200
    body = r.json()
    assert body["code"] == 0 and body["msg"] == ""
    conv = body["data"]
    assert conv["id"].isdigit() and conv["meta_data"] == {"k": "v"} and conv["last_section_id"]
    assert conv["bot_id"] == BOT and conv["user_id"] == "user_001" and isinstance(conv["created_at"], int)

    for method in ("get", "post"):
        got = client.request(method, "/v1/conversation/retrieve", params={"conversation_id": conv["id"]},
                             headers=alice).json()["data"]
        assert got == conv
    assert client.get(f"/v1/conversations/{conv['id']}", headers=alice).json()["data"] == conv

    msgs = _list(client, alice, conv["id"], order="asc").json()["data"]
    assert [(m["role"], m["type"], m["content"]) for m in msgs] == [("user", "question", "hello"),
                                                                    ("assistant", "answer", "hi there")]
    assert msgs[0]["meta_data"] == {"a": "b"} and msgs[0]["section_id"] == conv["last_section_id"]
    assert all(m["bot_id"] == BOT and m["conversation_id"] == conv["id"] for m in msgs)


def test_list_conversations_newest_first_paginated_and_filtered(client, alice, as_owner):
    ids = [_conv(client, alice, user_id="u1" if i % 2 else "u2")["id"] for i in range(5)]
    _conv(client, alice, bot_id=OTHER_BOT)
    _conv(client, as_owner("bob", "chat"))

    def page(**params):
        r = client.get("/v1/conversations", params={"bot_id": BOT, **params}, headers=alice)
        assert r.status_code == 200, r.text
        return r.json()["data"]

    first, second, third = page(page_size=2), page(page_size=2, page_num=2), page(page_size=2, page_num=3)
    walked = [c["id"] for p in (first, second, third) for c in p["conversations"]]
    assert walked == ids[::-1]
    assert first["has_more"] and second["has_more"] and not third["has_more"]
    assert [c["id"] for c in page(sort_order="asc")["conversations"]] == ids
    assert [c["id"] for c in page(user_id="u1")["conversations"]] == [ids[3], ids[1]]
    assert page(bot_id="7999999999999999999")["conversations"] == []


@pytest.mark.parametrize("params", [{"page_size": 0}, {"page_size": 101}, {"page_num": 0}, {"page_num": "x"},
                                    {"bot_id": "abc"}, {"sort_order": "sideways"}, {"bot_id": None}])
def test_list_conversations_rejects_bad_parameters(client, alice, params):
    query = {"bot_id": BOT, **params}
    query = {k: v for k, v in query.items() if v is not None}
    r = client.get("/v1/conversations", params=query, headers=alice)
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == 422 and body["msg"] and body["message"] == body["msg"] and "request_id" in body


def test_update_conversation_name(client, alice):
    conv = _conv(client, alice, name="first")
    assert conv["name"] == "first"
    r = client.put(f"/v1/conversations/{conv['id']}", json={"name": "renamed"}, headers=alice)
    assert r.status_code == 200 and r.json()["data"]["name"] == "renamed"


def test_clear_starts_a_new_section_old_messages_stay_listed(client, alice):
    conv = _conv(client, alice, messages=[{"role": "user", "content": "remember 42"}])
    _add(client, alice, conv["id"], "and 43")
    before = store.get_conversation("alice", conv["id"])
    assert [m.content for m in store.history(conv["id"], before.section_id, 10)] == ["remember 42", "and 43"]

    r = client.post(f"/v1/conversations/{conv['id']}/clear", headers=alice)
    assert r.status_code == 200
    section = r.json()["data"]
    assert section["conversation_id"] == conv["id"] and section["id"] != conv["last_section_id"]

    after = store.get_conversation("alice", conv["id"])
    assert after.section_id == section["id"]
    assert store.history(conv["id"], after.section_id, 10) == []  # the bot forgot
    assert len(_list(client, alice, conv["id"]).json()["data"]) == 2  # people can still read it

    new = _add(client, alice, conv["id"], "fresh start")
    assert new["section_id"] == section["id"]
    assert [m.content for m in store.history(conv["id"], after.section_id, 10)] == ["fresh start"]
    got = client.get("/v1/conversation/retrieve", params={"conversation_id": conv["id"]}, headers=alice).json()
    assert got["data"]["last_section_id"] == section["id"]


def test_delete_removes_the_conversation_and_its_messages(client, alice):
    conv = _conv(client, alice, messages=[{"role": "user", "content": "x"}])
    keep = _conv(client, alice, messages=[{"role": "user", "content": "y"}])
    r = client.delete(f"/v1/conversations/{conv['id']}", headers=alice)
    assert r.status_code == 200 and r.json()["code"] == 0
    assert client.get(f"/v1/conversations/{conv['id']}", headers=alice).status_code == 404
    assert _list(client, alice, conv["id"]).status_code == 404
    assert _table_count(settings().messages_table) == 1
    assert len(_list(client, alice, keep["id"]).json()["data"]) == 1
    assert client.delete(f"/v1/conversations/{conv['id']}", headers=alice).status_code == 404


def test_unpublished_or_unknown_bot_is_404(client, alice):
    r = _create(client, alice, bot_id="4040000000000000000")
    assert r.status_code == 404 and r.json()["msg"] == "bot not found or not published"
    assert _table_count(settings().conversations_table) == 0


def test_bot_check_uses_the_bots_store(aws, alice, as_owner):
    from agentgate.store import bots

    client = TestClient(app)
    bot = bots.create_bot("alice", {"name": "helper"})
    assert _create(client, alice, bot_id=bot.bot_id).status_code == 404  # a draft only
    bots.publish_bot("alice", bot.bot_id)
    assert _create(client, alice, bot_id=bot.bot_id).status_code == 200
    assert _create(client, as_owner("bob", "chat"), bot_id=bot.bot_id).status_code == 404


def test_create_without_a_bot(client, alice):
    """cozepy's examples (workflow_chat_stream, conversation_create) send no bot_id."""
    r = client.post("/v1/conversation/create", json={}, headers=alice)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["id"].isdigit()


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("body, status", [
    ({"bot_id": "abc"}, 422),
    ({"bot_id": True}, 422),
    ({"bot_id": BOT, "meta_data": {f"k{i}": "v" for i in range(17)}}, 422),
    ({"bot_id": BOT, "meta_data": {"k": 1}}, 422),
    ({"bot_id": BOT, "meta_data": {"k" * 65: "v"}}, 422),
    ({"bot_id": BOT, "meta_data": {"k": "v" * 513}}, 422),
    ({"bot_id": BOT, "messages": [{"role": "user", "content": "x" * 100_001}]}, 422),
    ({"bot_id": BOT, "messages": [{"role": "system", "content": "x"}]}, 422),
    ({"bot_id": BOT, "messages": [{"role": "user"}]}, 422),
    ({"bot_id": BOT, "messages": [{"role": "user", "content": 5}]}, 422),
    ({"bot_id": BOT, "messages": [{"role": "user", "content": "x", "type": "nonsense"}]}, 422),
    ({"bot_id": BOT, "messages": [{"role": "user", "content": "not json", "content_type": "object_string"}]}, 422),
    ({"bot_id": BOT, "messages": [{"role": "user", "content": "x"}] * 101}, 422),
    ({"bot_id": BOT, "messages": "hello"}, 422),
])
def test_create_rejects_bad_bodies_and_stores_nothing(client, alice, body, status):
    r = client.post("/v1/conversation/create", json=body, headers=alice)
    assert r.status_code == status, r.text
    err = r.json()
    assert err["code"] == status and err["msg"] == err["message"] and err["request_id"]
    assert _table_count(settings().conversations_table) == 0
    assert _table_count(settings().messages_table) == 0


def test_malformed_json_and_non_object_bodies_are_400(client, alice):
    r = client.post("/v1/conversation/create", content=b"{not json", headers={**alice,
                                                                               "content-type": "application/json"})
    assert r.status_code == 400 and "malformed JSON" in r.json()["msg"]
    r = client.post("/v1/conversation/create", json=[1, 2], headers=alice)
    assert r.status_code in (400, 422)
    assert _table_count(settings().conversations_table) == 0


def test_unknown_and_malformed_ids(client, alice):
    assert client.get("/v1/conversation/retrieve", params={"conversation_id": "1234567890123456789"},
                      headers=alice).status_code == 404
    assert client.get("/v1/conversation/retrieve", params={"conversation_id": "abc"}, headers=alice).status_code == 422
    assert client.get("/v1/conversation/retrieve", headers=alice).status_code == 422
    assert client.get("/v1/conversations/not-an-id", headers=alice).status_code == 404
    assert client.post("/v1/conversations/999/clear", headers=alice).status_code == 404
    conv = _conv(client, alice)
    r = client.get("/v1/conversation/message/retrieve",
                   params={"conversation_id": conv["id"], "message_id": "1234567890123456789"}, headers=alice)
    assert r.status_code == 404 and r.json()["msg"].startswith("message not found")


def test_scopes_reads_need_read_writes_need_chat(client, as_owner):
    conv = _conv(client, as_owner("alice", "chat"))
    reader = as_owner("alice", "read")
    assert client.get(f"/v1/conversations/{conv['id']}", headers=reader).status_code == 200
    assert _list(client, reader, conv["id"]).status_code == 200
    assert _create(client, reader).status_code == 403
    assert client.post(f"/v1/conversations/{conv['id']}/clear", headers=reader).status_code == 403
    assert client.delete(f"/v1/conversations/{conv['id']}", headers=reader).status_code == 403
    r = client.post("/v1/conversation/message/create", params={"conversation_id": conv["id"]},
                    json={"role": "user", "content": "x"}, headers=reader)
    assert r.status_code == 403
    assert client.get("/v1/conversations", params={"bot_id": BOT}).status_code == 401


def test_another_owners_conversation_and_messages_are_404(client, alice, as_owner):
    conv = _conv(client, alice)
    msg = _add(client, alice, conv["id"])
    bob = as_owner("bob", "admin")
    q = {"conversation_id": conv["id"]}
    qm = {**q, "message_id": msg["id"]}
    assert client.get("/v1/conversation/retrieve", params=q, headers=bob).status_code == 404
    assert client.get(f"/v1/conversations/{conv['id']}", headers=bob).status_code == 404
    assert client.put(f"/v1/conversations/{conv['id']}", json={"name": "x"}, headers=bob).status_code == 404
    assert client.post(f"/v1/conversations/{conv['id']}/clear", headers=bob).status_code == 404
    assert client.delete(f"/v1/conversations/{conv['id']}", headers=bob).status_code == 404
    assert _list(client, bob, conv["id"]).status_code == 404
    assert client.get("/v1/conversation/message/retrieve", params=qm, headers=bob).status_code == 404
    assert client.post("/v1/conversation/message/modify", params=qm, json={"content": "x"},
                       headers=bob).status_code == 404
    assert client.post("/v1/conversation/message/delete", params=qm, headers=bob).status_code == 404
    r = client.post("/v1/conversation/message/create", params=q, json={"role": "user", "content": "x"}, headers=bob)
    assert r.status_code == 404
    assert client.get("/v1/conversations", params={"bot_id": BOT}, headers=bob).json()["data"]["conversations"] == []
    # Nothing changed for alice.
    got = client.get("/v1/conversation/message/retrieve", params=qm, headers=alice).json()["data"]
    assert got["content"] == "hi"
    assert len(_list(client, alice, conv["id"]).json()["data"]) == 1


# ----------------------------------------------------------------------------- messages


def test_message_create_retrieve_modify_delete(client, alice):
    conv = _conv(client, alice)
    msg = _add(client, alice, conv["id"], "first", meta_data={"src": "test"})
    assert msg["role"] == "user" and msg["type"] == "question" and msg["content_type"] == "text"
    assert msg["meta_data"] == {"src": "test"} and msg["conversation_id"] == conv["id"]
    assert set(msg) >= {"id", "conversation_id", "bot_id", "chat_id", "role", "type", "content", "content_type",
                        "meta_data", "created_at", "updated_at", "section_id"}
    q = {"conversation_id": conv["id"], "message_id": msg["id"]}

    for method in ("get", "post"):
        assert client.request(method, "/v1/conversation/message/retrieve", params=q,
                              headers=alice).json()["data"] == msg

    parts = json.dumps([{"type": "text", "text": "look"}, {"type": "file", "file_id": "1"}])
    r = client.post("/v1/conversation/message/modify", params=q,
                    json={"content": parts, "content_type": "object_string", "meta_data": {"edited": "yes"}},
                    headers=alice)
    assert r.status_code == 200
    body = r.json()
    assert body["message"] == body["data"]
    assert body["message"]["content"] == parts and body["message"]["content_type"] == "object_string"
    assert body["message"]["meta_data"] == {"edited": "yes"}

    assert client.post("/v1/conversation/message/modify", params=q, json={}, headers=alice).status_code == 422
    assert client.post("/v1/conversation/message/modify", params=q, json={"content": "[", "content_type":
                                                                          "object_string"},
                       headers=alice).status_code == 422
    assert client.post("/v1/conversation/message/modify", params=q, json={"content": "y" * 100_001},
                       headers=alice).status_code == 422
    unchanged = client.get("/v1/conversation/message/retrieve", params=q, headers=alice).json()["data"]
    assert unchanged["content"] == parts

    r = client.post("/v1/conversation/message/delete", params=q, headers=alice)
    assert r.status_code == 200 and r.json()["data"]["id"] == msg["id"]
    assert client.get("/v1/conversation/message/retrieve", params=q, headers=alice).status_code == 404
    assert client.post("/v1/conversation/message/delete", params=q, headers=alice).status_code == 404


def test_message_create_rejects_bad_input(client, alice):
    conv = _conv(client, alice)
    q = {"conversation_id": conv["id"]}
    for body in ({"role": "user"}, {"role": "bot", "content": "x"}, {"role": "user", "content": "x",
                                                                      "content_type": "audio"},
                 {"role": "user", "content": "x", "meta_data": {str(i): "v" for i in range(17)}}):
        assert client.post("/v1/conversation/message/create", params=q, json=body, headers=alice).status_code == 422
    assert client.post("/v1/conversation/message/create", params=q, content=b"{", headers={
        **alice, "content-type": "application/json"}).status_code == 400
    assert _list(client, alice, conv["id"]).json()["data"] == []


@pytest.mark.parametrize("body", [{"limit": 0}, {"limit": 51}, {"limit": "many"}, {"order": "sideways"},
                                  {"before_id": "abc"}, {"after_id": True}, {"chat_id": "x"}])
def test_message_list_rejects_bad_bodies(client, alice, body):
    conv = _conv(client, alice)
    r = _list(client, alice, conv["id"], **body)
    assert r.status_code == 422 and r.json()["code"] == 422


def test_message_list_shape_defaults_and_empty(client, alice):
    conv = _conv(client, alice)
    r = client.post("/v1/conversation/message/list", params={"conversation_id": conv["id"]}, headers=alice)
    assert r.status_code == 200
    assert r.json() == {"code": 0, "msg": "", "data": [], "first_id": "", "last_id": "", "has_more": False}
    ids = [_add(client, alice, conv["id"], str(i))["id"] for i in range(3)]
    body = _list(client, alice, conv["id"]).json()  # default: newest first
    assert [m["id"] for m in body["data"]] == ids[::-1]
    assert body["first_id"] == ids[2] and body["last_id"] == ids[0] and body["has_more"] is False


def _walk(client, headers, cid, *, order, cursor, limit=4, start=None, between_pages=None):
    """Follow a cursor until has_more is false; returns every id seen, in the order seen."""
    seen: list[str] = []
    body = {"order": order, "limit": limit, **(start or {})}
    while True:
        page = _list(client, headers, cid, **body).json()
        assert page["code"] == 0
        got = [m["id"] for m in page["data"]]
        assert len(got) <= limit
        if got:
            assert page["first_id"] == got[0] and page["last_id"] == got[-1]
        seen.extend(got)
        if not page["has_more"]:
            return seen
        if between_pages:
            between_pages()
        body = {"order": order, "limit": limit,
                cursor: page["last_id"] if cursor == "after_id" else page["first_id"]}


def test_message_walks_neither_skip_nor_repeat_while_messages_arrive(client, alice):
    conv = _conv(client, alice)
    cid = conv["id"]
    original = [_add(client, alice, cid, f"m{i}")["id"] for i in range(11)]
    added: list[str] = []

    def arrive():
        added.append(_add(client, alice, cid, "late")["id"])

    # Newest first, paging on with after_id=last_id (what cozepy's pager does): the history as it was.
    desc = _walk(client, alice, cid, order="desc", cursor="after_id", between_pages=arrive)
    assert desc == original[::-1]
    assert len(added) == 2

    # Oldest first with after_id: everything, including what arrived during the walk, once.
    asc = _walk(client, alice, cid, order="asc", cursor="after_id", between_pages=arrive)
    assert asc == sorted(asc) and len(asc) == len(set(asc))
    assert asc[: len(original)] == original and set(asc) == set(original) | set(added)

    # Backwards with before_id=first_id, from a middle cursor.
    everything = original + added
    pivot = everything[-3]
    back_asc = _walk(client, alice, cid, order="asc", cursor="before_id", start={"before_id": pivot},
                     between_pages=arrive)
    # Each page comes in ascending order; pages go back in time.
    assert sorted(back_asc) == everything[: everything.index(pivot)] and len(back_asc) == len(set(back_asc))
    back_desc = _walk(client, alice, cid, order="desc", cursor="before_id", start={"before_id": original[2]})
    assert sorted(back_desc) == sorted(set(original[3:]) | set(added))


def test_message_list_between_cursors_and_by_chat(client, alice):
    conv = _conv(client, alice)
    cid = conv["id"]
    ids = [_add(client, alice, cid, str(i))["id"] for i in range(8)]
    page = _list(client, alice, cid, order="asc", after_id=ids[1], before_id=ids[6]).json()
    assert [m["id"] for m in page["data"]] == ids[2:6] and page["has_more"] is False
    page = _list(client, alice, cid, order="asc", after_id=ids[1], before_id=ids[6], limit=2).json()
    assert [m["id"] for m in page["data"]] == ids[2:4] and page["has_more"] is True
    page = _list(client, alice, cid, order="desc", after_id=ids[6], before_id=ids[1]).json()
    assert [m["id"] for m in page["data"]] == ids[5:1:-1]
    assert _list(client, alice, cid, order="asc", after_id=ids[6], before_id=ids[1]).json()["data"] == []

    chat_msgs = [store.add_message("alice", cid, role="assistant", content=f"c{i}", type="answer",
                                   chat_id="5000000000000000001", bot_id=BOT).message_id for i in range(3)]
    page = _list(client, alice, cid, order="asc", chat_id="5000000000000000001").json()
    assert [m["id"] for m in page["data"]] == chat_msgs and page["data"][0]["chat_id"] == "5000000000000000001"
    other = _conv(client, alice)
    assert _list(client, alice, other["id"], chat_id="5000000000000000001").json()["data"] == []
