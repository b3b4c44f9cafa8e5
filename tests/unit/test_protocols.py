"""Protocol renderers and parsers on their own: neutral event sequences -> exact wire frames."""

from __future__ import annotations

import json

import pytest

from agentgate.api.errors import ApiError
from agentgate.chat.attachments import resolve_parts
from agentgate.protocols import aiflowy, coze, openai
from agentgate.protocols.sse import KEEPALIVE, data_frame, event_frame
from agentgate.runner.events import Error, Finish, TextDelta, ToolCall, Usage


def _frames(raw: bytes) -> list[str]:
    return [f.strip("\n") for f in raw.decode().split("\n\n") if f.strip("\n")]


def _data(frame: str) -> object:
    line = [ln for ln in frame.split("\n") if ln.startswith("data: ")][0][len("data: "):]
    return line if line == "[DONE]" else json.loads(line)


# ------------------------------------------------------------------------------------- sse


def test_sse_frames():
    assert data_frame({"a": "é"}) == 'data: {"a":"é"}\n\n'.encode()
    assert data_frame("[DONE]") == b"data: [DONE]\n\n"
    assert event_frame("done", "[DONE]") == b"event: done\ndata: [DONE]\n\n"
    assert event_frame("x", {"k": 1}) == b'event: x\ndata: {"k":1}\n\n'


# ------------------------------------------------------------------------------------- OpenAI


def _openai(include_usage=False):
    return openai.StreamRenderer(completion_id="chatcmpl-1", model="main", created=123, include_usage=include_usage)


def test_openai_stream_exact_frames():
    r = _openai(include_usage=True)
    out = r.start()
    for ev in (TextDelta("Hel"), TextDelta('lo "x"\n'), Usage(3, 2), Finish("stop")):
        out += r.render(ev)
    base = '"id":"chatcmpl-1","object":"chat.completion.chunk","created":123,"model":"main"'
    assert out.decode() == (
        'data: {' + base + ',"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,'
        '"finish_reason":null}]}\n\n'
        'data: {' + base + ',"choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":null,"finish_reason":null}]}\n\n'
        'data: {' + base + ',"choices":[{"index":0,"delta":{"content":"lo \\"x\\"\\n"},"logprobs":null,'
        '"finish_reason":null}]}\n\n'
        'data: {' + base + ',"choices":[{"index":0,"delta":{"content":""},"logprobs":null,"finish_reason":"stop"}]}\n\n'
        'data: {' + base + ',"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n'
        'data: [DONE]\n\n'
    )


def test_openai_stream_each_delta_is_one_frame_and_parses():
    r = _openai()
    for text in ("a", "ü", "", "line\nbreak"):
        frame = r.render(TextDelta(text))
        assert frame.endswith(b"\n\n") and frame.count(b"\n\n") == 1
        assert _data(frame.decode())["choices"][0]["delta"] == {"content": text}


def test_openai_stream_without_usage_option_has_no_usage_chunk():
    r = _openai()
    frames = _frames(r.render(Usage(1, 1)) + r.render(Finish("length")))
    assert len(frames) == 2
    assert _data(frames[0])["choices"][0]["finish_reason"] == "length"
    assert frames[1] == "data: [DONE]"


def test_openai_stream_error_after_first_byte():
    r = _openai(include_usage=True)
    frames = _frames(r.render(TextDelta("par")) + r.render(Error("upstream broke", "upstream_error", 502))
                     + r.render(Finish("error")))
    assert _data(frames[1]) == {"error": {"message": "upstream broke", "type": "server_error", "param": None,
                                          "code": "upstream_error"}}
    assert frames[2] == "data: [DONE]" and len(frames) == 3


def test_openai_stream_tool_calls_and_keepalive():
    r = _openai()
    frame = _data(r.render(ToolCall("call_1", "lookup", '{"q":1}')).decode())
    assert frame["choices"][0]["delta"]["tool_calls"] == [
        {"index": 0, "id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q":1}'}}]
    assert _data(r.render(Finish("tool_calls")).decode().split("\n\n")[0])["choices"][0]["finish_reason"] == "tool_calls"
    assert r.render(KEEPALIVE) == b": keep-alive\n\n"


def test_openai_completion_object():
    body = openai.completion(completion_id="chatcmpl-2", model="main", created=5, text="hi", tool_calls=[],
                             finish_reason="stop", usage=Usage(4, 1))
    assert body == {"id": "chatcmpl-2", "object": "chat.completion", "created": 5, "model": "main",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "logprobs": None,
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5}}
    tools = openai.completion(completion_id="c", model="m", created=1, text="", finish_reason="tool_calls",
                              tool_calls=[ToolCall("call_1", "f", "{}")], usage=None)
    msg = tools["choices"][0]["message"]
    assert msg["content"] is None and msg["tool_calls"][0]["function"]["name"] == "f"


def test_openai_parse_request():
    req = openai.parse_request(json.dumps({
        "model": "main", "messages": [{"role": "system", "content": "s"},
                                      {"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "temperature": 0.5, "max_completion_tokens": 7, "stop": ["x"], "sessionId": "s-1",
        "stream": True, "stream_options": {"include_usage": True}, "unknown_field": 1}).encode())
    assert req.session_key == "s-1" and req.include_usage and req.stream
    assert req.params() == {"temperature": 0.5, "max_tokens": 7, "stop": ["x"]}
    assert openai.parse_request(b'{"model":"m","messages":[{"role":"user","content":"x"}],"thread_id":3}'
                                ).session_key == "3"


@pytest.mark.parametrize("body, fragment", [
    (b'', "JSON object"),
    (b'[1]', "JSON object"),
    (b'{"model": "m"', "malformed JSON"),
    (b'{"model": "m", "messages": []}', "messages"),
    (b'{"model": "m", "messages": "hi"}', "messages"),
    (b'{"model": "m", "messages": [{"role": "bot", "content": "x"}]}', "role"),
    (b'{"model": "m", "messages": [{"role": "user"}]}', "needs content"),
    (b'{"model": "m", "messages": [{"role": "user", "content": 5}]}', "content"),
    (b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}', "stream"),
    (b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 9}', "temperature"),
    (b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2}', "n=1"),
])
def test_openai_parse_rejects(body, fragment):
    with pytest.raises(ApiError) as err:
        openai.parse_request(body)
    assert err.value.status == 400 and fragment in err.value.message


def test_openai_models_list():
    class Bot:
        bot_id, owner_id, name, aliases, published_at, updated_at = "1" * 19, "alice", "B", ["main"], 1700, 1
    listing = openai.models_list([Bot()])
    assert listing["object"] == "list"
    assert [(m["id"], m["object"], m["created"], m["owned_by"]) for m in listing["data"]] == [
        ("1" * 19, "model", 1700, "alice"), ("main", "model", 1700, "alice")]


# ------------------------------------------------------------------------------------- Coze


def _coze(**kw):
    return coze.StreamRenderer(chat_id="c1", conversation_id="v1", bot_id="b1", answer_id="m1", created_at=100,
                               section_id="v1", **kw)


def test_coze_stream_event_order_and_objects():
    r = _coze()
    out = r.start() + r.render(TextDelta("He")) + r.render(KEEPALIVE) + r.render(TextDelta("llo"))
    out += r.render(Usage(3, 2)) + r.render(Finish("stop"))
    text = out.decode()
    assert "\n\n\n" in text  # the bare line keep-alive between two events
    frames = _frames(out)
    names = [f.split("\n")[0] for f in frames]
    assert names == ["event: conversation.chat.created", "event: conversation.chat.in_progress",
                     "event: conversation.message.delta", "event: conversation.message.delta",
                     "event: conversation.message.completed", "event: conversation.chat.completed", "event: done"]
    created = _data(frames[0])
    assert created["id"] == "c1" and created["conversation_id"] == "v1" and created["status"] == "created"
    assert _data(frames[1])["status"] == "in_progress"
    delta = _data(frames[2])
    assert delta == {"id": "m1", "conversation_id": "v1", "bot_id": "b1", "chat_id": "c1", "section_id": "v1",
                     "role": "assistant", "type": "answer", "content": "He", "content_type": "text", "meta_data": {}}
    completed = _data(frames[4])
    assert completed["content"] == "Hello" and completed["type"] == "answer" and completed["id"] == "m1"
    chat = _data(frames[5])
    assert chat["status"] == "completed" and chat["usage"] == {"token_count": 5, "output_count": 2, "input_count": 3}
    assert frames[6] == "event: done\ndata: [DONE]"


def test_coze_stream_parses_with_cozepy_handler():
    from cozepy.chat import ChatEventType, _chat_stream_handler

    r = _coze()
    frames = _frames(r.start() + r.render(TextDelta("x")) + r.render(Finish("stop")))
    events = []
    for f in frames:
        lines = dict(line.split(": ", 1) for line in f.split("\n"))
        ev = _chat_stream_handler({"event": lines["event"], "data": lines["data"]}, None)
        if ev is not None:
            events.append(ev)
    assert [e.event for e in events] == [
        ChatEventType.CONVERSATION_CHAT_CREATED, ChatEventType.CONVERSATION_CHAT_IN_PROGRESS,
        ChatEventType.CONVERSATION_MESSAGE_DELTA, ChatEventType.CONVERSATION_MESSAGE_COMPLETED,
        ChatEventType.CONVERSATION_CHAT_COMPLETED]
    assert events[2].message.content == "x" and events[-1].chat.usage is not None


def test_coze_stream_error_after_first_byte():
    r = _coze()
    frames = _frames(r.render(TextDelta("pa")) + r.render(Error("boom", "upstream_error", 502))
                     + r.render(Usage(1, 1)) + r.render(Finish("error")))
    assert frames[1] == 'event: error\ndata: {"code":502,"msg":"boom"}'
    assert frames[2].startswith("event: conversation.message.completed")  # the partial answer
    failed = _data(frames[3])
    assert frames[3].startswith("event: conversation.chat.failed")
    assert failed["status"] == "failed" and failed["last_error"] == {"code": 502, "msg": "boom"}
    assert frames[4] == "event: done\ndata: [DONE]"


def test_coze_stream_canceled_and_disconnected():
    r = _coze()
    frames = _frames(r.render(TextDelta("pa")) + r.render(Finish("cancelled")))
    assert _data(frames[2])["status"] == "canceled"
    r = _coze(is_disconnected=lambda: True)
    frames = _frames(r.render(Finish("cancelled")))  # nothing produced: no message.completed
    assert frames[0].startswith("event: conversation.chat.failed") and _data(frames[0])["status"] == "failed"


def test_coze_parse_request_superset():
    req = coze.parse_chat_request(json.dumps({
        "bot_id": 123456, "user_id": 7, "stream": True, "conversation_id": 42, "query": "hi",
        "chat_history": [{"role": "user", "content": "before"}], "parameters": {"a": 1},
        "additional_messages": [
            {"role": "user", "content": "q", "content_type": "text"},
            {"role": "user", "content": json.dumps([{"type": "text", "text": "t"},
                                                     {"type": "image", "file_url": "https://x/i.png"}]),
             "content_type": "object_string"}],
        "meta_data": {"k": "v"}, "custom_variables": {"name": "Bob"}}).encode())
    assert req.bot_id == "123456" and req.user_id == "7" and req.conversation_id == "42"
    assert req.additional_messages[0].message_type == "question"


@pytest.mark.parametrize("body, fragment", [
    ({"user_id": "u", "query": "x"}, "bot id is required"),  # seed 002's message
    ({"bot_id": " ", "query": "x"}, "bot id is required"),
    ({"bot_id": "1", "user_id": "u"}, "at least one message"),
    ({"bot_id": "1", "additional_messages": [{"role": "user", "content": "x"}] * 101}, "additional_messages"),
    ({"bot_id": "1", "query": "x", "meta_data": {f"k{i}": "v" for i in range(17)}}, "16"),
    ({"bot_id": "1", "query": "x", "meta_data": {"k": 1}}, "meta_data"),
    ({"bot_id": "1", "additional_messages": [{"role": "system", "content": "x"}]}, "role"),
    ({"bot_id": "1", "additional_messages": [{"role": "user", "content": "x", "content_type": "card"}]},
     "content_type"),
    ({"bot_id": "1", "additional_messages": [{"role": "user", "content": "not json",
                                              "content_type": "object_string"}]}, "object_string"),
    ({"bot_id": "1", "additional_messages": [{"role": "user", "content": '[{"type": "file"}]',
                                              "content_type": "object_string"}]}, "file_id or file_url"),
    ({"bot_id": "1", "query": "x", "auto_save_history": "no"}, "auto_save_history"),
])
def test_coze_parse_rejects(body, fragment):
    with pytest.raises(ApiError) as err:
        coze.parse_chat_request(json.dumps(body).encode())
    assert err.value.status == 422 and fragment in err.value.message


def test_coze_chat_object_reads_with_cozepy():
    from cozepy.chat import Chat

    obj = coze.chat_object(chat_id="c", conversation_id="v", bot_id="b", status="failed", created_at=1,
                           failed_at=2, last_error={"code": 502, "msg": "x"}, usage=coze.usage_dict(Usage(1, 2)))
    chat = Chat.model_validate(obj)
    assert chat.status == "failed" and chat.last_error.code == 502 and chat.usage.token_count == 3


# ------------------------------------------------------------------------------------- AIFlowy


def test_aiflowy_stream_frames():
    r = aiflowy.StreamRenderer()
    frames = _frames(r.start() + r.render(TextDelta("a")) + r.render(TextDelta("b")) + r.render(Usage(2, 2))
                     + r.render(Finish("stop")))
    got = [_data(f) for f in frames]
    assert [g["status"] for g in got] == ["START", "MIDDLE", "END"]
    assert got[0]["choices"] == {"index": 0, "delta": {"content": "a", "role": "assistant"}}
    assert got[1]["choices"]["delta"]["content"] == "b"
    assert got[2]["choices"]["delta"] == {"content": "", "role": "assistant"}
    assert got[2]["usage"] == {"completionTokens": 2, "promptTokens": 2, "totalTokens": 4}
    assert all(isinstance(g["created"], int) and g["created"] > 10**12 for g in got)


def test_aiflowy_error_then_end():
    r = aiflowy.StreamRenderer()
    frames = _frames(r.render(TextDelta("a")) + r.render(Error("boom", status=502)) + r.render(Finish("error")))
    assert _data(frames[1])["status"] == "ERROR" and _data(frames[1])["errorCode"] == 502
    assert _data(frames[2])["status"] == "END"


def test_aiflowy_blocking_shape():
    body = aiflowy.blocking("hi", Usage(22, 3), 1745205152874)
    assert body == {"status": "END", "usage": {"completionTokens": 3, "promptTokens": 22, "totalTokens": 25},
                    "created": 1745205152874, "choices": {"index": 0, "message": {"content": "hi", "role": "assistant"}}}


def test_aiflowy_parse():
    req = aiflowy.parse_request(b'{"botId": 267848016181075968, "messages": [{"role": "user", "content": "x"}]}')
    assert req.botId == "267848016181075968" and not req.stream
    with pytest.raises(ApiError) as err:
        aiflowy.parse_request(b'{"botId": "1", "messages": []}')
    assert err.value.status == 400


# ------------------------------------------------------------------------------------- attachments


def test_resolve_parts_passes_text_and_images_and_looks_files_up():
    assert resolve_parts("o", [{"type": "text", "text": "a"},
                               {"type": "image_url", "image_url": {"url": "https://x/i.png", "detail": "low"}},
                               {"type": "image", "file_url": "https://x/j.png"}]) == [
        {"type": "text", "text": "a"},
        {"type": "image_url", "image_url": {"url": "https://x/i.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://x/j.png"}}]
    for part in ({"type": "file", "file_id": "1"}, {"type": "image", "file_id": "1"},
                 {"type": "file", "file": {"file_id": "f"}}):
        with pytest.raises(ApiError) as err:
            resolve_parts("o", [part])
        # not an id of the owner's (test_chat_files.py covers real uploads)
        assert err.value.status == 404 and "file not found" in err.value.message
