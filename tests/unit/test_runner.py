"""run_turn: the event contract holds whatever the provider does; cancel and silence end a turn."""

from __future__ import annotations

import asyncio
import time

import pytest

from agentgate.runner import BotSpec, ChatMessage, TurnRequest, run_turn
from agentgate.runner import runner as runner_mod
from agentgate.runner.events import Error, Finish, TextDelta, ToolCall, Usage


@pytest.fixture
def anyio_backend():
    return "asyncio"


class Scripted:
    """A provider that plays a script; "sleep" pauses, an exception is raised. Records closing."""

    def __init__(self, *script):
        self.script = script
        self.closed = False
        self.seen: tuple | None = None

    async def stream(self, messages, model, params):
        self.seen = (messages, model, params)
        try:
            for step in self.script:
                if step == "sleep":
                    await asyncio.sleep(3600)
                elif isinstance(step, BaseException):
                    raise step
                else:
                    yield step
        finally:
            self.closed = True


def use(monkeypatch, provider) -> None:
    monkeypatch.setattr(runner_mod, "get_provider", lambda name: (provider, name.partition("/")[2]))


def request(model: str = "fake/m", **params) -> TurnRequest:
    return TurnRequest(BotSpec(bot_id="b", name="B", model=model, temperature=0.5),
                       messages=[ChatMessage("user", "hi")], params=params)


async def run(req, **kw):
    return [e async for e in run_turn(req, **kw)]


@pytest.mark.anyio
async def test_the_default_model_is_echo(monkeypatch):
    monkeypatch.delenv("AGENTGATE_DEFAULT_MODEL", raising=False)
    events = await run(request(model=""))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Echo: hi"


@pytest.mark.anyio
async def test_the_default_model_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("AGENTGATE_DEFAULT_MODEL", "echo/fail")
    assert (await run(request(model="")))[-1] == Finish("error")


@pytest.mark.anyio
async def test_provider_gets_the_model_and_merged_params(monkeypatch):
    provider = Scripted(TextDelta("a"))
    use(monkeypatch, provider)
    await run(request(max_tokens=9))
    messages, model, params = provider.seen
    assert model == "m" and params == {"temperature": 0.5, "max_tokens": 9}
    assert messages == [{"role": "user", "content": "hi"}]


@pytest.mark.anyio
async def test_missing_finish_is_added_and_usage_moves_before_it(monkeypatch):
    use(monkeypatch, Scripted(TextDelta("a"), Usage(1, 2), ToolCall("c", "f", "{}"), Usage(3, 4)))
    assert await run(request()) == [TextDelta("a"), ToolCall("c", "f", "{}"), Usage(3, 4), Finish("stop")]


@pytest.mark.anyio
async def test_nothing_after_the_first_finish(monkeypatch):
    provider = Scripted(TextDelta("a"), Finish("length"), TextDelta("late"), Finish("stop"))
    use(monkeypatch, provider)
    assert await run(request()) == [TextDelta("a"), Finish("length")]
    assert provider.closed


@pytest.mark.anyio
async def test_error_is_followed_by_finish_error_only(monkeypatch):
    use(monkeypatch, Scripted(TextDelta("a"), Error("boom", status=502), Finish("stop")))
    assert await run(request()) == [TextDelta("a"), Error("boom", status=502), Finish("error")]


@pytest.mark.anyio
async def test_a_bare_finish_error_gets_an_error(monkeypatch):
    use(monkeypatch, Scripted(Finish("error")))
    events = await run(request())
    assert isinstance(events[0], Error) and events[1:] == [Finish("error")]


@pytest.mark.anyio
async def test_a_provider_crash_becomes_error_and_finish(monkeypatch):
    use(monkeypatch, Scripted(TextDelta("a"), RuntimeError("secret internals")))
    events = await run(request())
    assert events[0] == TextDelta("a")
    assert isinstance(events[1], Error) and events[1].status == 500 and "secret" not in events[1].message
    assert events[2:] == [Finish("error")]


@pytest.mark.anyio
async def test_unknown_model_is_a_400_error_event():
    events = await run(request(model="nobody/x"))
    assert isinstance(events[0], Error) and events[0].status == 400 and "nobody/x" in events[0].message
    assert events[1:] == [Finish("error")]


@pytest.mark.anyio
async def test_a_silent_upstream_times_out(monkeypatch):
    provider = Scripted(TextDelta("a"), "sleep")
    use(monkeypatch, provider)
    events = await run(request(), idle_timeout=0.05)
    assert events[0] == TextDelta("a")
    assert events[1].code == "upstream_timeout" and events[1].status == 504
    assert events[2:] == [Finish("error")]
    assert provider.closed


@pytest.mark.anyio
async def test_idle_timeout_from_the_environment(monkeypatch):
    monkeypatch.setenv("AGENTGATE_UPSTREAM_IDLE_TIMEOUT_S", "0.05")
    use(monkeypatch, Scripted("sleep"))
    assert (await run(request()))[0].code == "upstream_timeout"


@pytest.mark.anyio
async def test_cancel_during_a_silent_wait_stops_promptly(monkeypatch):
    provider = Scripted(TextDelta("a"), "sleep")
    use(monkeypatch, provider)
    cancel = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, cancel.set)
    started = time.monotonic()
    events = await run(request(), cancel=cancel)
    assert events == [TextDelta("a"), Finish("cancelled")]
    assert time.monotonic() - started < 5  # not the hour the provider would sleep
    assert provider.closed


@pytest.mark.anyio
async def test_cancel_between_events_stops_the_stream(monkeypatch):
    provider = Scripted(*[TextDelta(str(i)) for i in range(100)])
    use(monkeypatch, provider)
    cancel = asyncio.Event()
    events = []
    async for event in run_turn(request(), cancel=cancel):
        events.append(event)
        if len(events) == 3:
            cancel.set()
    assert events == [TextDelta("0"), TextDelta("1"), TextDelta("2"), Finish("cancelled")]
    assert provider.closed


@pytest.mark.anyio
async def test_a_consumer_that_stops_early_closes_the_provider(monkeypatch):
    provider = Scripted(*[TextDelta(str(i)) for i in range(10)])
    use(monkeypatch, provider)
    stream = run_turn(request())
    assert await anext(stream) == TextDelta("0")
    await stream.aclose()
    assert provider.closed


def test_run_turn_works_under_plain_asyncio_run():
    async def main():
        return [e async for e in run_turn(request(model="echo"))]

    assert asyncio.run(main())[-1] == Finish("stop")


@pytest.mark.anyio
async def test_collect_turn_gathers_a_whole_answer():
    from agentgate.runner import collect_turn

    result = await collect_turn(request(model="echo"))
    assert (result.text, result.finish, result.error) == ("Echo: hi", "stop", None)
    assert result.usage.output_tokens == 2
    failed = await collect_turn(request(model="echo/fail"))
    assert failed.finish == "error" and failed.error.status == 502 and failed.text == "Echo: "
