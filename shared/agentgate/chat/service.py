"""One chat turn, protocol-neutral: who asks (owner), which bot, what memory, the runner, and what
is stored. Routes parse their protocol into a TurnInput, `prepare()` it (every failure here is
raised before the first byte, as an ApiError), then render `Turn.events()`.

Store round trips:
- before the model is called: the bot (one GetItem; in parallel with the conversation's GetItem
  when a Coze conversation is continued) and, with memory, the history (one Query);
- while the model runs, in the background: the conversation (new ones), the chat (Coze) and the
  question(s), so the first token does not wait for them;
- at the end: the answer (also a partial one: cancel, disconnect, upstream failure) and the
  chat's final status, written BEFORE the final frames so a client that reads on at once
  (message/list, the next turn of a session) finds them;
- while a Coze chat streams for longer than AGENTGATE_CANCEL_POLL_S (default 3 s): one eventually
  consistent GetItem of the chat per interval (0.5 read units for a chat item under 4 KB), to see
  a cancel that landed on another Lambda instance; a cancel that reaches this process arrives
  through chat.registry at once and ends the poll without a read. 10,000 streams cost ~3,333
  GetItems (~1,667 read units) a second, against 10,000 consistent ones (10,000 units) at 1 s.
- the key's access policy (agentgate.policy): its binding and conversation policies cost nothing
  (they ride in the authorizer's context; a session under a dm/group policy reads its
  conversation once); a rate-limited key adds one UpdateItem round trip just before the model
  is called, and at the end its tokens, its stream slot and the metering are written in
  parallel with the answer.

Turn.events() yields runner events (TextDelta, ToolCall), protocols.sse.KeepAlive after
AGENTGATE_SSE_KEEPALIVE_S (default 15 s) of silence, then, once the outcome is stored, the
Error if the turn failed, and always one Usage and one Finish (reason "cancelled" on cancel or
disconnect, whatever the runner was doing).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

from agentgate import ids, observability
from agentgate.api.errors import ApiError
from agentgate.chat import content as contents
from agentgate.chat import registry
from agentgate.chat.registry import _CANCEL, TurnControl
from agentgate.ids import new_id, now_ms, now_s
from agentgate.policy import bindings, conversation_rules, ratelimit
from agentgate.protocols.sse import KEEPALIVE
from agentgate.runner.events import Error, Finish, ServerToolCall, ServerToolResult, TextDelta, ToolCall, Usage
from agentgate.runner.types import BotSpec, ChatMessage, TurnRequest

log = logging.getLogger(__name__)

BOT_NOT_FOUND = "bot not found or not published"
CONVERSATION_NOT_FOUND = "conversation not found"
DEFAULT_MAX_INPUT_CHARS = 200_000
DEFAULT_KEEPALIVE_S = 15.0
DEFAULT_CANCEL_POLL_S = 3.0  # README "Store cost per turn"

_END = object()
_TICK = object()
# Finalizations started from a generator that was closed abruptly (kept referenced until done).
_detached: set[asyncio.Future] = set()


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        return float(raw) if raw else default
    except ValueError:
        return default


def max_input_chars() -> int:
    return int(_env_float("AGENTGATE_MAX_INPUT_CHARS", DEFAULT_MAX_INPUT_CHARS))


def keepalive_s() -> float:
    return _env_float("AGENTGATE_SSE_KEEPALIVE_S", DEFAULT_KEEPALIVE_S)


def cancel_poll_s() -> float:
    return _env_float("AGENTGATE_CANCEL_POLL_S", DEFAULT_CANCEL_POLL_S)


# Indirections the tests replace (a provider stub, a counting store).
def prime() -> None:
    """The chat function's init work (agentgate.lifecycle; workflows and the worker run it too):
    what its first turn would otherwise load on the request path: the runner and its providers,
    the stores (pynamodb, botocore and the DynamoDB client), metering, the openai SDK, and the
    pieces of anyio and the standard library a streamed answer first touches (bench/cold_path.py
    lists what a first turn still imports)."""
    import concurrent.futures.thread  # noqa: F401 - asyncio.to_thread's pool
    import encodings.idna  # noqa: F401 - the first HTTP connection's host name

    import anyio._backends._asyncio  # noqa: F401 - Starlette's streaming response
    import anyio.streams.memory  # noqa: F401

    from agentgate.policy import metering  # noqa: F401
    from agentgate.runner import runner  # noqa: F401
    from agentgate.runner.providers import echo, openai_compat  # noqa: F401
    from agentgate.store import base, bot_cache, bots, conversations, usage  # noqa: F401

    base.prime()
    openai_compat.prime()


def _run_turn(req: TurnRequest, cancel: asyncio.Event):
    from agentgate.runner.runner import run_turn

    return run_turn(req, cancel)


def _resolve_bot(owner_id: str, ref: str):
    from agentgate.store import bot_cache
    from agentgate.store.bots import resolve_online_bot

    return bot_cache.online_bot(owner_id, ref, resolve_online_bot)


def _store():
    from agentgate.store import conversations

    return conversations


# ------------------------------------------------------------------------------------- input


@dataclass
class StoredMessage:
    """A message of this turn to keep in the conversation (the question(s))."""

    role: str
    content: str
    content_type: str = "text"
    type: str = "question"
    meta_data: dict | None = None


@dataclass
class TurnInput:
    owner_id: str
    bot_ref: str | None  # None with a conversation_id: the conversation's bot
    # this turn's messages for the model; list contents go through chat.attachments
    messages: list[ChatMessage]
    # what to store as the turn's question(s) (only where memory / a conversation is kept)
    to_store: list[StoredMessage] = field(default_factory=list)
    # messages the caller supplies as earlier context (seed 002 chat_history): sent, never stored
    context: list[ChatMessage] = field(default_factory=list)
    memory: str = "none"  # none | session | conversation
    session_key: str | None = None
    conversation_id: str | None = None  # memory="conversation": continue it; None: a new one
    save: bool = True  # Coze auto_save_history
    with_chat: bool = False  # keep a Coze chat record (retrieve, message/list, cancel)
    user_id: str | None = None
    meta_data: dict | None = None
    variables: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    # who asks (auth.principal): their binding, limits and conversation policies apply (None: none)
    principal: Any = None
    stream: bool = False  # a streamed answer holds one of the key's concurrent-stream slots


def stored_from_messages(messages: list[ChatMessage]) -> list[StoredMessage]:
    """The user/assistant messages of an OpenAI-style turn, as a memory session keeps them."""
    out = []
    for m in messages:
        if m.role not in ("user", "assistant") or m.tool_calls:
            continue
        text, ctype = contents.to_stored(m.content)
        out.append(StoredMessage(role=m.role, content=text, content_type=ctype,
                                 type="question" if m.role == "user" else "answer"))
    return out


def bot_spec(bot) -> BotSpec:
    return BotSpec(bot_id=bot.bot_id, name=bot.name, model=bot.model, system_prompt=bot.prompt or "",
                   temperature=bot.temperature, max_tokens=bot.max_tokens,
                   memory_window=int(bot.memory_window or 0), variables=dict(bot.variables or {}))


def _check_size(inp: TurnInput) -> None:
    total = sum(contents.text_length(m.content) for m in inp.messages)
    total += sum(contents.text_length(m.content) for m in inp.context)
    limit = max_input_chars()
    if total > limit:
        raise ApiError(413, f"the input holds {total} characters; at most {limit} are accepted")


def _resolve_contents(owner_id: str, messages: list[ChatMessage]) -> list[ChatMessage]:
    out = []
    for m in messages:
        if isinstance(m.content, list):
            m = ChatMessage(role=m.role, content=contents.to_runner(owner_id, m.content), name=m.name,
                            tool_call_id=m.tool_call_id, tool_calls=m.tool_calls)
        out.append(m)
    return out


async def prepare(inp: TurnInput) -> "Turn":
    """Validate, read what the turn needs, and return a Turn ready to run. Raises ApiError."""
    token = bindings.acting.set(inp.principal)  # file lookups see only what the key may (policy.bindings)
    try:
        return await _prepare(inp)
    finally:
        bindings.acting.reset(token)


async def _prepare(inp: TurnInput) -> "Turn":
    _check_size(inp)
    # Content parts go through chat.attachments (400 for what cannot be used) before any read. In a
    # thread when there are parts: resolving files may read S3.
    if any(isinstance(m.content, list) for m in inp.messages + inp.context):
        messages, context = await asyncio.to_thread(
            lambda: (_resolve_contents(inp.owner_id, inp.messages), _resolve_contents(inp.owner_id, inp.context)))
    else:
        messages, context = inp.messages, inp.context
    store = _store()
    inp.bot_ref = bindings.bot_ref_for(inp.principal, inp.bot_ref)

    want_conversation = inp.memory == "conversation" and inp.conversation_id
    if want_conversation and not inp.bot_ref:
        # The conversation names the bot (seed 001's dialog_id): two reads, one after the other.
        conv = await asyncio.to_thread(store.get_conversation, inp.owner_id, inp.conversation_id)
        if conv is None:
            raise ApiError(404, CONVERSATION_NOT_FOUND)
        if not conv.bot_id:
            raise ApiError(400, "the conversation has no bot yet: name the bot in this chat")
        bot = await asyncio.to_thread(_resolve_bot, inp.owner_id, conv.bot_id)
    elif want_conversation:
        bot, conv = await asyncio.gather(
            asyncio.to_thread(_resolve_bot, inp.owner_id, inp.bot_ref),
            asyncio.to_thread(store.get_conversation, inp.owner_id, inp.conversation_id))
    else:
        bot, conv = await asyncio.to_thread(_resolve_bot, inp.owner_id, inp.bot_ref), None
    if bot is None or not bindings.bot_allowed(inp.principal, bot):
        raise ApiError(404, BOT_NOT_FOUND)  # a bot outside the key's binding does not exist for it
    observability.annotate(bot_id=bot.bot_id)
    if want_conversation and conv is None:
        raise ApiError(404, CONVERSATION_NOT_FOUND)
    if conv is not None and conv.bot_id and not bindings.bot_id_allowed(inp.principal, conv.bot_id):
        raise ApiError(404, CONVERSATION_NOT_FOUND)

    spec = bot_spec(bot)
    knowledge = await _knowledge(inp.owner_id, bot, messages)  # a bot with knowledge_ids retrieves first
    if knowledge is not None:
        messages = knowledge.apply(messages)
    window = spec.memory_window
    conversation_id = section_id = None
    create_conv: dict | None = None
    bind_bot = False
    rows: list = []
    persist = inp.save
    if inp.memory == "session" and inp.session_key:
        conversation_id = store.session_conversation_id(inp.owner_id, bot.bot_id, inp.session_key)
        section_id = "0"
        if persist:
            # One Query; an empty session also tells us its conversation item may not exist yet.
            rows = await asyncio.to_thread(store.history, conversation_id, section_id, max(window, 1))
            if not rows:
                create_conv = {"owner_id": inp.owner_id, "bot_id": bot.bot_id, "user_id": inp.user_id,
                               "conversation_id": conversation_id, "session_key": inp.session_key}
    elif inp.memory == "conversation":
        if conv is not None:
            conversation_id, section_id = conv.conversation_id, conv.section_id
            bind_bot = not conv.bot_id  # created without a bot: it takes this chat's
            if persist and window > 0:
                rows = await asyncio.to_thread(store.history, conversation_id, section_id, window)
        else:
            conversation_id = new_id()
            section_id = conversation_id  # a new conversation's first section starts at its id
            if persist:
                create_conv = {"owner_id": inp.owner_id, "bot_id": bot.bot_id, "user_id": inp.user_id,
                               "conversation_id": conversation_id}
    else:
        persist = False
    await _check_conversation_policy(inp, conv, conversation_id, store)

    if any(r.content_type == "object_string" for r in rows):
        history = await asyncio.to_thread(contents.history_messages, inp.owner_id, rows)
    else:
        history = contents.history_messages(inp.owner_id, rows)
    request = TurnRequest(bot=spec, history=history, messages=context + messages,
                          variables=dict(inp.variables), params=dict(inp.params))
    tool_ids = list(getattr(bot, "tool_ids", None) or []) + list(getattr(bot, "mcp_ids", None) or [])
    if tool_ids:
        from agentgate.chat.server_tools import specs_for
        from agentgate.tools import ToolContext

        request.server_tools = await asyncio.to_thread(specs_for, inp.owner_id, tool_ids)
        request.tool_context = ToolContext(owner_id=inp.owner_id)
    chat_id = new_id() if inp.with_chat else None
    # Last before the model: the key's rate limits (429 with Retry-After; one round trip).
    admission = await ratelimit.admit(inp.principal, stream=inp.stream, bot_id=bot.bot_id, user=inp.user_id)
    questions = []
    if persist and conversation_id:
        for m in inp.to_store:
            questions.append({"message_id": new_id(), "role": m.role, "content": m.content,
                              "content_type": m.content_type, "type": m.type, "meta_data": m.meta_data,
                              "chat_input": True})
        if knowledge is not None and inp.with_chat:  # Coze lists the recall as a verbose message
            from agentgate.protocols.coze import recall_content

            questions.append({"message_id": new_id(), "role": "assistant", "content": recall_content(knowledge.hits),
                              "content_type": "text", "type": "verbose", "meta_data": None})
    return Turn(owner_id=inp.owner_id, bot=bot, request=request, conversation_id=conversation_id,
                section_id=section_id, chat_id=chat_id, answer_id=new_id(), persist=persist and bool(conversation_id),
                create_conversation=create_conv, questions=questions, user_id=inp.user_id,
                meta_data=dict(inp.meta_data or {}), recall=knowledge.event if knowledge is not None else None,
                bind_bot=bind_bot and persist, principal=inp.principal, admission=admission)


async def _check_conversation_policy(inp: TurnInput, conv, conversation_id: str | None, store) -> None:
    """The key's dm/group policies (agentgate.policy.conversation_rules) for this turn."""
    if not conversation_rules.needs_starter(inp.principal):
        return
    started_by = None
    if conv is not None:
        started_by = conv.user_id
    elif inp.memory == "session" and conversation_id:
        existing = await asyncio.to_thread(store.get_conversation, inp.owner_id, conversation_id)
        started_by = existing.user_id if existing is not None else None
    conversation_rules.check(inp.principal, started_by=started_by, user=inp.user_id)


async def _knowledge(owner_id: str, bot, messages: list[ChatMessage]):
    """agentgate.knowledge's passages for this turn (None without knowledge_ids or hits)."""
    if not getattr(bot, "knowledge_ids", None):
        return None
    from agentgate.knowledge import context

    return await asyncio.to_thread(context.for_turn, owner_id, list(bot.knowledge_ids), messages)


# ------------------------------------------------------------------------------------- turn


def _estimate_tokens(text: str) -> int:
    return (len(text) + 3) // 4 if text else 0


class Turn:
    """A prepared turn. `events()` runs it (once); its attributes are the outcome afterwards."""

    def __init__(self, *, owner_id: str, bot, request: TurnRequest, conversation_id: str | None,
                 section_id: str | None, chat_id: str | None, answer_id: str, persist: bool,
                 create_conversation: dict | None, questions: list[dict], user_id: str | None,
                 meta_data: dict, recall=None, bind_bot: bool = False, principal=None, admission=None):
        self.owner_id = owner_id
        self.principal = principal
        self.admission = admission  # policy.ratelimit.Admission: settled when the turn is over
        self.bot = bot
        self.request = request
        self.conversation_id = conversation_id
        self.section_id = section_id
        self.chat_id = chat_id
        self.answer_id = answer_id
        self.persist = persist
        self.create_conversation = create_conversation
        self.questions = questions
        self.user_id = user_id
        self.meta_data = meta_data
        self.recall = recall  # runner.events.Recall: the knowledge this turn retrieved, sent first
        self.bind_bot = bind_bot
        self.created_at = now_s()
        self.created_ms = now_ms()
        # outcome
        self.parts: list[str] = []
        self.tool_calls: list[ToolCall] = []
        self.tool_steps: list = []  # ServerToolCall / ServerToolResult, with their message ids
        self.usage: Usage | None = None
        self.error: Error | None = None
        self.finish_reason: str = "stop"
        self.status: str | None = None  # completed | failed | canceled (the chat's)
        self.chat = None  # the stored Chat, once created
        self.control: TurnControl | None = None
        self._tasks: list[asyncio.Task] = []
        self._save_task: asyncio.Future | None = None
        self._seen = 0
        self._finalized = False
        # True once the conversation, chat and question(s) are stored (a turn handed to background
        # work stores them before it answers, so the client can poll the chat at once)
        self.questions_saved = False

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def disconnected(self) -> bool:
        return self.control is not None and self.control.reason == "disconnected"

    def cancel(self, reason: str = "canceled") -> None:
        if self.control is not None:
            self.control.cancel(reason)

    # ---------------------------------------------------------------- background work

    def _save_questions(self) -> None:
        """Thread: the conversation (if new), the chat, the question(s)."""
        store = _store()
        if self.create_conversation:
            try:
                store.create_conversation(**self.create_conversation)
            except Exception as exc:  # a session's conversation may exist already
                if not (ids.is_collision(exc) and self.create_conversation.get("session_key")):
                    raise
        if self.bind_bot:
            store.bind_bot(self.owner_id, self.conversation_id, self.bot.bot_id)
        if self.chat_id:
            self.chat = store.create_chat(self.owner_id, self.conversation_id, self.bot.bot_id,
                                          user_id=self.user_id, section_id=self.section_id,
                                          meta_data=self.meta_data, status="in_progress", chat_id=self.chat_id)
        for q in self.questions:
            store.add_message(self.owner_id, self.conversation_id, bot_id=self.bot.bot_id, chat_id=self.chat_id,
                              section_id=self.section_id, **q)

    def _unless_deleted(self, store) -> None:
        """After a write: if the conversation was deleted meanwhile, take this turn's items back
        out (the delete's sweep may have run before them) and stop the turn."""
        if store.conversation_exists(self.conversation_id):
            return
        store.delete_turn(self.conversation_id, [q["message_id"] for q in self.questions] + [self.answer_id],
                          self.chat_id)
        self.cancel("deleted")

    def partial_reason(self) -> str | None:
        """Why the answer is partial: cancelled | disconnected | failed; None when complete."""
        if self.status == "completed":
            return None
        if self.control is not None and self.control.reason in ("disconnected", "deleted"):
            return self.control.reason
        return "cancelled" if self.finish_reason == "cancelled" else "failed"

    def _save_answer(self) -> None:
        """Thread: the answer (complete or partial) and the chat's final status."""
        store = _store()
        for step in self.tool_steps:  # Coze keeps a bot's tool calls and results in the conversation
            if type(step) is ServerToolCall:
                content, kind = json.dumps({"name": step.name, "arguments": step.arguments}, ensure_ascii=False), "function_call"
            else:
                content, kind = step.output, "tool_response"
            store.add_message(self.owner_id, self.conversation_id, role="assistant", content=content, type=kind,
                              bot_id=self.bot.bot_id, chat_id=self.chat_id, section_id=self.section_id,
                              message_id=step.message_id)
        text = self.text
        complete = self.status == "completed"
        if text or complete or self.tool_calls:
            # A partial answer says so where each protocol can show it (Coze message meta_data).
            meta = None if complete else {"status": "partial", "reason": self.partial_reason()}
            store.add_message(self.owner_id, self.conversation_id, role="assistant", content=text, type="answer",
                              bot_id=self.bot.bot_id, chat_id=self.chat_id, section_id=self.section_id,
                              status="complete" if complete else "partial", message_id=self.answer_id,
                              meta_data=meta)
        if self.chat is not None:
            usage = {"token_count": self.usage.total_tokens, "output_count": self.usage.output_tokens,
                     "input_count": self.usage.input_tokens} if self.usage else None
            last_error = None
            if self.status == "failed":
                if self.disconnected:
                    last_error = {"code": 499, "msg": "the client disconnected; the partial answer is kept"}
                else:
                    last_error = {"code": int(self.error.status) if self.error else 502,
                                  "msg": self.error.message if self.error else "the model failed"}
            elif self.status == "canceled":
                last_error = {"code": 499, "msg": "chat canceled"}
            store.finish_chat(self.chat, self.status, usage=usage, last_error=last_error)
        self._unless_deleted(store)

    async def _pump(self) -> None:
        queue = self.control.queue
        try:
            async for event in _run_turn(self.request, self.control.event):
                queue.put_nowait(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the runner guarantees its contract; this is the last resort
            log.exception("the runner failed")
            queue.put_nowait(Error(f"internal error while running the model ({type(exc).__name__})",
                                   code="internal_error", status=500))
        finally:
            queue.put_nowait(_END)

    async def _ticker(self, interval: float) -> None:
        last = -1
        while True:
            await asyncio.sleep(interval)
            if self._seen == last:
                self.control.queue.put_nowait(_TICK)
            last = self._seen

    async def _poll_cancel(self, interval: float) -> None:
        """A cancel or delete that landed on another instance: the in-process registry first (a
        cancel that reached this process has already set the control: no read), then one
        eventually consistent GetItem per interval. A cancel may so show one interval late
        (replication is typically well under a second); a chat that reads as missing is
        confirmed with a consistent read before the turn takes it as deleted."""
        store = _store()
        while True:
            await asyncio.sleep(interval)
            if self.control is None or self.control.cancelled or self.control.finished:
                return
            try:
                chat = await asyncio.to_thread(store.get_chat, self.owner_id, self.conversation_id, self.chat_id, False)
                if chat is None and self.chat is not None:
                    chat = await asyncio.to_thread(store.get_chat, self.owner_id, self.conversation_id, self.chat_id,
                                                   True)
            except Exception:
                log.warning("polling the chat's cancel flag failed", exc_info=True)
                continue
            if chat is not None and (chat.cancel_requested or chat.status == "canceled"):
                self.control.cancel("canceled")
                return
            if chat is None and self.chat is not None:  # it existed: deleted with its conversation
                self.control.cancel("deleted")
                return

    def _start(self) -> None:
        self.control = TurnControl(self.owner_id)
        if self.chat_id:
            registry.register(self.chat_id, self.control)
        if self.persist:
            registry.track_conversation(self.conversation_id, self.control)
        if self.persist and not self.questions_saved:
            self._save_task = asyncio.ensure_future(asyncio.to_thread(self._save_questions))
        self._tasks.append(asyncio.ensure_future(self._pump()))
        interval = keepalive_s()
        if interval > 0:
            self._tasks.append(asyncio.ensure_future(self._ticker(interval)))
        if self.persist and self.chat_id:
            poll = cancel_poll_s()
            if poll > 0:
                self._tasks.append(asyncio.ensure_future(self._poll_cancel(poll)))

    async def _stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def _conclude(self) -> None:
        """Settle the outcome (before anything is written or rendered)."""
        if self.control is not None:
            self.control.finished = True  # a cancel arriving from now on changes nothing
        if self.chat_id:
            registry.unregister(self.chat_id, self.control)
        if self.persist and self.control is not None:
            registry.untrack_conversation(self.conversation_id, self.control)
        if self.usage is None:
            prompt = sum(contents.text_length(m.content) for m in self.request.messages)
            self.usage = Usage((prompt + 3) // 4, _estimate_tokens(self.text))
        observability.annotate(input_tokens=self.usage.input_tokens, output_tokens=self.usage.output_tokens)
        if self.finish_reason == "cancelled":
            self.status = "failed" if self.disconnected else "canceled"
        elif self.error is not None or self.finish_reason == "error":
            self.status = "failed"
            self.finish_reason = "error"
        else:
            self.status = "completed"

    @property
    def rate_headers(self) -> dict[str, str]:
        """x-ratelimit-* for the answer (empty when the key is not limited)."""
        return self.admission.headers() if self.admission is not None else {}

    def _account(self) -> None:
        """Thread: the key's tokens and stream slot (rate limits) and the metering of this turn."""
        usage = self.usage or Usage(0, 0)
        if self.admission is not None:
            self.admission.settle(usage.input_tokens + usage.output_tokens)
        if self.principal is None:
            return
        from agentgate.policy import metering

        failed = self.status == "failed" and not self.disconnected
        status = 200 if not failed else int(self.error.status) if self.error is not None else 502
        metering.record(owner_id=self.owner_id, key_id=self.principal.key_id, bot_id=self.bot.bot_id,
                        user=self.user_id, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                        error=failed, status=status)

    async def _finalize(self) -> None:
        if self._finalized:
            return
        self._finalized = True
        await asyncio.gather(self._store_outcome(), self._account_safely())

    async def _account_safely(self) -> None:
        try:
            await asyncio.to_thread(self._account)
        except Exception:
            log.exception("accounting for the turn failed (key %s)", getattr(self.principal, "key_id", None))

    async def _store_outcome(self) -> None:
        if not self.persist:
            return
        try:
            if self._save_task is not None:
                await self._save_task
        except Exception:
            log.exception("storing the question failed (conversation %s)", self.conversation_id)
        if self.control is not None and self.control.reason == "deleted":
            # The conversation is gone: no answer is written, and what the questions wrote after
            # the delete's sweep is taken back out.
            try:
                await asyncio.to_thread(_store().delete_turn, self.conversation_id,
                                        [q["message_id"] for q in self.questions], self.chat_id)
            except Exception:
                log.exception("removing a deleted conversation's turn failed (conversation %s)",
                              self.conversation_id)
            return
        try:
            await asyncio.to_thread(self._save_answer)
        except Exception:
            log.exception("storing the answer failed (conversation %s)", self.conversation_id)

    # ---------------------------------------------------------------- the stream

    async def events(self) -> AsyncIterator[Any]:
        self._start()
        queue = self.control.queue
        ended = False
        try:
            if self.recall is not None:
                yield self.recall
            while True:
                item = await queue.get()
                self._seen += 1
                if item is _TICK:
                    yield KEEPALIVE
                    continue
                if item is _END:
                    break
                if item is _CANCEL:  # stop now, whatever the runner is doing; it is closed below
                    self.finish_reason = "cancelled"
                    break
                kind = type(item)
                if kind is TextDelta:
                    if not self.parts:
                        observability.first_token()
                    self.parts.append(item.text)
                    yield item
                elif kind is Usage:
                    self.usage = item
                elif kind is Finish:
                    self.finish_reason = item.reason
                elif kind is Error:
                    # Held back until the outcome is stored: clients (cozepy) stop reading at the
                    # error event and may ask for the failed chat straight away.
                    self.error = item
                elif kind is ToolCall:
                    self.tool_calls.append(item)
                    yield item
                elif kind is ServerToolCall or kind is ServerToolResult:
                    item = dataclasses.replace(item, message_id=new_id())
                    self.tool_steps.append(item)
                    yield item
            ended = True
        finally:
            if not ended:  # closed or cancelled from outside: stop the model, keep what was produced
                if self.control is not None and not self.control.cancelled:
                    self.control._cancel("disconnected")
                self.finish_reason = "cancelled"
                for task in self._tasks:
                    task.cancel()
                self._conclude()
                future = asyncio.ensure_future(self._finalize())
                _detached.add(future)
                future.add_done_callback(_detached.discard)
        await self._stop()
        self._conclude()
        await self._finalize()
        if self.error is not None:
            yield self.error
        yield self.usage
        yield Finish(self.finish_reason)

    async def collect(self) -> "Turn":
        """Run to the end without rendering (the non-stream answers)."""
        async for _ in self.events():
            pass
        return self


async def first_event(stream: AsyncIterator[Any]):
    """The stream's first event; an Error there means nothing was produced: the caller answers
    with an error status (after the stream has been run to its end, so its outcome is stored)."""
    first = await stream.__anext__()
    if type(first) is Error:
        async for _ in stream:
            pass
    return first
