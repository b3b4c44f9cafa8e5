"""The chat app's OpenAI and AIFlowy surfaces through TestClient, on the echo provider."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from agentgate.api.chat import app
from agentgate.chat.metrics import count_store_calls
from agentgate.store import bots as bot_store
from agentgate.store import conversations as store


def publish(owner: str, model: str = "echo", aliases=("main",), **values) -> str:
    values.setdefault("name", "Helper")
    bot = bot_store.create_bot(owner, {"model": model, **values}, aliases=list(aliases))
    bot_store.publish_bot(owner, bot.bot_id)
    return bot.bot_id


def sse_data(text: str) -> list:
    out = []
    for frame in text.split("\n\n"):
        for line in frame.split("\n"):
            if line.startswith("data: "):
                payload = line[len("data: "):]
                out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


@pytest.fixture
def client(aws):
    return TestClient(app)


@pytest.fixture
def alice(as_owner):
    return as_owner("alice", "chat")


@pytest.fixture
def bot(aws):
    return publish("alice")


def ask(text: str, **extra) -> dict:
    return {"model": "main", "messages": [{"role": "user", "content": text}], **extra}


# ------------------------------------------------------------------------------------- basics


def test_healthz_is_public(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/api/v1/chat/completions"])
def test_non_stream_completion(client, alice, bot, path):
    r = client.post(path, json=ask("hello there"), headers=alice)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"].startswith("chatcmpl-") and body["object"] == "chat.completion"
    assert body["model"] == "main" and isinstance(body["created"], int)
    choice = body["choices"][0]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    assert choice["message"] == {"role": "assistant", "content": "Echo: hello there"}
    usage = body["usage"]
    assert usage["prompt_tokens"] == 2 and usage["completion_tokens"] == 3 and usage["total_tokens"] == 5


def test_model_by_bot_id_is_echoed(client, alice, bot):
    r = client.post("/v1/chat/completions", json={**ask("x"), "model": bot}, headers=alice)
    assert r.status_code == 200 and r.json()["model"] == bot


def test_stream_framing_and_usage(client, alice, bot):
    r = client.post("/v1/chat/completions", json=ask("one two", stream=True, stream_options={"include_usage": True}),
                    headers=alice)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["cache-control"] == "no-cache" and r.headers["x-accel-buffering"] == "no"
    chunks = sse_data(r.text)
    assert chunks[-1] == "[DONE]"
    chunks = chunks[:-1]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "main" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    deltas = [c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]]
    assert "".join(deltas) == "Echo: one two"
    assert len([d for d in deltas if d]) == 3  # one frame per echo word: no batching
    finish = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finish) == 1 and finish[0]["choices"][0]["finish_reason"] == "stop"
    assert finish[0]["choices"][0]["delta"] == {"content": ""}  # seed 000: print(delta.content) prints ""
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == {"prompt_tokens": 2, "completion_tokens": 3,
                                                                   "total_tokens": 5}


def test_stream_without_include_usage_has_no_usage_chunk(client, alice, bot):
    r = client.post("/v1/chat/completions", json=ask("x", stream=True), headers=alice)
    assert all("usage" not in c for c in sse_data(r.text) if c != "[DONE]")


def test_request_params_reach_the_runner(client, alice, bot):
    r = client.post("/v1/chat/completions", json=ask("a b c d e f", max_tokens=2), headers=alice)
    body = r.json()
    assert body["choices"][0]["message"]["content"] == "Echo: a " and body["choices"][0]["finish_reason"] == "length"


def test_tools_pass_through(client, alice, bot):
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    r = client.post("/v1/chat/completions", json=ask("please", tools=tools, tool_choice="required"), headers=alice)
    msg = r.json()["choices"][0]
    assert msg["finish_reason"] == "tool_calls"
    assert msg["message"]["tool_calls"][0]["function"]["name"] == "lookup"


def test_content_parts(client, alice, bot):
    r = client.post("/v1/chat/completions", json={"model": "main", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "look"},
                                     {"type": "image_url", "image_url": {"url": "https://x/i.png"}}]}]},
        headers=alice)
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"].startswith("Echo: look")


# ------------------------------------------------------------------------------------- errors


def _error(r, status: int, fragment: str | None = None) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    if fragment:
        assert fragment in err["message"], err["message"]
    return err


def test_unknown_or_unpublished_bot_is_404(client, alice, bot):
    _error(client.post("/v1/chat/completions", json={**ask("x"), "model": "nope"}, headers=alice), 404,
           "bot not found or not published")
    draft = bot_store.create_bot("alice", {"name": "Draft", "model": "echo"}, aliases=["draft"])
    _error(client.post("/v1/chat/completions", json={**ask("x"), "model": draft.bot_id}, headers=alice), 404,
           "bot not found or not published")


def test_another_owners_bot_is_404(client, as_owner, bot):
    _error(client.post("/v1/chat/completions", json={**ask("x"), "model": bot}, headers=as_owner("bob", "chat")),
           404)


@pytest.mark.parametrize("body", [
    {"model": "main", "messages": []},
    {"model": "main", "messages": [{"role": "user"}]},
    {"model": "main", "messages": [{"role": "robot", "content": "x"}]},
    {"model": "main", "messages": "hello"},
    {"model": 5, "messages": [{"role": "user", "content": "x"}]},
])
def test_bad_messages_are_400(client, alice, bot, body):
    _error(client.post("/v1/chat/completions", json=body, headers=alice), 400)


def test_malformed_json_is_400(client, alice, bot):
    _error(client.post("/v1/chat/completions", content=b"{nope", headers={**alice, "content-type": "application/json"}),
           400, "malformed JSON")


def test_unknown_file_parts_are_refused_before_anything(client, alice, bot):
    with count_store_calls() as calls:
        err = _error(client.post("/v1/chat/completions", json={"model": "main", "messages": [
            {"role": "user", "content": [{"type": "file", "file": {"file_id": "123"}}]}], "sessionId": "s"},
            headers=alice), 404, "file not found")
    assert calls.total == 0 and err["type"] == "not_found_error"


def test_oversized_input_is_413(client, alice, bot, monkeypatch):
    monkeypatch.setenv("AGENTGATE_MAX_INPUT_CHARS", "10")
    with count_store_calls() as calls:
        _error(client.post("/v1/chat/completions", json=ask("x" * 11, sessionId="s"), headers=alice), 413)
    assert calls.total == 0


def test_without_chat_scope_is_403(client, as_owner, bot):
    err = _error(client.post("/v1/chat/completions", json=ask("x"), headers=as_owner("alice", "read")), 403, "chat")
    assert err["type"] == "permission_error"


def test_upstream_failure_before_first_byte_is_an_error_status(client, alice, aws):
    publish("alice", model="nosuchprovider/x", aliases=["broken"])
    for stream in (False, True):
        r = client.post("/v1/chat/completions", json={**ask("x"), "model": "broken", "stream": stream}, headers=alice)
        err = _error(r, 400, "unknown model")
        assert err["code"] == "model_not_found"


def test_upstream_failure_after_first_byte_is_in_band(client, alice, aws):
    publish("alice", model="echo/fail", aliases=["flaky"])
    r = client.post("/v1/chat/completions", json={**ask("x y"), "model": "flaky", "stream": True}, headers=alice)
    assert r.status_code == 200
    chunks = sse_data(r.text)
    assert chunks[-1] == "[DONE]" and "error" in chunks[-2]
    assert chunks[-2]["error"]["code"] == "upstream_error"
    assert chunks[1]["choices"][0]["delta"]["content"] == "Echo: "
    # not streamed: the error status (the partial answer is no answer)
    _error(client.post("/v1/chat/completions", json={**ask("x"), "model": "flaky"}, headers=alice), 502)


# ------------------------------------------------------------------------------------- memory


def test_session_memory_seed_000(client, alice, bot):
    first = client.post("/api/v1/chat/completions", json=ask("my name is Zhang San", sessionId="session-001"),
                        headers=alice)
    assert first.status_code == 200
    assert "memory" not in first.json()["choices"][0]["message"]["content"]
    second = client.post("/api/v1/chat/completions", json=ask("what is my name?", sessionId="session-001"),
                         headers=alice)
    content = second.json()["choices"][0]["message"]["content"]
    # the echo provider reports what reached the model: the first exchange came from memory
    assert content.startswith("Echo: what is my name?")
    assert 'memory: 2 earlier messages, first: "my name is Zhang San"' in content
    # another session, and the stateless call, start empty
    other = client.post("/api/v1/chat/completions", json=ask("hi", sessionId="session-002"), headers=alice)
    assert "memory" not in other.json()["choices"][0]["message"]["content"]
    plain = client.post("/api/v1/chat/completions", json=ask("hi"), headers=alice)
    assert "memory" not in plain.json()["choices"][0]["message"]["content"]


def test_thread_id_memory_seed_003_and_streaming(client, alice, bot):
    client.post("/v1/chat/completions", json=ask("first", thread_id=3, stream=True), headers=alice)
    r = client.post("/v1/chat/completions", json=ask("second", thread_id="3"), headers=alice)
    assert 'memory: 2 earlier messages, first: "first"' in r.json()["choices"][0]["message"]["content"]


def test_session_is_per_bot_and_alias_shares_it(client, alice, bot):
    client.post("/v1/chat/completions", json=ask("one", sessionId="s"), headers=alice)
    r = client.post("/v1/chat/completions", json={**ask("two", sessionId="s"), "model": bot}, headers=alice)
    assert "memory: 2 earlier" in r.json()["choices"][0]["message"]["content"]
    publish("alice", aliases=["other"])
    r = client.post("/v1/chat/completions", json={**ask("three", sessionId="s"), "model": "other"}, headers=alice)
    assert "memory" not in r.json()["choices"][0]["message"]["content"]


def test_session_memory_is_stored_as_a_conversation(client, alice, bot):
    client.post("/v1/chat/completions", json=ask("hello", sessionId="s1"), headers=alice)
    cid = store.session_conversation_id("alice", bot, "s1")
    conv = store.get_conversation("alice", cid)
    assert conv is not None and conv.session_key == "s1" and conv.bot_id == bot
    rows = store.history(cid, "0", 10)
    assert [(m.role, m.type, m.content, m.status) for m in rows] == [
        ("user", "question", "hello", "complete"), ("assistant", "answer", "Echo: hello", "complete")]


def test_sessions_clear(client, alice, bot):
    client.post("/api/v1/chat/completions", json=ask("my name is Li", sessionId="s"), headers=alice)
    r = client.post("/api/v1/sessions/clear", json={"agentId": "main", "sessionKey": "s"}, headers=alice)
    assert r.status_code == 200 and r.json()["success"] is True and r.json()["deleted"] == 2
    after = client.post("/api/v1/chat/completions", json=ask("what is my name?", sessionId="s"), headers=alice)
    assert "memory" not in after.json()["choices"][0]["message"]["content"]
    _error(client.post("/api/v1/sessions/clear", json={"agentId": "nope", "sessionKey": "s"}, headers=alice), 404)
    _error(client.post("/api/v1/sessions/clear", json={"agentId": "main"}, headers=alice), 400, "sessionKey")


def test_store_calls_per_turn(client, alice, bot):
    with count_store_calls() as calls:
        client.post("/v1/chat/completions", json=ask("x"), headers=alice)
    # stateless: the bot; the key's rate window (one UpdateItem before the model); after the
    # answer, the day's usage (UpdateItem) and the request's audit record (PutItem)
    assert dict(calls.by_operation) == {"GetItem": 1, "UpdateItem": 2, "PutItem": 1}
    with count_store_calls() as calls:
        client.post("/v1/chat/completions", json=ask("x", sessionId="k"), headers=alice)
    # history; conversation (new session), question, answer (the bot comes from the cache now);
    # after the answer, whether the conversation still exists; the same metering
    assert dict(calls.by_operation) == {"Query": 1, "PutItem": 4, "GetItem": 1, "UpdateItem": 2}
    with count_store_calls() as calls:
        client.post("/v1/chat/completions", json=ask("y", sessionId="k", stream=True), headers=alice)
    # a stream also takes and gives back one of the key's concurrent-stream slots
    assert dict(calls.by_operation) == {"Query": 1, "PutItem": 3, "GetItem": 1, "UpdateItem": 4}


def test_reads_before_the_model_is_called(client, alice, bot, monkeypatch):
    from agentgate.chat import service

    seen = []
    original = service._run_turn

    def spy(req, cancel):
        seen.append(dict(counter.by_operation))
        return original(req, cancel)

    monkeypatch.setattr(service, "_run_turn", spy)
    with count_store_calls() as counter:
        client.post("/v1/chat/completions", json=ask("x", sessionId="k"), headers=alice)
        client.post("/v1/chat/completions", json=ask("y", sessionId="k"), headers=alice)
    # reads before the model: the bot and the history (the question's write runs alongside, in the
    # background, so it may or may not have happened yet)
    reads = [{op: n for op, n in s.items() if op in ("GetItem", "Query", "Scan")} for s in seen]
    assert reads[0] == {"GetItem": 1, "Query": 1}
    # the bot's config is cached for a few seconds; the first turn's check, after its answer, that
    # its conversation still exists
    assert reads[1] == {"GetItem": 2, "Query": 2}


# ------------------------------------------------------------------------------------- models


@pytest.mark.parametrize("path", ["/v1/models", "/api/v1/models"])
def test_models_list(client, as_owner, bot, path):
    publish("bob", aliases=["bobs"])
    r = client.get(path, headers=as_owner("alice", "read"))
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "list"
    assert sorted(m["id"] for m in body["data"]) == sorted([bot, "main"])
    assert all(m["object"] == "model" and m["owned_by"] == "alice" and isinstance(m["created"], int)
               for m in body["data"])


def test_models_need_read_scope(client, as_owner, bot):
    _error(client.get("/v1/models", headers=as_owner("alice", "")), 403)


# ------------------------------------------------------------------------------------- AIFlowy


def test_aiflowy_blocking(client, alice, bot):
    r = client.post("/api/v1/aiBot/externalChat", json={"botId": bot, "messages": [
        {"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"},
        {"role": "user", "content": "translate"}]}, headers=alice)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "END" and isinstance(body["created"], int) and body["created"] > 10**12
    assert body["choices"]["index"] == 0 and body["choices"]["message"]["role"] == "assistant"
    assert body["choices"]["message"]["content"].startswith("Echo: translate | memory: 2 earlier")
    assert set(body["usage"]) == {"completionTokens", "promptTokens", "totalTokens"}


def test_aiflowy_streaming(client, alice, bot):
    r = client.post("/api/v1/aiBot/externalChat", json={"botId": bot, "stream": True,
                                                        "messages": [{"role": "user", "content": "a b"}]},
                    headers=alice)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    frames = sse_data(r.text)
    statuses = [f["status"] for f in frames]
    assert statuses[0] == "START" and statuses[-1] == "END" and set(statuses[1:-1]) == {"MIDDLE"}
    assert "".join(f["choices"]["delta"]["content"] for f in frames) == "Echo: a b"


def test_aiflowy_errors_in_its_shape(client, as_owner, alice, bot):
    r = client.post("/api/v1/aiBot/externalChat", json={"botId": "404", "messages": [{"role": "user", "content": "x"}]},
                    headers=alice)
    assert r.status_code == 404 and r.json()["errorCode"] == 404
    r = client.post("/api/v1/aiBot/externalChat", json={"botId": bot, "messages": []}, headers=alice)
    assert r.status_code == 400 and "errorCode" in r.json()
    r = client.post("/api/v1/aiBot/externalChat", json={"botId": bot, "messages": [{"role": "user", "content": "x"}]},
                    headers=as_owner("alice", "read"))
    assert r.status_code == 403 and r.json()["errorCode"] == 403
