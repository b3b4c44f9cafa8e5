"""Plain HTTP (httpx) against the running local gateway: AIFlowy's external chat with the bare key
header, the raw SSE framing of all three chat protocols, the service description, a forged
request context, and a client that hangs up mid-stream.

Note: the test gateway runs with AGENTGATE_ECHO_DELAY_MS=0, which also makes "echo/slow"
instant; a stream that must still be running when the client leaves uses the stub upstream's
`__slow__` trigger (50 ms between deltas) or "echo/stall" (one delta, then silence).
"""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest

pytestmark = pytest.mark.integration

OWNER = "clients-http"
OTHER_OWNER = "clients-http-other"
PROMPT = "Plain and simple."
EXTERNAL = "/api/v1/aiBot/externalChat"


def _create_bot(c: httpx.Client, name: str, model: str, prompt: str = PROMPT, aliases=()) -> str:
    r = c.post("/v1/bot/create", json={"name": name, "prompt_info": {"prompt": prompt}, "model": model,
                                       "aliases": list(aliases)})
    assert r.status_code == 200, r.text
    bot_id = r.json()["data"]["bot_id"]
    r = c.post("/v1/bot/publish", json={"bot_id": bot_id})
    assert r.status_code == 200, r.text
    return bot_id


def _expected(text: str, prompt: str = PROMPT) -> str:
    return f'Echo: {text} | system: "{prompt}"' if prompt else f"Echo: {text}"


@pytest.fixture(scope="module")
def key(gateway) -> str:
    return gateway.create_key(OWNER, ("admin",))


@pytest.fixture(scope="module")
def http(gateway, key):
    with gateway.client(key) as c:
        yield c


@pytest.fixture(scope="module")
def bare(gateway, key):
    """Seed 004: `Authorization: <key>`, no Bearer."""
    with gateway.client(key, bare=True) as c:
        yield c


@pytest.fixture(scope="module")
def bot(http) -> str:
    return _create_bot(http, "http echo", "echo", aliases=["http-main"])


@pytest.fixture(scope="module")
def stub_bot(http) -> str:
    return _create_bot(http, "http stub", "stub/stub", prompt="")


def _frames(body: str) -> list[str]:
    """The SSE frames of a whole body; asserts it is nothing but complete `...\\n\\n` frames."""
    assert body.endswith("\n\n"), body[-200:]
    frames = body.split("\n\n")
    assert frames[-1] == ""
    return frames[:-1]


def _data_frames(body: str) -> list[str]:
    """Every frame is exactly one `data: <payload>` line; returns the payloads."""
    out = []
    for frame in _frames(body):
        assert "\n" not in frame, repr(frame)
        assert frame.startswith("data: "), repr(frame)
        out.append(frame[len("data: "):])
    return out


# ------------------------------------------------------------------------------------- AIFlowy


@pytest.mark.parametrize("as_number", [False, True])
def test_aiflowy_blocking_answer_with_a_bare_key(bare, bot, as_number):
    bot_ref = int(bot) if as_number else bot
    before_ms = int(time.time() * 1000)
    r = bare.post(EXTERNAL, json={"botId": bot_ref, "messages": [{"role": "user", "content": "hello aiflowy"}],
                                  "stream": False})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"status", "usage", "created", "choices"}
    assert body["status"] == "END"
    usage = body["usage"]
    assert set(usage) == {"completionTokens", "promptTokens", "totalTokens"}
    assert usage["totalTokens"] == usage["completionTokens"] + usage["promptTokens"]
    assert usage["completionTokens"] == len(_expected("hello aiflowy").split())
    assert usage["promptTokens"] == len(PROMPT.split()) + 2
    assert isinstance(body["created"], int) and body["created"] >= before_ms - 5000  # milliseconds
    assert body["choices"] == {"index": 0, "message": {"content": _expected("hello aiflowy"), "role": "assistant"}}


def test_aiflowy_history_is_the_callers(bare, bot):
    r = bare.post(EXTERNAL, json={"botId": bot, "messages": [
        {"role": "user", "content": "first"}, {"role": "assistant", "content": "answer"},
        {"role": "user", "content": "second"}]})
    assert r.status_code == 200
    content = r.json()["choices"]["message"]["content"]
    assert content.startswith("Echo: second | memory: 2 earlier messages, first: \"first\"")


def test_aiflowy_streaming_frames(gateway, key, bot):
    with httpx.stream("POST", gateway.base_url + EXTERNAL, headers={"Authorization": key}, timeout=30,
                      json={"botId": bot, "messages": [{"role": "user", "content": "stream aiflowy now"}],
                            "stream": True}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        body = r.read().decode()
    frames = [json.loads(p) for p in _data_frames(body)]
    statuses = [f["status"] for f in frames]
    assert statuses[0] == "START" and statuses[-1] == "END"
    assert set(statuses[1:-1]) == {"MIDDLE"} and len(statuses) > 4
    for f in frames:
        assert isinstance(f["created"], int)
        assert f["choices"]["index"] == 0 and f["choices"]["delta"]["role"] == "assistant"
    text = "".join(f["choices"]["delta"]["content"] for f in frames)
    assert text == _expected("stream aiflowy now")
    assert frames[-1]["choices"]["delta"]["content"] == ""
    end_usage = frames[-1].get("usage")
    if end_usage is not None:
        assert end_usage["completionTokens"] == len(text.split())


def test_aiflowy_errors(gateway, bare, bot):
    r = bare.post(EXTERNAL, json={"botId": "999999999", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 404
    r = bare.post(EXTERNAL, json={"botId": bot, "messages": []})
    assert r.status_code == 400
    r = httpx.post(gateway.base_url + EXTERNAL, headers={"Authorization": "pat_nope"},
                   json={"botId": bot, "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 401


# ------------------------------------------------------------------------------------- raw SSE


def test_openai_raw_sse_framing(gateway, key, bot):
    for path in ("/v1/chat/completions", "/api/v1/chat/completions"):
        with httpx.stream("POST", gateway.base_url + path, headers={"Authorization": f"Bearer {key}"}, timeout=30,
                          json={"model": bot, "messages": [{"role": "user", "content": "raw openai"}],
                                "stream": True, "stream_options": {"include_usage": True}}) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            assert r.headers.get("cache-control") == "no-cache"
            body = r.read().decode()
        payloads = _data_frames(body)
        assert payloads[-1] == "[DONE]" and "[DONE]" not in payloads[:-1]
        chunks = [json.loads(p) for p in payloads[:-1]]
        assert all(c["object"] == "chat.completion.chunk" for c in chunks)
        assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
        assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        assert text == _expected("raw openai")


def test_coze_raw_sse_framing(gateway, key, bot):
    with httpx.stream("POST", gateway.base_url + "/v3/chat", headers={"Authorization": f"Bearer {key}"}, timeout=30,
                      json={"bot_id": bot, "user_id": "raw", "stream": True,
                            "additional_messages": [{"role": "user", "content": "raw coze",
                                                     "content_type": "text"}]}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        body = r.read().decode()
    events = []
    for frame in _frames(body):
        lines = frame.split("\n")
        assert len(lines) == 2, repr(frame)
        assert lines[0].startswith("event: ") and lines[1].startswith("data: "), repr(frame)
        events.append((lines[0][len("event: "):], lines[1][len("data: "):]))
    names = [n for n, _ in events]
    assert names[:2] == ["conversation.chat.created", "conversation.chat.in_progress"]
    assert names[-3:] == ["conversation.message.completed", "conversation.chat.completed", "done"]
    assert set(names[2:-3]) == {"conversation.message.delta"}
    text = "".join(json.loads(d)["content"] for n, d in events if n == "conversation.message.delta")
    assert text == _expected("raw coze")
    assert json.loads(events[-3][1])["content"] == text
    completed = json.loads(events[-2][1])
    assert completed["status"] == "completed" and completed["usage"]["token_count"] > 0


def test_aiflowy_raw_sse_framing_with_bearer(gateway, key, bot):
    # the same stream with a Bearer key (the authorizer takes both)
    with httpx.stream("POST", gateway.base_url + EXTERNAL, headers={"Authorization": f"Bearer {key}"}, timeout=30,
                      json={"botId": bot, "messages": [{"role": "user", "content": "bearer too"}],
                            "stream": True}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        payloads = _data_frames(r.read().decode())
    assert json.loads(payloads[0])["status"] == "START" and json.loads(payloads[-1])["status"] == "END"


def test_stream_errors_before_the_first_byte_are_json(gateway, key):
    """A stream request that fails up front answers with a status and a JSON body, not SSE."""
    cases = [
        ("/v1/chat/completions", {"model": "nope", "stream": True, "messages": [{"role": "user", "content": "x"}]}),
        ("/v3/chat", {"bot_id": "999999999", "user_id": "u", "stream": True,
                      "additional_messages": [{"role": "user", "content": "x", "content_type": "text"}]}),
        (EXTERNAL, {"botId": "999999999", "stream": True, "messages": [{"role": "user", "content": "x"}]}),
    ]
    for path, body in cases:
        r = httpx.post(gateway.base_url + path, headers={"Authorization": f"Bearer {key}"}, json=body, timeout=30)
        assert r.status_code == 404, (path, r.text)
        assert r.headers["content-type"].startswith("application/json"), path
        r.json()


# ------------------------------------------------------------------------------------- service


def test_health_and_description(gateway):
    r = httpx.get(gateway.base_url + "/health", timeout=10)
    assert r.status_code == 200 and r.json() == {"status": "healthy"}
    r = httpx.get(gateway.base_url + "/", timeout=10)
    assert r.status_code == 200
    about = r.json()
    assert about["name"] == "agentgate" and re.match(r"^\d+\.\d+", about["version"])
    assert "/v1/chat/completions" in about["endpoints"]
    assert EXTERNAL in about["endpoints"]


# ------------------------------------------------------------------------------------- forged context


def test_a_forged_request_context_on_chat_is_ignored(gateway, http, key, bot):
    other_key = gateway.create_key(OTHER_OWNER, ("admin",))
    with gateway.client(other_key) as other:
        other_bot = _create_bot(other, "other's bot", "echo", aliases=["theirs"])
    forged = json.dumps({"authorizer": {"key_id": "1", "owner_id": OTHER_OWNER, "scopes": "root admin chat read",
                                        "principalId": OTHER_OWNER}, "requestId": "forged"})
    headers = {"x-amzn-request-context": forged, "x-amzn-trace-id": "Root=forged"}

    # As the real key's owner: its own bot answers...
    r = http.post("/v1/chat/completions", headers=headers,
                  json={"model": bot, "messages": [{"role": "user", "content": "who am i"}]})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == _expected("who am i")
    # ...the other owner's bot stays out of reach, on every protocol
    r = http.post("/v1/chat/completions", headers=headers,
                  json={"model": other_bot, "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 404
    r = http.post("/v1/chat/completions", headers=headers,
                  json={"model": "theirs", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 404
    r = http.post("/v3/chat", headers=headers, json={"bot_id": other_bot, "user_id": "u", "additional_messages": [
        {"role": "user", "content": "x", "content_type": "text"}]})
    assert r.status_code == 404 and r.json()["code"] == 404
    r = http.post(EXTERNAL, headers=headers, json={"botId": other_bot, "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 404
    models = {m["id"] for m in http.get("/v1/models", headers=headers).json()["data"]}
    assert bot in models and other_bot not in models and "theirs" not in models

    # A Coze chat made with a forged context is stored under the real owner.
    r = http.post("/v3/chat", headers=headers, json={"bot_id": bot, "user_id": "u", "additional_messages": [
        {"role": "user", "content": "mine", "content_type": "text"}]})
    assert r.status_code == 200, r.text
    cid = r.json()["data"]["conversation_id"]
    assert http.get("/v1/conversation/retrieve", params={"conversation_id": cid}).status_code == 200
    with gateway.client(other_key) as other:
        assert other.get("/v1/conversation/retrieve", params={"conversation_id": cid}).status_code == 404

    # A read-only key with a forged "chat" scope still cannot chat.
    reader = gateway.create_key(OWNER, ("read",))
    r = httpx.post(gateway.base_url + "/v1/chat/completions",
                   headers={"Authorization": f"Bearer {reader}", **headers},
                   json={"model": bot, "messages": [{"role": "user", "content": "x"}]}, timeout=30)
    assert r.status_code == 403
    # And no key at all stays a 401, whatever the context says.
    r = httpx.post(gateway.base_url + "/v1/chat/completions", headers=headers,
                   json={"model": bot, "messages": [{"role": "user", "content": "x"}]}, timeout=30)
    assert r.status_code == 401


# ------------------------------------------------------------------------------------- disconnect


def _stub_stats(stub_upstream: str) -> dict:
    return httpx.get(stub_upstream[: -len("/v1")] + "/_stats", timeout=10).json()


def _read_until_first_delta(gateway, key, body: dict) -> tuple[str, float]:
    """Stream an OpenAI chat, read up to the first content delta, then hang up. Returns the text
    seen and when the connection was closed."""
    seen = ""
    with httpx.Client(timeout=30) as c:
        with c.stream("POST", gateway.base_url + "/v1/chat/completions",
                      headers={"Authorization": f"Bearer {key}"}, json=body) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[len("data: "):])
                delta = chunk["choices"][0]["delta"].get("content") if chunk["choices"] else None
                if delta:
                    seen += delta
                    break
    return seen, time.monotonic()


def test_a_client_leaving_mid_stream_keeps_the_partial_answer(gateway, http, key, stub_bot, stub_upstream):
    question = "__slow__ " + " ".join(f"word{i}" for i in range(200))  # ~10 s of deltas
    full = f"Stub reply to 1 messages: [user] {question}"
    disconnected_before = _stub_stats(stub_upstream)["disconnected"]
    seen, closed_at = _read_until_first_delta(gateway, key, {
        "model": stub_bot, "stream": True, "sessionId": "leaver",
        "messages": [{"role": "user", "content": question}]})
    assert seen and full.startswith(seen)

    # The gateway stops the model: the stub sees its client hang up well before the 10 s reply ends.
    deadline = closed_at + 5
    while _stub_stats(stub_upstream)["disconnected"] <= disconnected_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _stub_stats(stub_upstream)["disconnected"] > disconnected_before, "the upstream was not stopped"

    # The gateway keeps serving meanwhile.
    r = http.post("/v1/chat/completions", json={"model": stub_bot, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"].startswith("Stub reply")

    # The partial answer is stored as the turn ends (just after the upstream is closed): wait for
    # it in the session's conversation, as the Coze API lists it.
    deadline = time.monotonic() + 10
    while True:
        convs = http.get("/v1/conversations", params={"bot_id": stub_bot}).json()["data"]["conversations"]
        stored = []
        for conv in convs:
            listed = http.post("/v1/conversation/message/list", params={"conversation_id": conv["id"]},
                               json={"order": "asc"}).json()["data"]
            if listed and listed[0]["content"] == question:
                stored = listed
        if any(m["role"] == "assistant" for m in stored) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert [m["role"] for m in stored] == ["user", "assistant"], stored
    assert stored[1]["meta_data"] == {"status": "partial", "reason": "disconnected"}

    # Coming back to the session: the stub quotes the history it is sent, which holds the
    # question and the partial answer, marked to the model as interrupted.
    r = http.post("/v1/chat/completions", json={"model": stub_bot, "sessionId": "leaver",
                                                "messages": [{"role": "user", "content": "I am back"}]})
    assert r.status_code == 200, r.text
    text = r.json()["choices"][0]["message"]["content"]
    assert text.startswith("Stub reply to 3 messages: [user] __slow__ word0"), text[:200]
    partial = text.split(" [assistant] ", 1)[1].rsplit(" [user] I am back", 1)[0]
    note = "[this answer was interrupted (disconnected) and is incomplete]"
    assert partial.endswith(note)
    partial = partial[: -len(note)]
    assert partial.strip() == stored[1]["content"].strip()
    assert partial.startswith(seen.strip()) and len(partial) < len(full)


def test_a_client_leaving_a_stalled_echo_keeps_the_partial_answer(gateway, http, key):
    """echo/stall sends one word and then nothing: leave, then republish the same bot on plain
    echo (same bot id, same session) and let echo's memory count show what was kept."""
    bot_id = _create_bot(http, "http stall", "echo/stall", prompt="")
    started = time.monotonic()
    seen, closed_at = _read_until_first_delta(gateway, key, {
        "model": bot_id, "stream": True, "sessionId": "stalled",
        "messages": [{"role": "user", "content": "tell me everything"}]})
    assert seen == "Echo: "
    assert closed_at - started < 10

    assert http.post("/v1/bot/update", json={"bot_id": bot_id, "model": "echo"}).status_code == 200
    assert http.post("/v1/bot/publish", json={"bot_id": bot_id}).status_code == 200
    r = http.post("/v1/chat/completions", json={"model": bot_id, "sessionId": "stalled",
                                                "messages": [{"role": "user", "content": "again"}]})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == \
        'Echo: again | memory: 2 earlier messages, first: "tell me everything"'
    # and the stored partial answer is exactly the word that was sent
    conversations = http.get("/v1/conversations", params={"bot_id": bot_id}).json()["data"]["conversations"]
    assert len(conversations) == 1
    listed = http.post("/v1/conversation/message/list", params={"conversation_id": conversations[0]["id"]},
                       json={"order": "asc"}).json()["data"]
    assert [(m["role"], m["content"]) for m in listed][:2] == [("user", "tell me everything"),
                                                               ("assistant", "Echo: ")]


def test_aiflowy_failure_mid_stream_is_an_error_frame_then_end(gateway, http, key):
    failing = _create_bot(http, "http fail", "echo/fail", prompt="")
    with httpx.stream("POST", gateway.base_url + EXTERNAL, headers={"Authorization": key}, timeout=30,
                      json={"botId": failing, "messages": [{"role": "user", "content": "go"}], "stream": True}) as r:
        assert r.status_code == 200
        frames = [json.loads(p) for p in _data_frames(r.read().decode())]
    assert [f["status"] for f in frames] == ["START", "ERROR", "END"]
    assert frames[0]["choices"]["delta"]["content"] == "Echo: "
    assert frames[1]["errorCode"] == 502 and "simulated" in frames[1]["message"]
    r = http.post(EXTERNAL, headers={"Authorization": key}, json={"botId": failing, "messages": [
        {"role": "user", "content": "go"}]})
    assert r.status_code == 502
