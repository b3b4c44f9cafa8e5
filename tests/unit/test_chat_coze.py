"""The Coze chat v3 surface through TestClient and through cozepy itself, on the echo provider."""

from __future__ import annotations

import json
import threading
import time

import pytest
from fastapi.testclient import TestClient

from agentgate.api.chat import app
from agentgate.chat import registry, service
from agentgate.chat.metrics import count_store_calls
from agentgate.runner.events import TextDelta
from agentgate.store import bots as bot_store
from agentgate.store import conversations as store


def publish(owner: str, model: str = "echo", aliases=("main",), **values) -> str:
    values.setdefault("name", "Helper")
    bot = bot_store.create_bot(owner, {"model": model, **values}, aliases=list(aliases))
    bot_store.publish_bot(owner, bot.bot_id)
    return bot.bot_id


def events_of(text: str) -> list[tuple[str, object]]:
    out = []
    for frame in text.split("\n\n"):
        lines = [ln for ln in frame.split("\n") if ln]
        if not lines:
            continue
        name = lines[0][len("event: "):]
        data = lines[1][len("data: "):]
        out.append((name, data if name == "done" else json.loads(data)))
    return out


def user(text: str, **extra) -> dict:
    return {"role": "user", "content": text, "content_type": "text", **extra}


@pytest.fixture
def client(aws):
    return TestClient(app)


@pytest.fixture
def alice(as_owner):
    return as_owner("alice", "chat")


@pytest.fixture
def bot(aws):
    return publish("alice")


def chat(client, headers, bot_id, *texts, stream=False, params=None, **extra):
    body = {"bot_id": bot_id, "user_id": "u1", "stream": stream,
            "additional_messages": [user(t) for t in texts], **extra}
    return client.post("/v3/chat", json=body, params=params or {}, headers=headers)


def coze_error(r, status: int, fragment: str | None = None) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == status and body["msg"] == body["message"] and "request_id" in body
    if fragment:
        assert fragment in body["msg"], body["msg"]
    return body


# ------------------------------------------------------------------------------------- stream


def test_stream_event_order(client, alice, bot):
    r = chat(client, alice, bot, "hello world", stream=True, meta_data={"k": "v"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["cache-control"] == "no-cache" and r.headers["x-accel-buffering"] == "no"
    evs = events_of(r.text)
    names = [n for n, _ in evs]
    assert names[:2] == ["conversation.chat.created", "conversation.chat.in_progress"]
    assert names[-3:] == ["conversation.message.completed", "conversation.chat.completed", "done"]
    deltas = [d for n, d in evs if n == "conversation.message.delta"]
    assert names[2:-3] == ["conversation.message.delta"] * len(deltas) and len(deltas) == 3
    created = evs[0][1]
    chat_id, cid = created["id"], created["conversation_id"]
    assert created["bot_id"] == bot and created["status"] == "created" and created["meta_data"] == {"k": "v"}
    assert all(d["role"] == "assistant" and d["type"] == "answer" and d["chat_id"] == chat_id
               and d["conversation_id"] == cid for d in deltas)
    completed = evs[-3][1]
    assert completed["content"] == "".join(d["content"] for d in deltas) == "Echo: hello world"
    final = evs[-2][1]
    assert final["status"] == "completed" and final["id"] == chat_id
    assert final["usage"] == {"token_count": 5, "output_count": 3, "input_count": 2}
    assert evs[-1] == ("done", "[DONE]")
    # what a client reads right after the stream is stored
    stored = store.get_chat("alice", cid, chat_id)
    assert stored.status == "completed" and int(stored.usage.as_dict()["token_count"]) == 5
    rows, _ = store.list_messages("alice", cid, order="asc")
    assert [(m.role, m.type, m.content) for m in rows] == [("user", "question", "hello world"),
                                                           ("assistant", "answer", "Echo: hello world")]
    assert rows[1].message_id == completed["id"]


def test_stream_error_after_first_byte(client, alice, aws):
    flaky = publish("alice", model="echo/fail", aliases=["flaky"])
    evs = events_of(chat(client, alice, flaky, "a b", stream=True).text)
    names = [n for n, _ in evs]
    assert names[-4:] == ["error", "conversation.message.completed", "conversation.chat.failed", "done"]
    assert evs[-4][1] == {"code": 502, "msg": "echo/fail: simulated upstream failure"}
    failed = evs[-2][1]
    assert failed["status"] == "failed" and failed["last_error"]["code"] == 502
    stored = store.get_chat("alice", failed["conversation_id"], failed["id"])
    assert stored.status == "failed"
    answer = store.get_message("alice", failed["conversation_id"], evs[-3][1]["id"])
    assert answer.status == "partial" and answer.content == "Echo: "


def test_failure_before_first_byte_is_an_error_status(client, alice, aws):
    broken = publish("alice", model="nosuchprovider/x", aliases=["broken"])
    for stream in (True, False):
        body = coze_error(chat(client, alice, broken, "x", stream=stream), 400, "unknown model")
        assert isinstance(body["code"], int)


# ------------------------------------------------------------------------------------- non-stream


def test_non_stream_answers_chat_and_seed_002_message(client, alice, bot):
    r = chat(client, alice, bot, "hi")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["code"] == 0 and body["msg"] == ""
    data = body["data"]
    assert data["status"] == "completed" and data["bot_id"] == bot and data["conversation_id"]
    assert data["usage"]["token_count"] == data["usage"]["input_count"] + data["usage"]["output_count"]
    assert data["message"]["role"] == "assistant" and data["message"]["content"] == "Echo: hi"
    assert data["message"]["id"] and isinstance(data["message"]["created_at"], int)


def test_seed_002_query_body_conversation_and_numeric_bot_id(client, alice, bot):
    answer = client.post("/v3/chat", json={"bot_id": int(bot), "user_id": "user_001", "query": "I am Wang",
                                           "chat_history": [], "parameters": {}}, headers=alice).json()
    first = answer["data"]
    # seed 002's non-stream answer: conversation_id and message{id, role, content, created_at} on top
    assert answer["conversation_id"] == first["conversation_id"] and answer["code"] == 0
    assert answer["message"] == {"id": first["message"]["id"], "role": "assistant", "content": "Echo: I am Wang",
                                 "created_at": first["message"]["created_at"]}
    second = client.post("/v3/chat", json={"bot_id": int(bot), "query": "who am I?",
                                           "conversation_id": first["conversation_id"]}, headers=alice)
    data = second.json()["data"]
    assert data["conversation_id"] == first["conversation_id"]
    assert 'memory: 2 earlier messages, first: "I am Wang"' in data["message"]["content"]


def test_conversation_id_in_query_continues(client, alice, bot):
    first = chat(client, alice, bot, "first").json()["data"]
    r = chat(client, alice, bot, "second", params={"conversation_id": first["conversation_id"]}, stream=True)
    completed = [d for n, d in events_of(r.text) if n == "conversation.message.completed"][0]
    assert completed["conversation_id"] == first["conversation_id"]
    assert 'memory: 2 earlier messages, first: "first"' in completed["content"]


def test_cleared_conversation_forgets(client, alice, bot):
    first = chat(client, alice, bot, "first").json()["data"]
    store.clear_conversation(store.get_conversation("alice", first["conversation_id"]))
    data = chat(client, alice, bot, "second", params={"conversation_id": first["conversation_id"]}).json()["data"]
    assert "memory" not in data["message"]["content"]


def test_chat_history_and_variables(client, alice, aws):
    bot = publish("alice", prompt="You help {{name}}.", variables={"name": "nobody"}, aliases=["vars"])
    r = client.post("/v3/chat", json={"bot_id": bot, "user_id": "u", "query": "now",
                                      "chat_history": [{"role": "user", "content": "earlier"},
                                                       {"role": "assistant", "content": "ok"}],
                                      "custom_variables": {"name": "Bob"}}, headers=alice)
    content = r.json()["data"]["message"]["content"]
    assert 'first: "earlier"' in content and 'system: "You help Bob."' in content
    # chat_history was context, not stored
    rows, _ = store.list_messages("alice", r.json()["data"]["conversation_id"], order="asc")
    assert [m.content for m in rows] == ["now", content]


def test_object_string_messages(client, alice, bot):
    items = [{"type": "text", "text": "see"}, {"type": "image", "file_url": "https://x/i.png"}]
    r = client.post("/v3/chat", json={"bot_id": bot, "user_id": "u", "additional_messages": [
        {"role": "user", "content": json.dumps(items), "content_type": "object_string"}]}, headers=alice)
    assert r.status_code == 200 and r.json()["data"]["message"]["content"].startswith("Echo: see")
    files = [{"type": "file", "file_id": "1383000000000000000"}]
    with count_store_calls() as calls:
        r = client.post("/v3/chat", json={"bot_id": bot, "user_id": "u", "additional_messages": [
            {"role": "user", "content": json.dumps(files), "content_type": "object_string"}]}, headers=alice)
    coze_error(r, 404, "file not found")  # test_chat_files.py covers files in chat
    assert dict(calls.by_operation) == {"GetItem": 1}  # the file lookup; nothing written


# ------------------------------------------------------------------------------------- retrieve / list


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_retrieve_and_message_list(client, alice, as_owner, bot, method):
    data = chat(client, alice, bot, "hi").json()["data"]
    params = {"conversation_id": data["conversation_id"], "chat_id": data["id"]}
    reader = as_owner("alice", "read")
    r = client.request(method, "/v3/chat/retrieve", params=params, headers=reader)
    assert r.status_code == 200 and r.json()["code"] == 0
    got = r.json()["data"]
    assert got["id"] == data["id"] and got["status"] == "completed" and got["usage"]["token_count"] > 0
    r = client.request(method, "/v3/chat/message/list", params=params, headers=reader)
    messages = r.json()["data"]  # the chat's own messages, besides the query (cozepy's docstring)
    assert [(m["role"], m["type"]) for m in messages] == [("assistant", "answer")]
    assert messages[0]["content"] == "Echo: hi" and messages[0]["id"] == data["message"]["id"]
    assert all(m["chat_id"] == data["id"] for m in messages)


def test_retrieve_unknown_and_missing_params(client, alice, bot):
    coze_error(client.get("/v3/chat/retrieve", params={"conversation_id": "1", "chat_id": "2"}, headers=alice), 404)
    coze_error(client.get("/v3/chat/retrieve", params={"conversation_id": "1"}, headers=alice), 422, "chat_id")


def test_owners_are_isolated(client, alice, as_owner, bot):
    data = chat(client, alice, bot, "secret").json()["data"]
    bob = as_owner("bob", "chat")
    bob_bot = publish("bob", aliases=["main"])
    coze_error(chat(client, bob, bob_bot, "x", params={"conversation_id": data["conversation_id"]}), 404,
               "conversation not found")
    coze_error(chat(client, bob, bob_bot, "x", stream=True, conversation_id=data["conversation_id"]), 404)
    params = {"conversation_id": data["conversation_id"], "chat_id": data["id"]}
    coze_error(client.get("/v3/chat/retrieve", params=params, headers=bob), 404)
    coze_error(client.get("/v3/chat/message/list", params=params, headers=bob), 404)
    coze_error(client.post("/v3/chat/cancel", json=params, headers=bob), 404)
    coze_error(chat(client, bob, bot, "x"), 404, "bot not found or not published")  # alice's bot


# ------------------------------------------------------------------------------------- validation, scopes


def test_input_errors(client, alice, bot, as_owner, monkeypatch):
    coze_error(chat(client, alice, "1234", "x"), 404, "bot not found or not published")
    coze_error(client.post("/v3/chat", json={"bot_id": bot, "user_id": "u"}, headers=alice), 422)
    coze_error(chat(client, alice, bot, *["x"] * 101), 422, "additional_messages")
    coze_error(chat(client, alice, bot, "x", meta_data={str(i): "v" for i in range(17)}), 422, "16")
    coze_error(client.post("/v3/chat", content=b"{", headers={**alice, "content-type": "application/json"}), 400)
    coze_error(chat(client, as_owner("alice", "read"), bot, "x"), 403, "chat")
    monkeypatch.setenv("AGENTGATE_MAX_INPUT_CHARS", "5")
    coze_error(chat(client, alice, bot, "123456"), 413)
    assert list(store.Message.scan()) == [] and list(store.Chat.scan()) == []  # nothing half-done


def test_auto_save_history_false_stores_nothing(client, alice, bot):
    with count_store_calls() as calls:
        r = chat(client, alice, bot, "private", auto_save_history=False)
        s = chat(client, alice, bot, "private", auto_save_history=False, stream=True)
    assert r.json()["data"]["message"]["content"] == "Echo: private"
    assert events_of(s.text)[-2][1]["status"] == "completed"
    # the bot (then cached); nothing written (but the key's metering, counted in test_chat_openai.py)
    assert calls.conversation_data() == {"GetItem": 1}
    assert list(store.Message.scan()) == [] and list(store.Chat.scan()) == [] and list(store.Conversation.scan()) == []
    # in an existing conversation: its history is not read, nothing is added
    data = chat(client, alice, bot, "kept").json()["data"]
    r = chat(client, alice, bot, "private", auto_save_history=False, params={"conversation_id": data["conversation_id"]})
    assert "memory" not in r.json()["data"]["message"]["content"]
    assert len(store.list_messages("alice", data["conversation_id"])[0]) == 2


def test_store_calls_per_turn(client, alice, bot):
    with count_store_calls() as calls:
        data = chat(client, alice, bot, "x").json()["data"]
    # bot; conversation, chat, question, answer; chat's final status; after the answer, whether
    # the conversation still exists (a delete meanwhile: the turn takes its writes back out)
    # (the key's rate window and metering: test_chat_openai.py::test_store_calls_per_turn)
    assert calls.conversation_data() == {"GetItem": 2, "PutItem": 4, "UpdateItem": 1}
    with count_store_calls() as calls:
        chat(client, alice, bot, "y", stream=True, params={"conversation_id": data["conversation_id"]})
    # conversation (the bot is cached now), history; chat, question, answer; final status; the
    # conversation's existence after the answer
    assert calls.conversation_data() == {"GetItem": 2, "Query": 1, "PutItem": 3, "UpdateItem": 1}


# ------------------------------------------------------------------------------------- cancel


def _wait(predicate, what: str, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _stalled_stream(client_headers, bot_id, monkeypatch):
    """Start a Coze stream on echo/stall (one delta, then silence) in a thread; return
    (thread, result holder) once the first delta has left the runner."""
    first_delta = threading.Event()
    original = service._run_turn

    async def spy(req, cancel):
        async for event in original(req, cancel):
            yield event
            if isinstance(event, TextDelta):
                first_delta.set()

    monkeypatch.setattr(service, "_run_turn", spy)
    result = {}

    def run():
        result["response"] = chat(TestClient(app), client_headers, bot_id, "long question", stream=True)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    _wait(first_delta.is_set, "the first delta")
    return thread, result


def _the_chat():
    _wait(lambda: len(list(store.Chat.scan())) == 1, "the chat record")
    return list(store.Chat.scan())[0]


def test_cancel_stops_a_running_stream_and_keeps_the_partial_answer(client, alice, aws, monkeypatch):
    stall = publish("alice", model="echo/stall", aliases=["stall"])
    thread, result = _stalled_stream(alice, stall, monkeypatch)
    running = _the_chat()
    assert running.status == "in_progress" and registry.get(running.chat_id) is not None
    r = client.post("/v3/chat/cancel", json={"chat_id": running.chat_id, "conversation_id": running.conversation_id},
                    headers=alice)
    assert r.status_code == 200 and r.json()["data"]["status"] == "canceled"
    thread.join(20)
    assert not thread.is_alive()
    evs = events_of(result["response"].text)
    names = [n for n, _ in evs]
    assert names[-3:] == ["conversation.message.completed", "conversation.chat.failed", "done"]
    assert evs[-3][1]["content"] == "Echo: "
    assert evs[-2][1]["status"] == "canceled"
    chat_row = store.get_chat("alice", running.conversation_id, running.chat_id)
    assert chat_row.status == "canceled" and chat_row.cancel_requested == 1
    answer = store.get_message("alice", running.conversation_id, evs[-3][1]["id"])
    assert answer.status == "partial" and answer.content == "Echo: "
    assert registry.get(running.chat_id) is None
    # a finished chat cannot be canceled again (cozepy knows code 4104); a canceled one answers as is
    done = chat(client, alice, publish("alice", aliases=["quick"]), "x").json()["data"]
    r = client.post("/v3/chat/cancel", json={"chat_id": done["id"], "conversation_id": done["conversation_id"]},
                    headers=alice)
    assert r.status_code == 400 and r.json()["code"] == 4104 and "completed" in r.json()["msg"]
    again = client.post("/v3/chat/cancel", json={"chat_id": running.chat_id,
                                                 "conversation_id": running.conversation_id}, headers=alice)
    assert again.json()["data"]["status"] == "canceled"


def test_cancel_from_another_instance_is_seen_by_polling(client, alice, aws, monkeypatch):
    monkeypatch.setenv("AGENTGATE_CANCEL_POLL_S", "0.05")
    stall = publish("alice", model="echo/stall", aliases=["stall"])
    thread, result = _stalled_stream(alice, stall, monkeypatch)
    running = _the_chat()
    store.request_cancel(running)  # what /v3/chat/cancel does on another Lambda instance (no registry)
    thread.join(20)
    assert not thread.is_alive()
    evs = events_of(result["response"].text)
    assert evs[-2][1]["status"] == "canceled"
    answer = store.get_message("alice", running.conversation_id, evs[-3][1]["id"])
    assert answer.status == "partial"


def test_submit_tool_outputs_without_requires_action(client, alice, bot):
    data = chat(client, alice, bot, "x").json()["data"]
    r = client.post("/v3/chat/submit_tool_outputs",
                    params={"conversation_id": data["conversation_id"], "chat_id": data["id"]},
                    json={"tool_outputs": [{"tool_call_id": "1", "output": "x"}], "stream": False}, headers=alice)
    coze_error(r, 400, "requires_action")
    r = client.post("/v3/chat/submit_tool_outputs", params={"conversation_id": "1", "chat_id": "2"},
                    json={"tool_outputs": [], "stream": True}, headers=alice)
    coze_error(r, 404)


# ------------------------------------------------------------------------------------- cozepy


@pytest.fixture
def coze_client(aws, alice):
    from cozepy_asgi import coze_for

    return coze_for(app, alice)


def test_cozepy_stream(coze_client, bot):
    from cozepy import ChatEventType, Message

    events = list(coze_client.chat.stream(bot_id=bot, user_id="u",
                                          additional_messages=[Message.build_user_question_text("hi there")]))
    kinds = [e.event for e in events]
    assert kinds[0] == ChatEventType.CONVERSATION_CHAT_CREATED
    assert kinds[-1] == ChatEventType.CONVERSATION_CHAT_COMPLETED
    text = "".join(e.message.content for e in events if e.event == ChatEventType.CONVERSATION_MESSAGE_DELTA)
    assert text == "Echo: hi there"
    assert events[-1].chat.usage.token_count > 0


def test_a_conversation_created_without_a_bot_takes_the_bot_of_its_first_chat(client, alice, bot, aws):
    conv = store.create_conversation("alice", None)
    assert store.get_conversation("alice", conv.conversation_id).bot_id is None
    r = chat(client, alice, bot, "first", params={"conversation_id": conv.conversation_id})
    assert r.status_code == 200 and r.json()["data"]["conversation_id"] == conv.conversation_id
    assert store.get_conversation("alice", conv.conversation_id).bot_id == bot
    listed, _ = store.list_conversations("alice", bot, 1, 10)
    assert [c.conversation_id for c in listed] == [conv.conversation_id]
    other = publish("alice", aliases=["other"])
    chat(client, alice, other, "second", params={"conversation_id": conv.conversation_id})
    assert store.get_conversation("alice", conv.conversation_id).bot_id == bot  # the first chat's stays


def test_cozepy_create_and_poll_then_continue(coze_client, bot):
    from cozepy import ChatStatus, Message, MessageType

    poll = coze_client.chat.create_and_poll(bot_id=bot, user_id="u",
                                            additional_messages=[Message.build_user_question_text("one")])
    assert poll.chat.status == ChatStatus.COMPLETED
    answers = [m.content for m in poll.messages if m.type == MessageType.ANSWER]
    assert answers == ["Echo: one"]
    chat_obj = coze_client.chat.create(bot_id=bot, user_id="u", conversation_id=poll.chat.conversation_id,
                                       additional_messages=[Message.build_user_question_text("two")])
    assert chat_obj.status == ChatStatus.COMPLETED
    again = coze_client.chat.retrieve(conversation_id=chat_obj.conversation_id, chat_id=chat_obj.id)
    assert again.id == chat_obj.id
    listed = coze_client.chat.messages.list(conversation_id=chat_obj.conversation_id, chat_id=chat_obj.id)
    assert 'memory: 2 earlier messages, first: "one"' in listed[-1].content


def test_cozepy_errors(coze_client, bot):
    from cozepy import CozeAPIError, Message

    with pytest.raises(CozeAPIError) as err:
        coze_client.chat.create(bot_id="999", user_id="u", additional_messages=[Message.build_user_question_text("x")])
    assert err.value.code == 404 and "bot not found" in err.value.msg and err.value.logid == "test-request"
    with pytest.raises(CozeAPIError):
        coze_client.chat.cancel(conversation_id="1", chat_id="2")
