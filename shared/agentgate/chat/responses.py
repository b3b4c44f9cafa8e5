"""OpenAI Responses over the turn service: state by previous_response_id, storage, cancel.

A Responses turn is a chat.service Turn with no memory of its own: the history behind
previous_response_id is read here (store.responses.chain: one Query) and handed to the turn as
context, and this module stores the response itself:

- before the first byte: the previous chain (one Query, only with previous_response_id) and the
  bot (chat.service: one GetItem, usually from the bot cache);
- once the model has produced its first event, in the background: the response as in_progress
  (so retrieve and cancel find it while it streams);
- at the end, BEFORE the closing frame (a client that reads on at once finds it): the outcome,
  also a partial one (cancel, disconnect, upstream failure) as `incomplete` / `failed`;
- while it streams, one eventually consistent GetItem per AGENTGATE_CANCEL_POLL_S (default 3 s)
  to see a cancel that landed on another instance (the same process is told at once, by
  chat.registry, and then reads nothing).

`store: false` writes nothing. A turn that fails before producing anything answers an HTTP
error and keeps nothing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, AsyncIterator

from agentgate.api.errors import ApiError
from agentgate.chat import registry
from agentgate.chat import service as chat_service
from agentgate.chat.service import TurnInput
from agentgate.ids import now_s
from agentgate.protocols import responses as proto
from agentgate.runner.events import Error, Finish
from agentgate.runner.types import ChatMessage

log = logging.getLogger(__name__)

NOT_FOUND = "No response found with id '{}'."
CANCEL_SETTLE_S = 5.0
_detached: set[asyncio.Future] = set()


def _store():
    from agentgate.store import responses

    return responses


def _plain(value) -> dict | None:
    if value is None:
        return None
    as_dict = getattr(value, "as_dict", None)
    return as_dict() if callable(as_dict) else dict(value)


def response_from_item(item) -> dict:
    """A stored response as the Response object."""
    error = _plain(item.error)
    return proto.response_object(
        response_id=item.response_id, created_at=int(item.created_at), model=item.model, status=item.status,
        output=item.output_list(), params=item.params_dict(), instructions=item.instructions,
        metadata=_plain(item.metadata) or {}, previous_response_id=item.previous_response_id,
        usage=proto.usage_from_stored(_plain(item.usage)), error=error or None,
        incomplete_reason=item.incomplete_reason,
        completed_at=int(item.completed_at) if item.completed_at is not None else None)


# ------------------------------------------------------------------------------------- history


def _content_chars(m: ChatMessage) -> int:
    from agentgate.chat.content import text_length

    return text_length(m.content) + sum(len(str(c)) for c in m.tool_calls or ())


def _truncate(history: list[ChatMessage], messages: list[ChatMessage]) -> list[ChatMessage]:
    """truncation "auto": drop the oldest history until the turn fits the input cap, never
    leaving a tool result whose call was dropped at the front."""
    limit = chat_service.max_input_chars()
    total = sum(_content_chars(m) for m in history) + sum(_content_chars(m) for m in messages)
    start = 0
    while start < len(history) and total > limit:
        total -= _content_chars(history[start])
        start += 1
    while start < len(history) and history[start].role == "tool":
        start += 1
    return history[start:]


def _resolve_history(owner_id: str, history: list[ChatMessage]) -> list[ChatMessage]:
    """Files in earlier turns, leniently: one that cannot be used any more becomes a note."""
    from agentgate.chat.attachments import resolve_parts

    out = []
    for m in history:
        if isinstance(m.content, list):
            m = ChatMessage(role=m.role, content=resolve_parts(owner_id, m.content, strict=False), name=m.name,
                            tool_call_id=m.tool_call_id, tool_calls=m.tool_calls)
        out.append(m)
    return out


# ------------------------------------------------------------------------------------- the turn


class ResponseTurn:
    """One POST /v1/responses: `open()` before the first byte, then `frames()` (stream) or
    `run()` (non-stream). Its builder holds the Response at any moment."""

    def __init__(self, *, owner_id: str, turn: chat_service.Turn, builder: proto.ResponseBuilder, item):
        self.owner_id = owner_id
        self.turn = turn
        self.builder = builder
        self.item = item  # the StoredResponse to write, or None (store: false)
        self.response_id = builder.response_id
        self._events: AsyncIterator[Any] | None = None
        self._first: Any = None
        self._put: asyncio.Future | None = None
        self._poller: asyncio.Task | None = None
        self._saved = False

    # ---------------------------------------------------------------- lifecycle

    def _started(self) -> None:
        """The model produced its first event: register for cancel, store in_progress."""
        if self.turn.control is not None:
            registry.register(self.response_id, self.turn.control)
        if self.item is not None:
            self._put = asyncio.ensure_future(asyncio.to_thread(_store().save_response, self.item))
            poll = chat_service.cancel_poll_s()
            if poll > 0:
                self._poller = asyncio.ensure_future(self._poll_cancel(poll))

    async def _poll_cancel(self, interval: float) -> None:
        """As chat.service's: the registry first (no read), then one eventually consistent
        GetItem per AGENTGATE_CANCEL_POLL_S."""
        store = _store()
        while True:
            await asyncio.sleep(interval)
            control = self.turn.control
            if control is not None and (control.cancelled or control.finished):
                return
            try:
                if await asyncio.to_thread(store.cancel_requested, self.item, False):
                    self.turn.cancel("canceled")
                    return
            except Exception:
                log.warning("polling the response's cancel flag failed", exc_info=True)

    def _ended(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None
        registry.unregister(self.response_id, self.turn.control)

    async def _save(self) -> None:
        if self.item is None or self._saved:
            return
        self._saved = True
        b = self.builder
        put_ok = False
        try:
            if self._put is not None:
                await self._put
                put_ok = True
        except Exception:
            log.exception("storing the in-progress response %s failed", self.response_id)
        try:
            await asyncio.to_thread(
                _store().finish_response, self.item, status=b.status, output=b.output,
                usage=proto.stored_usage(b.usage), error=proto.error_dict(b.error) if b.status == "failed" and b.error
                else None, incomplete_reason=b.incomplete_reason, must_exist=put_ok)
        except Exception:
            log.exception("storing the response %s failed", self.response_id)

    async def _stream_events(self) -> AsyncIterator[Any]:
        started = False
        try:
            async for event in self.turn.events():
                if not started:
                    started = True
                    if type(event) is not Error:  # nothing produced: nothing is kept
                        self._started()
                    else:
                        self.item = None
                yield event
        finally:
            self._ended()

    async def open(self) -> None:
        """Wait for the first event (raises the turn's error when it failed before anything)."""
        self._events = self._stream_events()
        self._first = await self._events.__anext__()
        if type(self._first) is Error:
            async for _ in self._events:
                pass
            raise ApiError(int(self._first.status), self._first.message, code=self._first.code)

    async def _all(self) -> AsyncIterator[Any]:
        yield self._first
        async for event in self._events:
            yield event

    # ---------------------------------------------------------------- rendering

    async def frames(self) -> AsyncIterator[bytes]:
        """The SSE body. The outcome is stored before the closing frame."""
        b = self.builder
        head = b.start()
        finished = False
        try:
            async for event in self._all():
                if type(event) is Finish:
                    tail = b.finish(event.reason, now_s())
                    await self._save()
                    finished = True
                    yield head + tail + b.final()
                    head = b""
                    continue
                frame = b.render(event)
                if head:
                    frame, head = head + frame, b""
                if frame:
                    yield frame
        except Exception:
            if finished:
                raise
            log.exception("responses stream failed")
            frame = b.render(Error("internal error; the response was not completed", code="internal_error",
                                   status=500))
            tail = b.finish("error", now_s())
            await self._save()
            finished = True
            yield head + frame + tail + b.final()
        finally:
            if not finished:  # closed from outside: keep what was produced, as incomplete
                self.turn.cancel("disconnected")
                b.finish("cancelled", now_s())
                future = asyncio.ensure_future(self._save())
                _detached.add(future)
                future.add_done_callback(_detached.discard)

    async def run(self) -> dict:
        """Run to the end (the non-stream answer) and answer the Response object."""
        b = self.builder
        async for event in self._all():
            if type(event) is Finish:
                b.finish(event.reason, now_s())
                await self._save()
            else:
                b.render(event)
        return b.response()


async def prepare(owner_id: str, req: proto.ResponsesRequest, *, emit: bool, principal=None) -> ResponseTurn:
    """Validate, read the previous chain and the bot, and return a ResponseTurn. Raises ApiError."""
    items = proto.normalize_input(req.input)
    chain: list = []
    if req.previous_response_id:
        chain = await asyncio.to_thread(_store().chain, owner_id, req.previous_response_id)
        if chain is None:
            raise ApiError(404, f"Previous response with id '{req.previous_response_id}' not found.",
                           param="previous_response_id")
        if chain[-1].status == "in_progress":
            raise ApiError(400, f"Previous response with id '{req.previous_response_id}' is still in progress.",
                           param="previous_response_id")
    history: list[ChatMessage] = []
    for stored in chain:
        history += proto.to_messages(stored.input_list())
        history += proto.to_messages(stored.output_list())
    if any(isinstance(m.content, list) for m in history):
        history = await asyncio.to_thread(_resolve_history, owner_id, history)
    messages = proto.to_messages(items)
    if req.instructions:
        messages.insert(0, ChatMessage(role="system", content=req.instructions))
    if req.truncation == "auto":
        history = _truncate(history, messages)

    kept = proto.strip_inline_data(items) if req.keep else []
    if req.keep:
        size = len(proto.dumps(kept)) + len(req.instructions or "")
        if size > _store().MAX_ITEM_BYTES:
            raise ApiError(400, f"this input is too large to store ({size} bytes of JSON); "
                                "send it with store=false", param="store")

    turn = await chat_service.prepare(TurnInput(
        owner_id=owner_id, bot_ref=req.model, messages=messages, context=history, memory="none",
        user_id=req.user, params=req.runner_params(), principal=principal, stream=emit))

    store = _store()
    params = req.echo_params()
    previous = chain[-1] if chain else None
    if req.keep:
        item = store.new_response(owner_id, bot_id=turn.bot.bot_id, model=req.model, previous=previous,
                                  input_items=kept, instructions=req.instructions, params=params,
                                  metadata=req.metadata, user=req.user)
        response_id, created_at = item.response_id, int(item.created_at)
    else:
        # Never stored: an id of the same shape, which no lookup will find.
        item = None
        thread = previous.thread_id if previous is not None else store.new_seq()
        response_id, created_at = store.public_id(thread, store.new_seq()), turn.created_at
    builder = proto.ResponseBuilder(
        response_id=response_id, created_at=created_at, model=req.model, params=params,
        instructions=req.instructions, metadata=req.metadata, previous_response_id=req.previous_response_id,
        emit=emit)
    return ResponseTurn(owner_id=owner_id, turn=turn, builder=builder, item=item)


# ------------------------------------------------------------------------------------- other routes


async def get(owner_id: str, response_id: str):
    item = await asyncio.to_thread(_store().get_response, owner_id, response_id)
    if item is None:
        raise ApiError(404, NOT_FOUND.format(response_id), param="response_id")
    return item


async def delete(owner_id: str, response_id: str) -> dict:
    item = await get(owner_id, response_id)
    await asyncio.to_thread(_store().delete_response, item)
    return proto.deleted(response_id)


async def cancel(owner_id: str, response_id: str) -> dict:
    """Stop a response that is still generating; its partial output is kept as `incomplete`.
    A response that has finished is answered as it is."""
    store = _store()
    item = await get(owner_id, response_id)
    if item.status != "in_progress":
        return response_from_item(item)
    registry.cancel(owner_id, response_id)  # at once when it streams in this process
    item = await asyncio.to_thread(store.request_cancel, item)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CANCEL_SETTLE_S
    while item.status == "in_progress" and loop.time() < deadline:
        await asyncio.sleep(0.05)
        fresh = await asyncio.to_thread(store.get_response, owner_id, response_id)
        if fresh is None:  # deleted meanwhile
            raise ApiError(404, NOT_FOUND.format(response_id), param="response_id")
        item = fresh
    return response_from_item(item)
