"""Deleting a conversation stops its running turns and leaves nothing behind; partial answers
say they are partial (issue 7, points 2 and 3)."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi.testclient import TestClient

from agentgate.api import chat as chat_api
from agentgate.api import conversations as conversations_api
from agentgate.chat import registry
from agentgate.chat import service
from agentgate.store import bots as bot_store
from agentgate.store import conversations as store


def _headers(owner="alice", scopes="chat"):
    ctx = {"requestId": "r", "apiId": "local", "stage": "test",
           "authorizer": {"key_id": "1000000000000000001", "owner_id": owner, "scopes": scopes}}
    return {"x-amzn-request-context": json.dumps(ctx)}


@pytest.fixture
def stall(aws):
    bot = bot_store.create_bot("alice", {"name": "S", "model": "echo/stall"}, aliases=["stall"])
    bot_store.publish_bot("alice", bot.bot_id)
    return bot.bot_id


async def _stream(path: str, body: dict, *, disconnect: asyncio.Event | None = None, state: dict | None = None):
    disconnect = disconnect or asyncio.Event()
    state = state if state is not None else {}
    state.update({"sent": False, "body": b"", "status": None})

    async def receive():
        if not state["sent"]:
            state["sent"] = True
            return {"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.start":
            state["status"] = message["status"]
        elif message["type"] == "http.response.body":
            state["body"] += message.get("body", b"")

    headers = [(k.encode(), v.encode()) for k, v in _headers().items()] + [(b"content-type", b"application/json")]
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": headers, "client": ("127.0.0.1", 1), "server": ("t", 80), "root_path": ""}
    await asyncio.wait_for(chat_api.app(scope, receive, send), 30)
    return state


async def _until(predicate, tries=4000):
    for _ in range(tries):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("never happened")


def _coze_body(bot_id: str, cid: str) -> dict:
    return {"bot_id": bot_id, "user_id": "u", "stream": True, "conversation_id": cid,
            "additional_messages": [{"role": "user", "content": "hi", "content_type": "text"}]}


def _leftovers(cid: str) -> dict:
    return {"messages": [m.message_id for m in store.Message.scan() if m.conversation_id == cid],
            "chats": [c.chat_id for c in store.Chat.scan() if c.conversation_id == cid],
            "conversation": store.conversation_exists(cid)}


def _delete(cid: str):
    return TestClient(conversations_api.app).delete(f"/v1/conversations/{cid}", headers=_headers())


def test_deleting_a_conversation_mid_stream_stops_the_turn_and_leaves_nothing(stall):
    cid = store.create_conversation("alice", stall).conversation_id

    async def run():
        task = asyncio.ensure_future(_stream("/v3/chat", _coze_body(stall, cid)))
        await _until(lambda: registry.active_chat_ids())
        r = await asyncio.to_thread(_delete, cid)
        assert r.status_code == 200
        return await task  # ends: the turn was stopped (the stall model never finishes by itself)

    state = asyncio.run(run())
    assert state["status"] == 200
    assert _leftovers(cid) == {"messages": [], "chats": [], "conversation": False}


def test_a_turn_on_another_instance_sees_the_delete_through_its_chat_poll(stall, monkeypatch):
    monkeypatch.setenv("AGENTGATE_CANCEL_POLL_S", "0.05")
    monkeypatch.setattr(registry, "cancel_conversation", lambda *a, **k: 0)  # not this process
    cid = store.create_conversation("alice", stall).conversation_id

    async def run():
        task = asyncio.ensure_future(_stream("/v3/chat", _coze_body(stall, cid)))
        await _until(lambda: any(c.conversation_id == cid for c in store.Chat.scan()))
        assert (await asyncio.to_thread(_delete, cid)).status_code == 200
        return await task

    asyncio.run(run())
    assert _leftovers(cid) == {"messages": [], "chats": [], "conversation": False}


def test_writes_racing_the_delete_remove_themselves(stall, monkeypatch):
    """Neither the registry nor the poll reach the turn: it ends later (here: a disconnect) and
    writes its answer; seeing the conversation gone, it takes its writes back out."""
    monkeypatch.setenv("AGENTGATE_CANCEL_POLL_S", "0")
    monkeypatch.setattr(registry, "cancel_conversation", lambda *a, **k: 0)
    cid = store.create_conversation("alice", stall).conversation_id

    async def run():
        gone = asyncio.Event()
        task = asyncio.ensure_future(_stream("/v3/chat", _coze_body(stall, cid), disconnect=gone))
        await _until(lambda: any(m.conversation_id == cid for m in store.Message.scan()))
        assert (await asyncio.to_thread(_delete, cid)).status_code == 200
        gone.set()
        return await task

    asyncio.run(run())
    assert _leftovers(cid) == {"messages": [], "chats": [], "conversation": False}


@pytest.mark.parametrize("how,reason,chat_status", [("disconnect", "disconnected", "failed"),
                                                    ("cancel", "cancelled", "canceled")])
def test_partial_answers_say_so_in_both_message_lists(stall, how, reason, chat_status):
    cid = store.create_conversation("alice", stall).conversation_id

    async def run():
        gone, state = asyncio.Event(), {}
        task = asyncio.ensure_future(_stream("/v3/chat", _coze_body(stall, cid), disconnect=gone, state=state))
        await _until(lambda: b"conversation.message.delta" in state.get("body", b""))
        if how == "disconnect":
            gone.set()
        else:
            chat_id = registry.active_chat_ids()[0]
            r = await asyncio.to_thread(TestClient(chat_api.app).post, "/v3/chat/cancel",
                                        params={"conversation_id": cid, "chat_id": chat_id}, headers=_headers())
            assert r.status_code == 200, r.text
        return await task

    asyncio.run(run())
    (chat,) = [c for c in store.Chat.scan() if c.conversation_id == cid]
    client = TestClient(chat_api.app)
    listed = client.get("/v3/chat/message/list", params={"conversation_id": cid, "chat_id": chat.chat_id},
                        headers=_headers()).json()["data"]
    answer = next(m for m in listed if m["type"] == "answer")
    assert answer["meta_data"] == {"status": "partial", "reason": reason}
    retrieved = client.get("/v3/chat/retrieve", params={"conversation_id": cid, "chat_id": chat.chat_id},
                           headers=_headers()).json()["data"]
    assert retrieved["status"] == chat_status

    conv_list = TestClient(conversations_api.app).post("/v1/conversation/message/list",
                                                       params={"conversation_id": cid}, json={},
                                                       headers=_headers()).json()["data"]
    answer = next(m for m in conv_list if m["type"] == "answer")
    assert answer["meta_data"] == {"status": "partial", "reason": reason}


def test_memory_marks_a_partial_answer_to_the_model(stall, monkeypatch):
    body = {"model": "stall", "stream": True, "sessionId": "s", "messages": [{"role": "user", "content": "hi"}]}

    async def cut():
        gone, state = asyncio.Event(), {}
        task = asyncio.ensure_future(_stream("/v1/chat/completions", body, disconnect=gone, state=state))
        await _until(lambda: b"Echo" in state.get("body", b""))
        gone.set()
        return await task

    asyncio.run(cut())
    seen = []
    real = service._run_turn

    def spy(req, cancel):
        seen.append(req)
        return real(req, cancel)

    monkeypatch.setattr(service, "_run_turn", spy)
    bot_store.update_bot("alice", stall, {"model": "echo"})
    bot_store.publish_bot("alice", stall)
    from agentgate.store import bot_cache

    bot_cache.clear()
    r = TestClient(chat_api.app).post("/v1/chat/completions", headers=_headers(), json={
        "model": "stall", "sessionId": "s", "messages": [{"role": "user", "content": "go on"}]})
    assert r.status_code == 200, r.text
    history = seen[0].history
    assert history[0].role == "user" and history[0].content == "hi"
    assert history[1].role == "assistant" and history[1].content.endswith(
        "[this answer was interrupted (disconnected) and is incomplete]")
