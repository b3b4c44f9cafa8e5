"""The offline echo provider: deterministic, streamed word by word, shows memory, obeys limits."""

from __future__ import annotations

import json

import pytest

from agentgate.runner import BotSpec, ChatMessage, TurnRequest, run_turn
from agentgate.runner.events import Error, Finish, TextDelta, ToolCall, Usage


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def collect(model: str = "echo", text: str = "hello there", history=(), params=None, system: str = "", **bot_kw):
    b = BotSpec(bot_id="b", name="B", model=model, system_prompt=system, memory_window=bot_kw.pop("memory_window", 20), **bot_kw)
    req = TurnRequest(b, history=list(history), messages=[ChatMessage("user", text)], params=params or {})
    return [e async for e in run_turn(req)]


def reply(events) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


@pytest.mark.anyio
async def test_echo_streams_the_user_text_in_several_deltas():
    events = await collect(text="the quick brown fox")
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert reply(events) == "Echo: the quick brown fox"
    assert len(deltas) == 5
    assert isinstance(events[-2], Usage) and events[-1] == Finish("stop")
    assert events[-2].output_tokens == 5 and events[-2].input_tokens == 4


@pytest.mark.anyio
async def test_echo_is_deterministic():
    assert await collect(text="same input") == await collect(text="same input")


@pytest.mark.anyio
async def test_echo_shows_memory_so_a_name_is_remembered():
    history = [ChatMessage("user", "my name is Ada"), ChatMessage("assistant", "Echo: my name is Ada")]
    text = reply(await collect(text="what is my name?", history=history))
    assert text.startswith("Echo: what is my name?")
    assert "Ada" in text and "2 earlier messages" in text


@pytest.mark.anyio
async def test_echo_without_memory_forgets():
    history = [ChatMessage("user", "my name is Ada"), ChatMessage("assistant", "ok")]
    assert "Ada" not in reply(await collect(text="what is my name?", history=history, memory_window=0))


@pytest.mark.anyio
async def test_echo_shows_the_filled_system_prompt():
    text = reply(await collect(system="Talk like {{who}}", variables={"who": "a pirate"}))
    assert 'system: "Talk like a pirate"' in text


@pytest.mark.anyio
async def test_max_tokens_cuts_the_reply_with_finish_length():
    events = await collect(text="one two three four five six", params={"max_tokens": 3})
    assert len([e for e in events if isinstance(e, TextDelta)]) == 3
    assert events[-1] == Finish("length")
    assert events[-2].output_tokens == 3


@pytest.mark.anyio
async def test_echo_fail_sends_a_delta_then_an_error():
    events = await collect(model="echo/fail")
    assert isinstance(events[0], TextDelta)
    assert isinstance(events[1], Error) and events[1].status == 502
    assert events[-1] == Finish("error")


@pytest.mark.anyio
async def test_echo_slow_still_answers(monkeypatch):
    monkeypatch.setenv("AGENTGATE_ECHO_DELAY_MS", "1")
    assert reply(await collect(model="echo/slow", text="hi")) == "Echo: hi"


@pytest.mark.anyio
async def test_echo_calls_a_tool_named_in_the_message():
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    events = await collect(text="use get_weather for Paris", params={"tools": tools})
    call = events[0]
    assert isinstance(call, ToolCall) and call.name == "get_weather"
    assert json.loads(call.arguments) == {"input": "use get_weather for Paris"}
    assert events[-1] == Finish("tool_calls")


@pytest.mark.anyio
async def test_echo_answers_a_tool_result():
    b = BotSpec(bot_id="b", name="B", model="echo")
    req = TurnRequest(b, messages=[ChatMessage("user", "weather?"), ChatMessage("tool", "sunny", tool_call_id="c1")])
    assert reply([e async for e in run_turn(req)]).startswith("Echo: tool result: sunny")
