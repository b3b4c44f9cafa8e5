"""One agent turn: prompt -> provider -> neutral events, with the event contract enforced.

Whatever a provider does, the caller sees: any TextDelta / ToolCall, at most one Usage, then
exactly one Finish; a failure is Error then Finish("error"). Cancellation and an idle upstream
are handled here once, for every provider.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any, AsyncIterator

from agentgate.config import settings
from agentgate.runner.events import Error, Event, Finish, TextDelta, ToolCall, Usage
from agentgate.runner.prompt import build_messages
from agentgate.runner.providers import UnknownModel, get_provider
from agentgate.runner.types import PARAM_KEYS, BotSpec, TurnRequest

log = logging.getLogger(__name__)

DEFAULT_IDLE_TIMEOUT_S = 120.0


def idle_timeout_s() -> float:
    raw = os.environ.get("AGENTGATE_UPSTREAM_IDLE_TIMEOUT_S", "")
    try:
        value = float(raw) if raw else DEFAULT_IDLE_TIMEOUT_S
    except ValueError:
        value = DEFAULT_IDLE_TIMEOUT_S
    return value if value > 0 else DEFAULT_IDLE_TIMEOUT_S


def merge_params(bot: BotSpec, overrides: dict[str, Any]) -> dict[str, Any]:
    """The bot's settings, then the request's (a request value wins; None means "not given")."""
    params: dict[str, Any] = {}
    if bot.temperature is not None:
        params["temperature"] = bot.temperature
    if bot.max_tokens is not None:
        params["max_tokens"] = bot.max_tokens
    if overrides.get("max_tokens") is None and overrides.get("max_completion_tokens") is not None:
        params["max_tokens"] = overrides["max_completion_tokens"]
    for key in PARAM_KEYS:
        if overrides.get(key) is not None:
            params[key] = overrides[key]
    return params


def resolve_model(req: TurnRequest) -> str:
    return (req.bot.model or "").strip() or settings().default_model


async def run_turn(
    req: TurnRequest,
    cancel: asyncio.Event | None = None,
    *,
    idle_timeout: float | None = None,
) -> AsyncIterator[Event]:
    """Stream one turn of `req.bot` as neutral events.

    `cancel`: set it (e.g. when the client disconnects) and the turn ends promptly with
    Finish("cancelled"), closing the upstream stream so the model stops generating.
    `idle_timeout`: the longest wait for the next upstream event (default
    AGENTGATE_UPSTREAM_IDLE_TIMEOUT_S, 120 s); past it: Error(upstream_timeout, 504).
    """
    if req.server_tools:
        from agentgate.runner.tool_loop import run_with_tools

        loop = run_with_tools(req, cancel, lambda r, c: run_turn(r, c, idle_timeout=idle_timeout))
        async with contextlib.aclosing(loop):
            async for event in loop:
                yield event
        return
    try:
        provider, model = get_provider(resolve_model(req))
        messages = build_messages(req)
        params = merge_params(req.bot, req.params)
    except UnknownModel as exc:
        yield Error(str(exc), code="model_not_found", status=400)
        yield Finish("error")
        return
    except Exception as exc:  # a malformed request must still end in Finish
        log.exception("preparing the model turn failed")
        yield Error(f"internal error while preparing the turn ({type(exc).__name__})", code="internal_error", status=500)
        yield Finish("error")
        return
    # aclosing: when our consumer stops early, the provider's stream closes now, not at GC.
    from agentgate import observability  # here: importing the runner stays free of the SDKs

    upstream = observability.traced_stream(provider.stream(messages, model, params), "model", model=str(model))
    guarded = _enforce_contract(upstream, cancel, idle_timeout or idle_timeout_s())
    async with contextlib.aclosing(guarded):
        async for event in guarded:
            yield event


def _interrupt(current: list[asyncio.Timeout]) -> None:
    """Cancel was set: expire the pending wait's timeout, which interrupts it at once (cheaper than
    racing a second task against every event)."""
    for cm in current:
        try:
            cm.reschedule(-1.0)
        except RuntimeError:  # it is already expiring: the idle timeout won the race
            pass


async def _enforce_contract(
    events: AsyncIterator[Event], cancel: asyncio.Event | None, idle_s: float
) -> AsyncIterator[Event]:
    usage: Usage | None = None
    current: list[asyncio.Timeout] = []  # the wait in progress, so a cancel can cut it short
    watcher: asyncio.Future[Any] | None = None
    if cancel is not None:
        watcher = asyncio.ensure_future(cancel.wait())
        watcher.add_done_callback(lambda _: _interrupt(current))
    try:
        while True:
            if cancel is not None and cancel.is_set():
                break
            try:
                async with asyncio.timeout(idle_s) as cm:
                    current.append(cm)
                    try:
                        event = await anext(events)
                    finally:
                        current.clear()
            except StopAsyncIteration:
                if usage is not None:
                    yield usage
                yield Finish("stop")
                return
            except TimeoutError:
                if not cm.expired():
                    raise  # the provider's own, not our clock: handled below as unexpected
                if cancel is not None and cancel.is_set():
                    break
                yield Error(
                    f"the upstream model sent nothing for {idle_s:g} s", code="upstream_timeout", status=504
                )
                yield Finish("error")
                return

            if isinstance(event, (TextDelta, ToolCall)):
                yield event
            elif isinstance(event, Usage):
                usage = event  # held back: it must come right before Finish
            elif isinstance(event, Error):
                yield event
                yield Finish("error")
                return
            elif isinstance(event, Finish):
                if event.reason == "error":
                    yield Error("the upstream model failed", code="upstream_error", status=502)
                elif usage is not None:
                    yield usage
                yield event
                return
        # Cancelled.
        if usage is not None:
            yield usage
        yield Finish("cancelled")
    except Exception as exc:  # never let a provider bug cut the stream without an end
        log.exception("model turn failed")
        yield Error(f"internal error while running the model ({type(exc).__name__})", code="internal_error", status=500)
        yield Finish("error")
    finally:
        if watcher is not None:
            watcher.cancel()
        # Close the provider's generator: it releases the upstream connection, which stops the
        # model generating (also when our own consumer stops early).
        try:
            await events.aclose()  # type: ignore[attr-defined]
        except Exception:
            log.debug("closing the provider stream failed", exc_info=True)
