"""The cancel signal of a streaming turn (issue 10, point 10 c): a cancel that reached this process
(chat.registry) ends the poll without a store read; otherwise one eventually consistent GetItem
per AGENTGATE_CANCEL_POLL_S (default 3 s), and a chat that reads as missing is confirmed with a
consistent read before the turn takes it as deleted."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from agentgate.chat import registry
from agentgate.chat import responses as chat_responses
from agentgate.chat import service
from agentgate.chat.registry import TurnControl


class FakeStore:
    """get_chat answers from a script of (consistent -> answer) and records every read."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.reads: list[bool] = []

    def get_chat(self, owner_id, conversation_id, chat_id, consistent=False):
        self.reads.append(consistent)
        answer = self.answers.pop(0) if self.answers else SimpleNamespace(cancel_requested=0, status="in_progress")
        return answer(consistent) if callable(answer) else answer


def _turn(control):
    return SimpleNamespace(control=control, owner_id="alice", conversation_id="c1", chat_id="k1",
                           chat=SimpleNamespace(chat_id="k1"))


async def _poll(turn, interval=0.01, timeout=2.0):
    await asyncio.wait_for(service.Turn._poll_cancel(turn, interval), timeout)


def test_the_default_poll_is_every_three_seconds(monkeypatch):
    monkeypatch.delenv("AGENTGATE_CANCEL_POLL_S", raising=False)
    assert service.cancel_poll_s() == 3.0


def test_a_cancel_through_the_registry_ends_the_poll_without_a_read(monkeypatch):
    store = FakeStore([])
    monkeypatch.setattr(service, "_store", lambda: store)

    async def run():
        control = TurnControl("alice")
        registry.register("k1", control)
        try:
            assert registry.cancel("alice", "k1")  # /v3/chat/cancel landing on this process
            await _poll(_turn(control))
        finally:
            registry.unregister("k1", control)
        return control

    control = asyncio.run(run())
    assert control.reason == "canceled"
    assert store.reads == []  # no GetItem: the registry told the turn


def test_the_poll_reads_eventually_consistently(monkeypatch):
    store = FakeStore([SimpleNamespace(cancel_requested=0, status="in_progress"),
                       SimpleNamespace(cancel_requested=1, status="in_progress")])
    monkeypatch.setattr(service, "_store", lambda: store)

    async def run():
        control = TurnControl("alice")
        await _poll(_turn(control))
        return control

    control = asyncio.run(run())
    assert control.reason == "canceled"
    assert store.reads == [False, False]


def test_a_chat_missing_from_an_eventual_read_is_confirmed_before_it_counts_as_deleted(monkeypatch):
    alive = SimpleNamespace(cancel_requested=0, status="in_progress")
    store = FakeStore([None, alive, SimpleNamespace(cancel_requested=1, status="in_progress")])
    monkeypatch.setattr(service, "_store", lambda: store)

    async def run():
        control = TurnControl("alice")
        await _poll(_turn(control))
        return control

    control = asyncio.run(run())
    assert control.reason == "canceled"  # not "deleted": the consistent read found the chat
    assert store.reads == [False, True, False]

    gone = FakeStore([None, None])
    monkeypatch.setattr(service, "_store", lambda: gone)

    async def deleted():
        control = TurnControl("alice")
        await _poll(_turn(control))
        return control

    assert asyncio.run(deleted()).reason == "deleted" and gone.reads == [False, True]


def test_the_responses_poll_checks_the_registry_first_and_reads_eventually(monkeypatch):
    reads: list[bool] = []

    class Store:
        @staticmethod
        def cancel_requested(item, consistent=True):
            reads.append(consistent)
            return len(reads) >= 2

    monkeypatch.setattr(chat_responses, "_store", lambda: Store)

    async def run(cancel_first: bool):
        control = TurnControl("alice")
        cancelled = []
        turn = SimpleNamespace(control=control, cancel=lambda reason: cancelled.append(reason))
        if cancel_first:
            control.cancel("canceled")
        await asyncio.wait_for(chat_responses.ResponseTurn._poll_cancel(
            SimpleNamespace(turn=turn, item=object()), 0.01), 2.0)
        return cancelled

    assert asyncio.run(run(True)) == [] and reads == []
    assert asyncio.run(run(False)) == ["canceled"] and reads == [False, False]


@pytest.mark.parametrize("streams, interval_s, consistent, reads_per_s, units_per_s", [
    (10_000, 1.0, True, 10_000, 10_000),   # before: one consistent GetItem a second
    (10_000, 3.0, False, 3_333, 1_667),    # now: every 3 s, eventually consistent (0.5 unit)
])
def test_the_cost_of_polling_10000_streams(streams, interval_s, consistent, reads_per_s, units_per_s):
    """README "Store cost per turn": a chat item is under 4 KB (one read unit strongly
    consistent, half of one eventually consistent)."""
    reads = streams / interval_s
    assert round(reads) == reads_per_s
    assert round(reads * (1.0 if consistent else 0.5)) == units_per_s
