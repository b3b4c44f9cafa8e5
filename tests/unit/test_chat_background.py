"""Coze's non-stream /v3/chat in Coze's own form (additional_messages): in_progress at once, the
turn completes as background work; cozepy's create_and_poll polls for real and chat.cancel stops
it. Seed 002's form (query) still waits (tests/unit/test_chat_coze.py)."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from cozepy import ChatStatus, Coze, Message, SyncHTTPClient, TokenAuth
from fastapi.testclient import TestClient

from agentgate import background
from agentgate.api.chat import app
from agentgate.store import bots as bot_store
from agentgate.store import conversations as store


def publish(owner: str, model: str, alias: str) -> str:
    bot = bot_store.create_bot(owner, {"model": model, "name": "Helper"}, aliases=[alias])
    bot_store.publish_bot(owner, bot.bot_id)
    return bot.bot_id


class LiveTransport(httpx.BaseTransport):
    """cozepy against one open TestClient (one event loop that outlives each request)."""

    def __init__(self, client: TestClient, principal: dict):
        self._client, self._principal = client, principal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in ("host", "content-length")]
        answer = self._client.request(request.method, str(request.url), content=request.read(),
                                      headers=headers + list(self._principal.items()))
        return httpx.Response(answer.status_code, headers=answer.headers.multi_items(), content=answer.content,
                              request=request)


@pytest.fixture
def live(aws, monkeypatch):
    monkeypatch.setenv("AGENTGATE_COZE_CHAT_WAIT_MS", "0")  # the default: answer at once
    monkeypatch.setenv("AGENTGATE_ECHO_DELAY_MS", "0")
    monkeypatch.setenv("AGENTGATE_CANCEL_POLL_S", "0.05")
    with TestClient(app) as client:
        yield client


def coze_for(client, headers) -> Coze:
    return Coze(auth=TokenAuth("pat_test"), base_url="http://testserver",
                http_client=SyncHTTPClient(transport=LiveTransport(client, headers)))


def test_create_answers_in_progress_and_create_and_poll_polls(live, as_owner):
    bot = publish("alice", "echo", "main")
    coze = coze_for(live, as_owner("alice", "chat"))
    chat = coze.chat.create(bot_id=bot, user_id="u", additional_messages=[Message.build_user_question_text("hi")])
    assert chat.status == ChatStatus.IN_PROGRESS
    # The chat and its question are stored before the answer: retrieve works at once.
    assert coze.chat.retrieve(conversation_id=chat.conversation_id, chat_id=chat.id).id == chat.id
    polled = coze.chat.create_and_poll(bot_id=bot, user_id="u", conversation_id=chat.conversation_id,
                                       additional_messages=[Message.build_user_question_text("again")])
    assert polled.chat.status == ChatStatus.COMPLETED
    answers = [m.content for m in polled.messages if m.type == "answer"]
    # The first turn finished in the background and is the second's memory.
    assert answers == ['Echo: again | memory: 2 earlier messages, first: "hi"']
    for _ in range(100):
        first = coze.chat.retrieve(conversation_id=chat.conversation_id, chat_id=chat.id)
        if first.status != ChatStatus.IN_PROGRESS:
            break
        time.sleep(0.02)
    assert first.status == ChatStatus.COMPLETED and first.usage.token_count > 0


def test_cancel_stops_a_running_non_stream_chat(live, as_owner):
    bot = publish("alice", "echo/stall", "stall")  # one delta, then silence until stopped
    coze = coze_for(live, as_owner("alice", "chat"))
    chat = coze.chat.create(bot_id=bot, user_id="u", additional_messages=[Message.build_user_question_text("hi")])
    assert chat.status == ChatStatus.IN_PROGRESS
    time.sleep(0.2)
    assert coze.chat.retrieve(conversation_id=chat.conversation_id, chat_id=chat.id).status == ChatStatus.IN_PROGRESS
    canceled = coze.chat.cancel(conversation_id=chat.conversation_id, chat_id=chat.id)
    assert canceled.status == ChatStatus.CANCELED
    for _ in range(200):
        if background.pending() == 0:
            break
        time.sleep(0.02)
    assert background.pending() == 0  # the turn really stopped
    stored = store.get_chat("alice", chat.conversation_id, chat.id, True)
    assert stored.status == "canceled"
    partial = [m for m in store.list_messages("alice", chat.conversation_id, order="asc", chat_id=chat.id)[0]
               if m.type == "answer"]
    assert partial and partial[0].status == "partial"  # what was produced is kept


def test_on_aws_the_turn_goes_to_the_worker_by_async_invoke(monkeypatch):
    from agentgate.background import worker

    sent = {}

    class FakeLambda:
        def invoke(self, **kwargs):
            sent.update(kwargs)
            return {"StatusCode": 202}

    import boto3

    monkeypatch.setattr(boto3, "client", lambda name, **kw: FakeLambda() if name == "lambda" else None)
    monkeypatch.setenv("AGENTGATE_BACKGROUND", "lambda")
    monkeypatch.setenv("AGENTGATE_BACKGROUND_FUNCTION", "stack-WorkerFunction")
    assert background.submit("workflow_run", {"owner_id": "o", "execute_id": "1"}) is None
    assert sent["FunctionName"] == "stack-WorkerFunction" and sent["InvocationType"] == "Event"
    event = json.loads(sent["Payload"])
    assert event == {"agentgate_job": "workflow_run", "payload": {"owner_id": "o", "execute_id": "1"}}
    with pytest.raises(ValueError):
        worker.handler({"something": "else"}, None)  # not a job: Lambda retries, then the failure queue
