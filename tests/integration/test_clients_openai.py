"""The `openai` Python SDK against the running local gateway, as a user would call it.

Bots are created and published over plain HTTP (Coze's bot API), then called through
`OpenAI(base_url=<gateway>/v1)` and seed 000's `<gateway>/api/v1`. Echo's deterministic reply
shows what reached the model; the stub upstream ("stub/stub") stands in for a real provider.
"""

from __future__ import annotations


import httpx
import openai
import pytest
from openai import OpenAI

pytestmark = pytest.mark.integration

OWNER = "clients-openai"
PROMPT = "You are a test bot."


def _create_bot(gateway, key: str, name: str, model: str, aliases=(), prompt: str = PROMPT) -> str:
    with gateway.client(key) as c:
        r = c.post("/v1/bot/create", json={"name": name, "prompt_info": {"prompt": prompt},
                                           "aliases": list(aliases), "model": model})
        assert r.status_code == 200, r.text
        bot_id = r.json()["data"]["bot_id"]
        r = c.post("/v1/bot/publish", json={"bot_id": bot_id})
        assert r.status_code == 200, r.text
    return bot_id


@pytest.fixture(scope="module")
def key(gateway) -> str:
    return gateway.create_key(OWNER, ("admin",))


@pytest.fixture(scope="module")
def bot(gateway, key) -> str:
    """The echo bot, alias "main"."""
    return _create_bot(gateway, key, "openai echo", "echo", aliases=["main"])


@pytest.fixture(scope="module")
def stub_bot(gateway, key) -> str:
    return _create_bot(gateway, key, "openai stub", "stub/stub", aliases=["stubby"])


@pytest.fixture(scope="module")
def client(gateway, key, bot) -> OpenAI:
    c = OpenAI(api_key=key, base_url=gateway.base_url + "/v1", max_retries=0, timeout=30)
    yield c
    c.close()


@pytest.fixture(scope="module")
def seed000(gateway, key, bot) -> OpenAI:
    """Seed 000's base URL ends in /api/v1."""
    c = OpenAI(api_key=key, base_url=gateway.base_url + "/api/v1", max_retries=0, timeout=30)
    yield c
    c.close()


def _user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def _expected(text: str) -> str:
    return f'Echo: {text} | system: "{PROMPT}"'


# ------------------------------------------------------------------------------------- models


@pytest.mark.parametrize("which", ["client", "seed000"])
def test_models_list_shows_the_bot_by_id_and_alias(request, which, bot):
    c = request.getfixturevalue(which)
    models = {m.id: m for m in c.models.list()}
    assert bot in models and "main" in models
    assert models[bot].object == "model" and models[bot].owned_by == OWNER
    assert models["main"].model_extra.get("bot_id") == bot


def test_models_list_omits_an_unpublished_bot(gateway, key, client):
    with gateway.client(key) as c:
        draft = c.post("/v1/bot/create", json={"name": "draft only", "model": "echo"}).json()["data"]["bot_id"]
    assert draft not in {m.id for m in client.models.list()}


# ------------------------------------------------------------------------------------- non-stream


@pytest.mark.parametrize("which", ["client", "seed000"])
@pytest.mark.parametrize("by", ["alias", "id"])
def test_create_non_streaming(request, which, by, bot):
    c = request.getfixturevalue(which)
    model = "main" if by == "alias" else bot
    done = c.chat.completions.create(model=model, messages=_user("hello there world"))
    assert done.id.startswith("chatcmpl-")
    assert done.object == "chat.completion"
    assert done.model == model
    assert isinstance(done.created, int) and done.created > 0
    assert len(done.choices) == 1
    choice = done.choices[0]
    assert choice.index == 0 and choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == _expected("hello there world")
    # echo counts words: the system prompt and the question in, the reply's words out
    assert done.usage.completion_tokens == len(choice.message.content.split())
    assert done.usage.prompt_tokens == len(PROMPT.split()) + 3
    assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens


def test_raw_response_carries_json_and_status(client):
    raw = client.chat.completions.with_raw_response.create(model="main", messages=_user("raw"))
    assert raw.http_response.status_code == 200
    assert raw.headers["content-type"].startswith("application/json")
    assert raw.parse().choices[0].message.content == _expected("raw")


def test_max_tokens_cuts_the_answer_with_finish_length(client):
    done = client.chat.completions.create(model="main", messages=_user("one two three four five"), max_tokens=2)
    assert done.choices[0].finish_reason == "length"
    assert done.choices[0].message.content == "Echo: one "
    assert done.usage.completion_tokens == 2


def test_content_parts_and_history_reach_the_model(client):
    done = client.chat.completions.create(model="main", messages=[
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "text", "text": "part"}]},
    ])
    content = done.choices[0].message.content
    assert content.startswith("Echo: second")
    assert 'memory: 2 earlier messages, first: "first question"' in content


# ------------------------------------------------------------------------------------- stream


@pytest.mark.parametrize("which", ["client", "seed000"])
def test_streaming_chunks(request, which):
    c = request.getfixturevalue(which)
    chunks = list(c.chat.completions.create(model="main", messages=_user("stream me please"), stream=True))
    assert chunks, "no chunks"
    ids = {ch.id for ch in chunks}
    assert len(ids) == 1 and ids.pop().startswith("chatcmpl-")
    assert all(ch.object == "chat.completion.chunk" and ch.model == "main" for ch in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    texts = [ch.choices[0].delta.content for ch in chunks if ch.choices and ch.choices[0].delta.content]
    assert len(texts) > 3, "the answer must arrive as several deltas"
    assert "".join(texts) == _expected("stream me please")
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices]
    assert finishes[-1] == "stop" and all(f is None for f in finishes[:-1])
    assert chunks[-1].choices and chunks[-1].choices[0].finish_reason == "stop"
    assert all(ch.usage is None for ch in chunks)  # usage only when asked


def test_streaming_with_include_usage(client):
    chunks = list(client.chat.completions.create(model="main", messages=_user("count my words"), stream=True,
                                                 stream_options={"include_usage": True}))
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == _expected("count my words")
    assert last.usage.completion_tokens == len(text.split())
    assert last.usage.prompt_tokens == len(PROMPT.split()) + 3
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "stop"


def test_streaming_context_manager_and_close(client):
    with client.chat.completions.create(model="main", messages=_user("a b c d e f g"), stream=True) as stream:
        first = next(iter(stream))
        assert first.choices[0].delta.role == "assistant"
    # closed early: the gateway keeps serving
    assert client.chat.completions.create(model="main", messages=_user("after")).choices[0].message.content \
        == _expected("after")


# ------------------------------------------------------------------------------------- memory


def test_seed000_session_memory_and_clear(gateway, key, bot, seed000):
    session = {"sessionId": "s1"}
    first = seed000.chat.completions.create(model="main", messages=_user("my name is Ada"), extra_body=session)
    assert first.choices[0].message.content == _expected("my name is Ada")
    second = seed000.chat.completions.create(model="main", messages=_user("what is my name?"), extra_body=session)
    content = second.choices[0].message.content
    assert content.startswith("Echo: what is my name?")
    assert 'memory: 2 earlier messages, first: "my name is Ada"' in content

    # another session, and no session at all, see nothing of it
    other = seed000.chat.completions.create(model="main", messages=_user("hi"), extra_body={"sessionId": "s2"})
    assert "memory" not in other.choices[0].message.content
    assert "memory" not in seed000.chat.completions.create(model="main", messages=_user("hi")).choices[0] \
        .message.content

    # streaming turns share the session too
    streamed = "".join(ch.choices[0].delta.content or "" for ch in seed000.chat.completions.create(
        model="main", messages=_user("and now?"), extra_body=session, stream=True) if ch.choices)
    assert 'memory: 4 earlier messages, first: "my name is Ada"' in streamed

    with httpx.Client(base_url=gateway.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as h:
        r = h.post("/api/v1/sessions/clear", json={"agentId": "main", "sessionKey": "s1"})
        assert r.status_code == 200, r.text
        assert r.json()["success"] is True and r.json()["deleted"] >= 6
    after = seed000.chat.completions.create(model="main", messages=_user("what is my name?"), extra_body=session)
    assert after.choices[0].message.content == _expected("what is my name?")  # forgotten

    with httpx.Client(base_url=gateway.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as h:
        # by bot id too; an unknown bot is 404; a missing key is 400, in OpenAI's error shape
        assert h.post("/api/v1/sessions/clear", json={"agentId": bot, "sessionKey": "s1"}).json()["success"] is True
        r = h.post("/api/v1/sessions/clear", json={"agentId": "no-such-bot", "sessionKey": "s1"})
        assert r.status_code == 404 and "error" in r.json()
        r = h.post("/api/v1/sessions/clear", json={"agentId": "main"})
        assert r.status_code == 400 and r.json()["error"]["param"] == "sessionKey"


def test_seed003_thread_id_memory(client):
    for thread in ("t-1", 42):  # a string or a number
        body = {"thread_id": thread}
        client.chat.completions.create(model="main", messages=_user(f"remember {thread}"), extra_body=body)
        again = client.chat.completions.create(model="main", messages=_user("what?"), extra_body=body)
        assert f'memory: 2 earlier messages, first: "remember {thread}"' in again.choices[0].message.content
    fresh = client.chat.completions.create(model="main", messages=_user("what?"), extra_body={"thread_id": "t-2"})
    assert "memory" not in fresh.choices[0].message.content


def test_sessions_are_per_bot(gateway, key, client):
    other = _create_bot(gateway, key, "other echo", "echo")
    client.chat.completions.create(model="main", messages=_user("for main only"), extra_body={"sessionId": "shared"})
    reply = client.chat.completions.create(model=other, messages=_user("anything?"), extra_body={"sessionId": "shared"})
    assert "memory" not in reply.choices[0].message.content


# ------------------------------------------------------------------------------------- errors


def _error_body(exc: openai.APIStatusError) -> dict:
    body = exc.response.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert {"message", "type", "param", "code"} <= set(err), err
    assert isinstance(err["message"], str) and err["message"]
    return err


def test_unknown_model_is_not_found(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="no-such-bot", messages=_user("hi"))
    assert info.value.status_code == 404
    assert "not found" in _error_body(info.value)["message"]
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-bot", messages=_user("hi"), stream=True)


def test_a_key_without_chat_scope_is_permission_denied(gateway, bot):
    reader = gateway.create_key(OWNER, ("read",))
    c = OpenAI(api_key=reader, base_url=gateway.base_url + "/v1", max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as info:
        c.chat.completions.create(model="main", messages=_user("hi"))
    assert info.value.status_code == 403
    with pytest.raises(openai.PermissionDeniedError):
        c.chat.completions.create(model="main", messages=_user("hi"), stream=True)
    # reading is allowed: the models list
    assert "main" in {m.id for m in c.models.list()}


@pytest.mark.parametrize("base", ["/v1", "/api/v1"])
def test_a_bad_key_is_an_authentication_error(gateway, base):
    c = OpenAI(api_key="pat_not_a_real_key", base_url=gateway.base_url + base, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        c.chat.completions.create(model="main", messages=_user("hi"))
    assert info.value.status_code == 401
    with pytest.raises(openai.AuthenticationError):
        c.models.list()


def test_empty_messages_is_a_bad_request(client):
    with pytest.raises((openai.BadRequestError, openai.UnprocessableEntityError)) as info:
        client.chat.completions.create(model="main", messages=[])
    assert info.value.status_code in (400, 422)
    _error_body(info.value)


def test_invalid_parameters_are_bad_requests(client):
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="main", messages=_user("hi"), temperature=5)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="main", messages=[{"role": "wizard", "content": "hi"}])


# ------------------------------------------------------------------------------------- upstream


def _stub_root(stub_upstream: str) -> str:
    assert stub_upstream.endswith("/v1")
    return stub_upstream[: -len("/v1")]


def test_stub_upstream_streams_through(client, stub_bot, stub_upstream):
    root = _stub_root(stub_upstream)
    chunks = list(client.chat.completions.create(model="stubby", messages=_user("hello stub"), stream=True,
                                                 stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    deltas = [ch.choices[0].delta.content for ch in chunks if ch.choices and ch.choices[0].delta.content]
    assert len(deltas) > 3
    text = "".join(deltas)
    assert text.startswith("Stub reply to 2 messages:")
    assert "[system] You are a test bot." in text and "[user] hello stub" in text
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == len(deltas)
    # the stub received the bot's prompt and the question, for its model name
    seen = httpx.get(f"{root}/_requests", timeout=10).json()
    mine = [b for b in seen if any("hello stub" in str(m.get("content")) for m in b.get("messages", []))]
    assert mine, seen
    assert mine[-1]["model"] == "stub" and mine[-1]["stream"] is True
    assert mine[-1]["messages"][0] == {"role": "system", "content": PROMPT}


def test_stub_upstream_non_streaming(client, stub_bot):
    done = client.chat.completions.create(model=stub_bot, messages=_user("plain stub"))
    assert done.choices[0].message.content.startswith("Stub reply to 2 messages:")
    assert "[user] plain stub" in done.choices[0].message.content
    assert done.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_failure_is_a_502_in_openai_shape(client, stub_bot, stream):
    got = []
    with pytest.raises(openai.APIStatusError) as info:
        result = client.chat.completions.create(model="stubby", messages=_user("__fail__"), stream=stream)
        if stream:
            for chunk in result:  # nothing may arrive before the error
                got.append(chunk)
    assert info.value.status_code == 502
    assert got == []
    assert info.value.response.headers["content-type"].startswith("application/json")
    err = _error_body(info.value)
    assert err["type"] == "server_error"


def test_upstream_failure_in_a_session_leaves_no_answer(client, stub_bot):
    session = {"sessionId": "fail-session"}
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="stubby", messages=_user("__fail__"), extra_body=session)
    assert info.value.status_code == 502
    # The next turn of the session: the stub quotes every message it got; no assistant answer
    # was stored for the failed turn.
    done = client.chat.completions.create(model="stubby", messages=_user("next"), extra_body=session)
    text = done.choices[0].message.content
    assert "[assistant]" not in text, text
    assert "[user] next" in text


def test_a_failure_mid_stream_raises_after_the_partial_deltas(gateway, key, client):
    failing = _create_bot(gateway, key, "openai fail", "echo/fail", prompt="")
    got = []
    with pytest.raises(openai.APIError) as info:
        for chunk in client.chat.completions.create(model=failing, messages=_user("fail after one"), stream=True):
            got.append(chunk)
    assert "simulated upstream failure" in info.value.message
    assert got and got[0].choices[0].delta.role == "assistant"
    assert "".join(ch.choices[0].delta.content or "" for ch in got if ch.choices) == "Echo: "
    assert all(ch.choices[0].finish_reason is None for ch in got if ch.choices)  # never a clean finish

    # non-stream: the whole call fails with the upstream's status
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model=failing, messages=_user("fail"))
    assert info.value.status_code == 502
    assert _error_body(info.value)["code"] == "upstream_error"


def test_tool_calls_through_the_sdk(client):
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "weather",
                                               "parameters": {"type": "object", "properties": {}}}}]
    done = client.chat.completions.create(model="main", messages=_user("what is get_weather in Paris"), tools=tools)
    choice = done.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls[0].function.name == "get_weather"
    call_id = choice.message.tool_calls[0].id

    chunks = list(client.chat.completions.create(model="main", messages=_user("x"), tools=tools,
                                                 tool_choice="required", stream=True))
    calls = [tc for ch in chunks if ch.choices for tc in (ch.choices[0].delta.tool_calls or [])]
    assert calls and calls[0].function.name == "get_weather" and calls[0].index == 0
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "tool_calls"

    # the tool's result goes back in, and echo answers with it
    after = client.chat.completions.create(model="main", tools=tools, messages=[
        {"role": "user", "content": "what is get_weather in Paris"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": call_id, "content": "sunny"}])
    assert after.choices[0].message.content.startswith("Echo: tool result: sunny")
    assert after.choices[0].finish_reason == "stop"


def test_unicode_survives_both_ways(client):
    text = "héllo 你好 😀 \"quoted\" back\\slash"
    done = client.chat.completions.create(model="main", messages=_user(text))
    assert done.choices[0].message.content == _expected(text)
    streamed = "".join(ch.choices[0].delta.content or "" for ch in client.chat.completions.create(
        model="main", messages=_user(text), stream=True) if ch.choices)
    assert streamed == _expected(text)


def test_too_large_input_and_n(client):
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="main", messages=_user("x" * 250_000))
    assert info.value.status_code == 413
    _error_body(info.value)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="main", messages=_user("hi"), n=2)


def test_concurrent_streams_do_not_mix(client):
    from concurrent.futures import ThreadPoolExecutor

    def run(i: int) -> str:
        return "".join(ch.choices[0].delta.content or "" for ch in client.chat.completions.create(
            model="main", messages=_user(f"request number {i}"), stream=True) if ch.choices)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(run, range(16)))
    assert results == [_expected(f"request number {i}") for i in range(16)]




def test_a_failed_stream_keeps_its_partial_answer_in_the_session(gateway, key, client):
    """A session turn that fails mid-stream keeps its question and partial answer (stored
    before the error frame is sent)."""
    with httpx.Client(base_url=gateway.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as h:
        bot_id = _create_bot(gateway, key, "openai soon failing", "echo", prompt="")
        session = {"sessionId": "failed-stream"}
        client.chat.completions.create(model=bot_id, messages=_user("fine"), extra_body=session)
        convs = h.get("/v1/conversations", params={"bot_id": bot_id}).json()["data"]["conversations"]
        assert len(convs) == 1
        cid = convs[0]["id"]
        # the same bot (so the same session), now failing after its first word
        assert h.post("/v1/bot/update", json={"bot_id": bot_id, "model": "echo/fail"}).status_code == 200
        assert h.post("/v1/bot/publish", json={"bot_id": bot_id}).status_code == 200

        with pytest.raises(openai.APIError):
            for _ in client.chat.completions.create(model=bot_id, messages=_user("fails"), stream=True,
                                                    extra_body=session):
                pass
        want = [("user", "fine"), ("assistant", "Echo: fine"), ("user", "fails"), ("assistant", "Echo: ")]
        listed = h.post("/v1/conversation/message/list", params={"conversation_id": cid},
                        json={"order": "asc"}).json()["data"]
        assert [(m["role"], m["content"]) for m in listed] == want

        # back on echo: the next turn of the session remembers both turns
        assert h.post("/v1/bot/update", json={"bot_id": bot_id, "model": "echo"}).status_code == 200
        assert h.post("/v1/bot/publish", json={"bot_id": bot_id}).status_code == 200
        again = client.chat.completions.create(model=bot_id, messages=_user("third"), extra_body=session)
        assert again.choices[0].message.content == 'Echo: third | memory: 4 earlier messages, first: "fine"'


def test_models_retrieve_by_id_and_alias(gateway):
    key = gateway.create_key("openai-models-retrieve", ("admin",))
    bot_id = _create_bot(gateway, key, "retrievable", "echo", aliases=["helper"])
    client = openai.OpenAI(api_key=key, base_url=gateway.base_url + "/v1")
    assert client.models.retrieve(bot_id).id == bot_id
    by_alias = client.models.retrieve("helper")
    assert by_alias.id == "helper" and by_alias.owned_by == "openai-models-retrieve"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-bot")
