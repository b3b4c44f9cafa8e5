"""Streaming behaviour at the ASGI level: client disconnects, keep-alives, failures mid-stream,
and the openai SDK against the app."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi.testclient import TestClient

from agentgate.api.chat import app
from agentgate.chat import service
from agentgate.runner.events import Finish, TextDelta, Usage
from agentgate.store import bots as bot_store
from agentgate.store import conversations as store


def principal_header(owner_id: str, scopes: str) -> dict:
    """As conftest's as_owner: the header the Lambda Web Adapter passes the authorizer's context in."""
    ctx = {"requestId": "test-request", "apiId": "local", "stage": "test",
           "authorizer": {"key_id": "1000000000000000001", "owner_id": owner_id, "scopes": scopes}}
    return {"x-amzn-request-context": json.dumps(ctx)}


def publish(owner: str, model: str = "echo", aliases=("main",), **values) -> str:
    values.setdefault("name", "Helper")
    bot = bot_store.create_bot(owner, {"model": model, **values}, aliases=list(aliases))
    bot_store.publish_bot(owner, bot.bot_id)
    return bot.bot_id


async def call_app(path: str, body: dict, *, owner="alice", scopes="chat", stop_when=None, spec="2.3",
                   disconnect: asyncio.Event | None = None):
    """Drive the ASGI app by hand. `stop_when(bytes_so_far)` -> True (or setting `disconnect`)
    makes the client go away; with spec 2.4 a send after that raises OSError, as servers do.
    Returns (status, body bytes, headers)."""
    disconnect = disconnect or asyncio.Event()
    state = {"status": None, "headers": [], "body": b"", "sent_request": False}

    async def receive():
        if not state["sent_request"]:
            state["sent_request"] = True
            return {"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.start":
            state["status"] = message["status"]
            state["headers"] = message["headers"]
        elif message["type"] == "http.response.body":
            if disconnect.is_set():
                if spec >= "2.4":
                    raise OSError("connection closed")
                return
            state["body"] += message.get("body", b"")
            if stop_when is not None and stop_when(state["body"]):
                disconnect.set()

    headers = [(k.encode(), v.encode()) for k, v in principal_header(owner, scopes).items()]
    headers.append((b"content-type", b"application/json"))
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": spec}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": headers, "client": ("127.0.0.1", 1), "server": ("testserver", 80), "root_path": ""}
    await asyncio.wait_for(app(scope, receive, send), 30)
    return state["status"], state["body"], dict(state["headers"])


@pytest.fixture
def stall(aws):
    return publish("alice", model="echo/stall", aliases=["stall"])


# ------------------------------------------------------------------------------------- disconnect


@pytest.mark.parametrize("spec", ["2.3", "2.4"])
def test_disconnect_stops_generation_and_keeps_the_partial_answer(stall, spec):
    body = {"model": "stall", "stream": True, "sessionId": "s", "messages": [{"role": "user", "content": "hi"}]}
    status, raw, _ = asyncio.run(call_app("/v1/chat/completions", body, spec=spec,
                                          stop_when=lambda b: b'"content":"Echo: "' in b))
    assert status == 200
    rows = store.history(store.session_conversation_id("alice", stall, "s"), "0", 10)
    assert [(m.role, m.content, m.status) for m in rows] == [("user", "hi", "complete"),
                                                             ("assistant", "Echo: ", "partial")]


def test_disconnect_fails_the_coze_chat_and_keeps_the_partial_answer(stall):
    body = {"bot_id": stall, "user_id": "u", "stream": True,
            "additional_messages": [{"role": "user", "content": "hi", "content_type": "text"}]}
    status, raw, _ = asyncio.run(call_app("/v3/chat", body, stop_when=lambda b: b"message.delta" in b))
    assert status == 200
    (chat,) = list(store.Chat.scan())
    assert chat.status == "failed" and chat.last_error.as_dict()["code"] == 499
    rows, _ = store.list_messages("alice", chat.conversation_id, order="asc")
    assert [(m.type, m.status) for m in rows] == [("question", "complete"), ("answer", "partial")]


def test_disconnect_during_a_non_stream_turn_stops_it(stall):
    # Seed 002's form (query) waits for the answer within the request; Coze's own form
    # (additional_messages) runs on as background work (tests/unit/test_chat_background.py).
    body = {"bot_id": stall, "user_id": "u", "stream": False, "query": "hi"}

    async def run():
        gone = asyncio.Event()
        task = asyncio.ensure_future(call_app("/v3/chat", body, disconnect=gone))
        from agentgate.chat import registry

        for _ in range(4000):  # until the (stalled) turn runs
            if registry.active_chat_ids():
                break
            await asyncio.sleep(0.005)
        gone.set()  # the client goes away
        return await task

    asyncio.run(run())  # the app returns (nobody reads the answer): the turn was stopped
    (chat,) = list(store.Chat.scan())
    assert chat.status == "failed" and chat.last_error.as_dict()["code"] == 499


def test_disconnect_before_the_first_token_stops_the_turn(aws, monkeypatch):
    monkeypatch.setenv("AGENTGATE_SSE_KEEPALIVE_S", "0")
    bot_id = publish("alice")

    async def silent(req, cancel):
        await cancel.wait()  # the upstream says nothing until the turn is stopped
        yield Finish("cancelled")

    monkeypatch.setattr(service, "_run_turn", silent)

    async def run():
        gone = asyncio.Event()
        body = {"model": "main", "stream": True, "sessionId": "s", "messages": [{"role": "user", "content": "hi"}]}
        task = asyncio.ensure_future(call_app("/v1/chat/completions", body, disconnect=gone))
        await asyncio.sleep(0.05)
        gone.set()
        return await task

    asyncio.run(run())  # returns: the silent turn was stopped
    rows = store.history(store.session_conversation_id("alice", bot_id, "s"), "0", 10)
    assert [(m.role, m.content) for m in rows] == [("user", "hi")]  # the question; no answer was produced


# ------------------------------------------------------------------------------------- keep-alive


@pytest.mark.parametrize("path, body, expected", [
    ("/v1/chat/completions", {"model": "stall", "stream": True, "messages": [{"role": "user", "content": "x"}]},
     b"\n\n: keep-alive\n\n"),
    ("/v3/chat", {"bot_id": "stall", "user_id": "u", "stream": True, "query": "x"}, b"\n\n\n"),
    ("/api/v1/aiBot/externalChat", {"botId": "stall", "stream": True, "messages": [{"role": "user", "content": "x"}]},
     b"\n\n: keep-alive\n\n"),
])
def test_keepalive_during_silence(stall, monkeypatch, path, body, expected):
    monkeypatch.setenv("AGENTGATE_SSE_KEEPALIVE_S", "0.02")
    if path == "/v3/chat":
        body = {**body, "bot_id": stall}
    if path.startswith("/api/v1/aiBot"):
        body = {**body, "botId": stall}
    status, raw, headers = asyncio.run(call_app(path, body, stop_when=lambda b: expected in b))
    assert status == 200 and expected in raw
    assert headers[b"content-type"].startswith(b"text/event-stream")


def test_keepalive_before_the_first_token_commits_the_stream(aws, monkeypatch):
    """A slow first token: keep-alives flow first (status 200 is then fixed)."""
    monkeypatch.setenv("AGENTGATE_SSE_KEEPALIVE_S", "0.02")
    publish("alice")

    async def slow_runner(req, cancel):
        await cancel.wait()  # silent until the client leaves
        yield Finish("cancelled")

    monkeypatch.setattr(service, "_run_turn", slow_runner)
    body = {"model": "main", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    status, raw, _ = asyncio.run(call_app("/v1/chat/completions", body, stop_when=lambda b: b": keep-alive" in b))
    assert status == 200 and raw.startswith(b'data: {"id":"chatcmpl-') and b": keep-alive\n\n" in raw


# ------------------------------------------------------------------------------------- failures


def test_runner_crash_mid_stream_ends_the_protocol_properly(aws, monkeypatch):
    publish("alice")

    async def crashing(req, cancel):
        yield TextDelta("par")
        raise RuntimeError("boom")

    monkeypatch.setattr(service, "_run_turn", crashing)
    client = TestClient(app)
    h = principal_header("alice", "chat")
    r = client.post("/v1/chat/completions", json={"model": "main", "stream": True, "sessionId": "s",
                                                  "messages": [{"role": "user", "content": "x"}]}, headers=h)
    assert r.status_code == 200
    frames = [f for f in r.text.split("\n\n") if f]
    assert frames[-1] == "data: [DONE]" and '"error"' in frames[-2] and "internal error" in frames[-2]
    rows = store.history(store.session_conversation_id("alice", bot_store.resolve_online_bot("alice", "main").bot_id,
                                                       "s"), "0", 10)
    assert rows[-1].status == "partial" and rows[-1].content == "par"


def test_runner_without_usage_gets_an_estimate(aws, monkeypatch):
    publish("alice")

    async def bare(req, cancel):
        yield TextDelta("abcdefgh")
        yield Finish("stop")

    monkeypatch.setattr(service, "_run_turn", bare)
    r = TestClient(app).post("/v1/chat/completions", json={"model": "main", "messages": [
        {"role": "user", "content": "x"}]}, headers=principal_header("alice", "chat"))
    assert r.json()["usage"]["completion_tokens"] == 2


def test_usage_from_the_runner_wins(aws, monkeypatch):
    publish("alice")

    async def counted(req, cancel):
        yield TextDelta("a")
        yield Usage(10, 20)
        yield Finish("stop")

    monkeypatch.setattr(service, "_run_turn", counted)
    r = TestClient(app).post("/v1/chat/completions", json={"model": "main", "messages": [
        {"role": "user", "content": "x"}]}, headers=principal_header("alice", "chat"))
    assert r.json()["usage"] == {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}


# ------------------------------------------------------------------------------------- the openai SDK


@pytest.fixture
def openai_client(aws):
    from openai import OpenAI

    publish("alice")
    return OpenAI(api_key="pat_test", base_url="http://testserver/api/v1",
                  http_client=TestClient(app, headers=principal_header("alice", "chat")))


def test_openai_sdk_stream_and_create(openai_client):
    chunks = list(openai_client.chat.completions.create(
        model="main", messages=[{"role": "user", "content": "hello"}], stream=True,
        stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: hello"
    assert chunks[-1].usage.total_tokens == chunks[-1].usage.prompt_tokens + chunks[-1].usage.completion_tokens
    done = openai_client.chat.completions.create(model="main", messages=[{"role": "user", "content": "hi"}])
    assert done.choices[0].message.content == "Echo: hi" and done.choices[0].finish_reason == "stop"
    assert [m.id for m in openai_client.models.list()].count("main") == 1


def test_openai_sdk_errors(openai_client):
    import openai

    with pytest.raises(openai.NotFoundError) as err:
        openai_client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert "bot not found or not published" in str(err.value)
    with pytest.raises(openai.BadRequestError):
        openai_client.chat.completions.create(model="main", messages=[])
    publish("alice", model="echo/fail", aliases=["flaky"])
    with pytest.raises(openai.APIError) as err:
        for _ in openai_client.chat.completions.create(model="flaky", messages=[{"role": "user", "content": "x"}],
                                                        stream=True):
            pass
    assert "simulated upstream failure" in str(err.value)


def test_openai_sdk_session_memory(openai_client):
    openai_client.chat.completions.create(model="main", messages=[{"role": "user", "content": "my name is Ann"}],
                                          extra_body={"sessionId": "sdk"})
    reply = openai_client.chat.completions.create(model="main", messages=[{"role": "user", "content": "name?"}],
                                                  extra_body={"sessionId": "sdk"})
    assert 'first: "my name is Ann"' in reply.choices[0].message.content
