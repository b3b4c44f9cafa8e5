"""Live turns of this process, by chat id: /v3/chat/cancel reaches a stream running here at once.

In Lambda a cancel usually lands on another instance: there the chat's `cancel_requested` flag in
DynamoDB is what the generating instance polls (chat.service). This registry is the fast path
for the local gateway and for a cancel that reaches the same process.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

_CANCEL = object()  # queued after the cancel event is set: the consumer stops at once


class TurnControl:
    """One turn's cancel switch and event queue. `cancel()` may be called from any thread."""

    def __init__(self, owner_id: str, loop: asyncio.AbstractEventLoop | None = None):
        self.owner_id = owner_id
        self.loop = loop or asyncio.get_running_loop()
        self.event = asyncio.Event()  # handed to the runner: it stops the upstream when set
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.reason: str | None = None  # "canceled" | "disconnected" | ...
        self.finished = False

    def cancel(self, reason: str = "canceled") -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self._cancel(reason)
        else:
            try:
                self.loop.call_soon_threadsafe(self._cancel, reason)
            except RuntimeError:  # the loop is gone: so is the turn
                pass

    def _cancel(self, reason: str) -> None:
        if self.finished or self.event.is_set():
            return
        self.reason = reason
        self.event.set()
        self.queue.put_nowait(_CANCEL)

    @property
    def cancelled(self) -> bool:
        return self.event.is_set()


_lock = threading.Lock()
_active: dict[str, TurnControl] = {}


def register(chat_id: str, control: TurnControl) -> None:
    with _lock:
        _active[chat_id] = control


def unregister(chat_id: str, control: TurnControl | None = None) -> None:
    with _lock:
        if control is None or _active.get(chat_id) is control:
            _active.pop(chat_id, None)


def get(chat_id: str) -> TurnControl | None:
    with _lock:
        return _active.get(chat_id)


def cancel(owner_id: str, chat_id: str, reason: str = "canceled") -> bool:
    """Cancel the owner's turn running in this process; False when none is."""
    control = get(chat_id)
    if control is None or control.owner_id != owner_id:
        return False
    control.cancel(reason)
    return True


_by_conversation: dict[str, set[TurnControl]] = {}


def track_conversation(conversation_id: str, control: TurnControl) -> None:
    """A turn writing into `conversation_id`: deleting the conversation stops it."""
    with _lock:
        _by_conversation.setdefault(conversation_id, set()).add(control)


def untrack_conversation(conversation_id: str, control: TurnControl) -> None:
    with _lock:
        controls = _by_conversation.get(conversation_id)
        if controls is not None:
            controls.discard(control)
            if not controls:
                del _by_conversation[conversation_id]


def cancel_conversation(owner_id: str, conversation_id: str, reason: str = "deleted") -> int:
    """Stop the owner's turns running in this process in that conversation; how many."""
    with _lock:
        controls = [c for c in _by_conversation.get(conversation_id, ()) if c.owner_id == owner_id]
    for control in controls:
        control.cancel(reason)
    return len(controls)


def active_chat_ids() -> list[str]:
    with _lock:
        return list(_active)
