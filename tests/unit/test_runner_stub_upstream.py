"""The local stub upstream that tests and benchmarks use: it must behave like an OpenAI upstream."""

from __future__ import annotations

import httpx
import pytest
from openai import OpenAI

from agentgate.local.stub_upstream import start_stub


@pytest.fixture(scope="module")
def stub():
    base_url, stop = start_stub()
    yield base_url
    stop()


@pytest.fixture
def client(stub):
    return OpenAI(base_url=stub, api_key="x", max_retries=0)


def test_non_stream_reply_quotes_every_message(client):
    out = client.chat.completions.create(model="m", messages=[
        {"role": "system", "content": "sys"}, {"role": "user", "content": [{"type": "text", "text": "file text"}]}])
    assert out.choices[0].message.content == "Stub reply to 2 messages: [system] sys [user] file text"
    assert out.usage.total_tokens == out.usage.prompt_tokens + out.usage.completion_tokens


def test_stream_with_the_official_sdk_and_a_chosen_number_of_deltas(client):
    chunks = list(client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True,
        stream_options={"include_usage": True}, extra_body={"stub_deltas": 20}))
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(deltas) == 20
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].usage.completion_tokens == 20


def test_records_requests_for_tests(client, stub):
    root = stub.removesuffix("/v1")
    httpx.delete(root + "/_requests")
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "remember me"}])
    bodies = httpx.get(root + "/_requests").json()
    assert bodies == [{"model": "m", "messages": [{"role": "user", "content": "remember me"}]}]


def test_fail_trigger_is_an_openai_error(stub):
    r = httpx.post(stub + "/chat/completions", json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "__fail__"}]})
    assert r.status_code == 500 and "message" in r.json()["error"]


def test_sockets_disable_nagle(stub):
    # Without TCP_NODELAY small streamed writes wait ~40 ms for an ACK and swamp benchmarks.
    assert httpx.get(stub.removesuffix("/v1") + "/_stats").json()["tcp_nodelay"] is True
