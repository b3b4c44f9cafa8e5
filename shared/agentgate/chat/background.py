"""Coze's non-stream chat in Coze's own form (`additional_messages`, as cozepy sends): like Coze,
the answer is the chat `in_progress` at once; the turn runs on as background work
(agentgate.background: a task locally, the worker function on AWS) and the client polls
/v3/chat/retrieve (cozepy's create_and_poll) or cancels it (/v3/chat/cancel).

`start()` stores the conversation, the chat (in_progress) and the question(s) first, then hands
over the prepared turn as plain data (`to_payload`), so the local task and the worker run the
same code (`run_job`). AGENTGATE_COZE_CHAT_WAIT_MS (default 0, as Coze) lets the answer wait that
long for the turn to finish before it answers in_progress.
"""

from __future__ import annotations

import asyncio
import dataclasses
from types import SimpleNamespace
from typing import Any

from agentgate import background
from agentgate.runner.types import BotSpec, ChatMessage, TurnRequest


def _message(m: ChatMessage) -> dict:
    return {"role": m.role, "content": m.content, "name": m.name, "tool_call_id": m.tool_call_id,
            "tool_calls": m.tool_calls}


def to_payload(turn) -> dict:
    req: TurnRequest = turn.request
    return {
        "owner_id": turn.owner_id, "bot_id": turn.bot.bot_id, "conversation_id": turn.conversation_id,
        "section_id": turn.section_id, "chat_id": turn.chat_id, "answer_id": turn.answer_id,
        "user_id": turn.user_id, "meta_data": dict(turn.meta_data or {}), "created_at": turn.created_at,
        "request": {"bot": dataclasses.asdict(req.bot), "history": [_message(m) for m in req.history],
                    "messages": [_message(m) for m in req.messages], "variables": dict(req.variables),
                    "params": dict(req.params)},
        # the key's policy facts, so the worker meters the turn and settles its rate limits
        "principal": turn.principal.to_context() if turn.principal is not None else None,
        "admission": _admission_payload(turn.admission),
    }


def _admission_payload(admission) -> dict | None:
    if admission is None:
        return None
    out = dataclasses.asdict(admission)
    out.pop("_settled", None)
    return out


def _admission(payload: dict | None):
    if not payload:
        return None
    from agentgate.policy.limits import Limits
    from agentgate.policy.ratelimit import Admission

    return Admission(**{**payload, "limits": Limits(**payload["limits"])})


def from_payload(payload: dict):
    from agentgate.chat.service import Turn, _store

    r = payload["request"]
    request = TurnRequest(bot=BotSpec(**r["bot"]), history=[ChatMessage(**m) for m in r["history"]],
                          messages=[ChatMessage(**m) for m in r["messages"]], variables=r["variables"],
                          params=r["params"])
    turn = Turn(owner_id=payload["owner_id"], bot=SimpleNamespace(bot_id=payload["bot_id"]), request=request,
                conversation_id=payload["conversation_id"], section_id=payload["section_id"],
                chat_id=payload["chat_id"], answer_id=payload["answer_id"], persist=True, create_conversation=None,
                questions=[], user_id=payload.get("user_id"), meta_data=payload.get("meta_data") or {},
                principal=_principal(payload.get("principal")), admission=_admission(payload.get("admission")))
    turn.questions_saved = True
    # The stored chat, by its key (no read: its final update needs only the key; a cancel that
    # came first is kept, and the turn's cancel poll sees it).
    store = _store()
    turn.chat = store.Chat(conversation_id=payload["conversation_id"], chat_id=payload["chat_id"],
                           owner_id=payload["owner_id"], bot_id=payload["bot_id"], status="in_progress",
                           created_at=payload.get("created_at") or 0)
    return turn


def _principal(context: dict | None):
    from agentgate.auth.principal import Principal

    return Principal.from_context(context) if context else None


async def run_job(payload: dict):
    """background/'s entry for kind "chat_turn": run the turn to its end (its outcome is stored)."""
    turn = from_payload(payload)
    try:
        return await turn.collect()
    except BaseException:
        # Never leave the chat in_progress (a poller would wait forever): it failed.
        try:
            await asyncio.to_thread(turn._store_failure if hasattr(turn, "_store_failure") else _fail, turn)
        finally:
            raise


def _fail(turn) -> None:
    from agentgate.chat.service import _store

    _store().finish_chat(turn.chat, "failed", last_error={"code": 500, "msg": "internal error; the answer was not completed"})


async def start(turn):
    """Store what the client will poll, then hand the turn over. Returns the local task (None
    when the work went to the worker function)."""
    await asyncio.to_thread(turn._save_questions)
    turn.questions_saved = True
    return background.submit("chat_turn", to_payload(turn))


async def wait(task: Any, seconds: float):
    """The finished Turn if the local task ends within `seconds`, else None."""
    if task is None or seconds <= 0:
        return None
    try:
        return await asyncio.wait_for(asyncio.shield(task), seconds)
    except TimeoutError:
        return None
