"""The OpenAI-compatible provider against the local stub upstream (real HTTP, real SDK)."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from agentgate.local.stub_upstream import start_stub
from agentgate.runner import BotSpec, ChatMessage, TurnRequest, run_turn
from agentgate.runner.events import Error, Finish, TextDelta, ToolCall, Usage

KEY = "sk-test-secret-0123456789"


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="module")
def stub():
    base_url, stop = start_stub()
    yield base_url
    stop()


@pytest.fixture(autouse=True)
def configured(stub, monkeypatch):
    monkeypatch.setenv("AGENTGATE_PROVIDERS", json.dumps({"stub": {"type": "openai", "base_url": stub, "api_key": KEY}}))
    monkeypatch.setenv("AGENTGATE_UPSTREAM_MAX_RETRIES", "0")
    httpx.delete(stub.removesuffix("/v1") + "/_requests")


def received(stub) -> list[dict]:
    return httpx.get(stub.removesuffix("/v1") + "/_requests").json()


def stats(stub) -> dict:
    return httpx.get(stub.removesuffix("/v1") + "/_stats").json()


def request(text: str, history=(), model: str = "stub/stub-model", **params) -> TurnRequest:
    bot = BotSpec(bot_id="b", name="B", model=model, system_prompt="You help {{user}}.", memory_window=10, variables={"user": "Ada"})
    return TurnRequest(bot, history=list(history), messages=[ChatMessage("user", text)], params=params)


async def run(req, **kw):
    return [e async for e in run_turn(req, **kw)]


def text(events) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


@pytest.mark.anyio
async def test_streams_every_delta_in_order_with_usage(stub):
    events = await run(request("hello world"))
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert text(events) == "Stub reply to 2 messages: [system] You help Ada. [user] hello world"
    assert len(deltas) == len(text(events).split())  # one delta per upstream chunk, none merged
    assert events[-2] == Usage(input_tokens=5, output_tokens=len(deltas))
    assert events[-1] == Finish("stop")


@pytest.mark.anyio
async def test_what_reached_the_upstream(stub):
    history = [ChatMessage("user", "my name is Ada"), ChatMessage("assistant", "hi Ada")]
    await run(request("what is my name?", history=history, temperature=0.3, max_tokens=50, stop=["END"]))
    body = received(stub)[-1]
    assert body["model"] == "stub-model" and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["temperature"] == 0.3 and body["max_tokens"] == 50 and body["stop"] == ["END"]
    assert [m["content"] for m in body["messages"]] == ["You help Ada.", "my name is Ada", "hi Ada", "what is my name?"]


@pytest.mark.anyio
async def test_max_tokens_maps_to_finish_length(stub):
    events = await run(request("one two three four", max_tokens=2))
    assert len([e for e in events if isinstance(e, TextDelta)]) == 2
    assert events[-1] == Finish("length")


@pytest.mark.anyio
async def test_streamed_tool_call_is_assembled(stub):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    events = await run(request("__tool__ weather in Paris?", tools=tools))
    assert ToolCall(id="call_stub_0", name="get_weather", arguments='{"city": "Paris"}') in events
    assert events[-1] == Finish("tool_calls")
    assert received(stub)[-1]["tools"] == tools


@pytest.mark.anyio
async def test_upstream_500_is_a_502_error_without_the_key(stub):
    events = await run(request("__fail__"))
    error = events[0]
    assert isinstance(error, Error) and error.status == 502 and error.code == "upstream_error"
    assert KEY not in error.message and "stub upstream failure" in error.message
    assert events[1:] == [Finish("error")]


@pytest.mark.anyio
@pytest.mark.parametrize("upstream, status, words", [
    (401, 502, "authentication failed"), (404, 404, "rejected"), (400, 400, "rejected"), (429, 429, "rate limit")])
async def test_upstream_statuses_map_to_sensible_ones(stub, upstream, status, words):
    error = (await run(request(f"__status_{upstream}__")))[0]
    assert isinstance(error, Error) and error.status == status and words in error.message
    assert KEY not in error.message


@pytest.mark.anyio
async def test_a_stalled_upstream_hits_the_idle_timeout_and_is_hung_up_on(stub):
    # Each test's event loop gets its own SDK client: make it before the idle window (building it
    # took longer than 0.2 s on a loaded machine, before any byte was asked for).
    await run(request("warm up"))
    events = await run(request("__stall__"), idle_timeout=1.0)  # room for the first delta on a busy machine
    assert isinstance(events[0], TextDelta)
    assert events[1].code == "upstream_timeout" and events[1].status == 504
    assert events[-1] == Finish("error")
    await _eventually(lambda: stats(stub)["disconnected"] == 1)


@pytest.mark.anyio
async def test_a_stalled_upstream_hits_the_read_timeout(stub, monkeypatch):
    monkeypatch.setenv("AGENTGATE_UPSTREAM_TIMEOUT_S", "0.2")
    events = await run(request("__stall__"))
    assert events[1].code == "upstream_timeout" and events[1].status == 504


@pytest.mark.anyio
async def test_cancel_stops_the_stream_and_the_upstream(stub):
    cancel = asyncio.Event()
    events = []
    started = time.monotonic()
    async for event in run_turn(request("__slow__ " + "word " * 200), cancel=cancel):
        events.append(event)
        if len(events) == 2:
            cancel.set()
    assert events[-1] == Finish("cancelled") and len(events) == 3
    assert time.monotonic() - started < 5  # 200 slow deltas would take 10 s
    await _eventually(lambda: stats(stub)["disconnected"] == 1)
    assert stats(stub)["completed"] == 0


@pytest.mark.anyio
async def test_unreachable_upstream_is_a_502(monkeypatch):
    monkeypatch.setenv("AGENTGATE_PROVIDERS", json.dumps({"gone": {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": KEY}}))
    error = (await run(request("hi", model="gone/m")))[0]
    assert isinstance(error, Error) and error.status == 502 and "gone" in error.message


@pytest.mark.anyio
async def test_a_missing_key_names_the_variable_to_set(monkeypatch):
    monkeypatch.setenv("AGENTGATE_PROVIDERS", json.dumps({"qwen": {"type": "openai", "base_url": "http://x/v1", "api_key_env": "DASHSCOPE_API_KEY"}}))
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    error = (await run(request("hi", model="qwen/qwen-plus")))[0]
    assert isinstance(error, Error) and "DASHSCOPE_API_KEY" in error.message


def test_the_sdk_client_is_reused_per_endpoint(stub):
    from agentgate.runner.providers import get_provider

    async def main():
        provider, _ = get_provider("stub/m")
        return provider.client()[0] is provider.client()[0]

    assert asyncio.run(main())


async def _eventually(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)
