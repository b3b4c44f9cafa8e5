"""OpenAI Responses on the chat app, through the real `openai` SDK over TestClient (echo provider)."""

from __future__ import annotations

import json

import openai
import pytest
from fastapi.testclient import TestClient
from openai import OpenAI

from agentgate.api.chat import app
from agentgate.store import bots as bot_store
from agentgate.store import responses as store

PROMPT = "Be brief."


def publish(owner: str, model: str = "echo", aliases=("main",), **values) -> str:
    values.setdefault("name", "Helper")
    values.setdefault("prompt", PROMPT)
    bot = bot_store.create_bot(owner, {"model": model, **values}, aliases=list(aliases))
    bot_store.publish_bot(owner, bot.bot_id)
    return bot.bot_id


@pytest.fixture
def alice(as_owner):
    return as_owner("alice", "chat")


@pytest.fixture
def bot(aws):
    return publish("alice")


def sdk(headers: dict, prefix: str = "/v1") -> OpenAI:
    http = TestClient(app, headers=headers)
    return OpenAI(api_key="unused", base_url=f"http://testserver{prefix}", http_client=http, max_retries=0)


@pytest.fixture
def client(alice, bot) -> OpenAI:
    return sdk(alice)


def frames(text: str) -> list[tuple[str, dict]]:
    out = []
    for block in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line and not line.startswith(":"))
        if "data" in lines:
            out.append((lines.get("event"), json.loads(lines["data"])))
    return out


# ------------------------------------------------------------------------------------- create


@pytest.mark.parametrize("prefix", ["/v1", "/api/v1"])
def test_create_plain(alice, bot, prefix):
    r = sdk(alice, prefix).responses.create(model="main", input="hello there")
    assert r.id.startswith("resp_") and r.object == "response" and r.status == "completed"
    assert r.model == "main" and r.output_text == f'Echo: hello there | system: "{PROMPT}"'
    [msg] = r.output
    assert msg.type == "message" and msg.role == "assistant" and msg.status == "completed"
    assert msg.id.startswith("msg_") and msg.content[0].type == "output_text"
    assert r.usage.input_tokens > 0 and r.usage.output_tokens == 7
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens


def test_instructions_reach_the_model_and_are_echoed(client):
    r = client.responses.create(model="main", input="hi", instructions="Speak like a pirate.")
    assert "Speak like a pirate." in r.output_text and r.instructions == "Speak like a pirate."


def test_max_output_tokens_makes_an_incomplete_response(client):
    r = client.responses.create(model="main", input="one two three four", max_output_tokens=2)
    assert r.status == "incomplete" and r.incomplete_details.reason == "max_output_tokens"
    assert r.output_text == "Echo: one " and r.output[0].status == "incomplete"
    assert client.responses.retrieve(r.id).status == "incomplete"


def test_metadata_user_temperature_are_echoed(client):
    r = client.responses.create(model="main", input="x", metadata={"ticket": "42"}, user="u1", temperature=0.5)
    assert r.metadata == {"ticket": "42"} and r.user == "u1" and r.temperature == 0.5
    again = client.responses.retrieve(r.id)
    assert again.metadata == {"ticket": "42"} and again.temperature == 0.5


@pytest.mark.parametrize("body, param", [
    ({"input": "x"}, "model"),
    ({"model": "main"}, "input"),
    ({"model": "main", "input": "x", "temperature": 9}, "temperature"),
    ({"model": "main", "input": "x", "tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"model": "main", "input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
    ({"model": "main", "input": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "input[0].content[0].type"),
    ({"model": "main", "input": "x", "background": True}, "background"),
])
def test_bad_requests_are_400_in_openai_shape(alice, bot, body, param):
    r = TestClient(app).post("/v1/responses", json=body, headers=alice)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == param and err["message"]


def test_unknown_model_is_404_and_nothing_is_stored(client):
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="nope", input="x")
    assert list(store.StoredResponse.scan()) == []


def test_upstream_failure_before_output_is_an_http_error(alice):
    publish("alice", model="echo/fail", aliases=("failing",))
    # echo/fail sends one delta first: a failed response with its partial output, stored
    r = sdk(alice).responses.create(model="failing", input="x y")
    assert r.status == "failed" and r.error.code == "server_error" and r.output_text == "Echo: "


# ------------------------------------------------------------------------------------- stream


def test_stream_helper_events_in_order(client):
    with client.responses.stream(model="main", input="one two") as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[:5] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added", "response.output_text.delta"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                          "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert deltas == ["Echo: ", "one ", "two ", "| ", "system: ", '"Be ', 'brief."']
    assert final.output_text == "".join(deltas) and final.status == "completed"
    assert client.responses.retrieve(final.id).output_text == final.output_text


def test_raw_stream_frames_name_their_event(alice, bot):
    r = TestClient(app).post("/v1/responses", json={"model": "main", "input": "hi", "stream": True}, headers=alice)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    got = frames(r.text)
    assert all(event == data["type"] for event, data in got)
    assert got[0][1]["response"]["status"] == "in_progress" and got[0][1]["response"]["output"] == []
    done = got[-1][1]["response"]
    assert done["status"] == "completed" and done["usage"]["output_tokens"] == 6


def test_stream_failure_after_output_ends_with_error_and_response_failed(alice):
    publish("alice", model="echo/fail", aliases=("failing",))
    r = TestClient(app).post("/v1/responses", json={"model": "failing", "input": "x y", "stream": True},
                             headers=alice)
    kinds = [d["type"] for _, d in frames(r.text)]
    assert kinds[-2:] == ["error", "response.failed"] and "response.output_text.delta" in kinds
    failed = frames(r.text)[-1][1]["response"]
    assert failed["error"]["code"] == "server_error" and failed["output"][0]["status"] == "incomplete"


# ------------------------------------------------------------------------------------- tools


WEATHER = {"type": "function", "name": "get_weather", "description": "Weather of a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def test_function_tool_round_trip(client):
    r = client.responses.create(model="main", input="what does get_weather say", tools=[WEATHER])
    [call] = r.output
    assert call.type == "function_call" and call.name == "get_weather" and call.call_id
    assert json.loads(call.arguments) == {"input": "what does get_weather say"}
    assert r.status == "completed" and r.tools[0].name == "get_weather"
    # the client runs the tool and sends its output back, continuing the stored response
    r2 = client.responses.create(model="main", previous_response_id=r.id, tools=[WEATHER],
                                 input=[{"type": "function_call_output", "call_id": call.call_id,
                                         "output": "sunny, 21 C"}])
    assert r2.output_text.startswith("Echo: tool result: sunny, 21 C")


def test_function_call_history_sent_by_the_client(client):
    """Without stored state (store=false), the client sends the whole loop back as items."""
    r = client.responses.create(model="main", input="call get_weather", tools=[WEATHER], store=False)
    call = r.output[0]
    r2 = client.responses.create(model="main", store=False, tools=[WEATHER], input=[
        {"role": "user", "content": "call get_weather"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments,
         "id": call.id},
        {"type": "function_call_output", "call_id": call.call_id, "output": "rain"}])
    assert r2.output_text.startswith("Echo: tool result: rain | memory: 2 earlier messages")


def test_forced_tool_choice_streams_argument_events(client):
    with client.responses.stream(model="main", input="x", tools=[WEATHER],
                                 tool_choice={"type": "function", "name": "get_weather"}) as stream:
        kinds = [e.type for e in stream]
        final = stream.get_final_response()
    assert kinds[2:6] == ["response.output_item.added", "response.function_call_arguments.delta",
                          "response.function_call_arguments.done", "response.output_item.done"]
    assert final.output[0].type == "function_call" and final.output[0].status == "completed"


# ------------------------------------------------------------------------------------- state


def test_previous_response_id_across_three_turns(client):
    r1 = client.responses.create(model="main", input="first question")
    r2 = client.responses.create(model="main", input="second question", previous_response_id=r1.id)
    r3 = client.responses.create(model="main", input="third question", previous_response_id=r2.id)
    assert r2.output_text.startswith('Echo: second question | memory: 2 earlier messages, first: "first question"')
    assert r3.output_text.startswith('Echo: third question | memory: 4 earlier messages, first: "first question"')
    assert r3.previous_response_id == r2.id
    # a branch from r1 sees r1 only, not r2
    b = client.responses.create(model="main", input="branch", previous_response_id=r1.id)
    assert "memory: 2 earlier messages" in b.output_text


def test_history_is_one_query(client, monkeypatch):
    r1 = client.responses.create(model="main", input="a")
    r2 = client.responses.create(model="main", input="b", previous_response_id=r1.id)
    calls = []
    real = store.StoredResponse.query
    monkeypatch.setattr(store.StoredResponse, "query", lambda *a, **k: calls.append(a) or real(*a, **k))
    client.responses.create(model="main", input="c", previous_response_id=r2.id)
    assert len(calls) == 1


def test_unknown_previous_response_is_404(client):
    with pytest.raises(openai.NotFoundError) as exc:
        client.responses.create(model="main", input="x", previous_response_id="resp_" + "1" * 40)
    assert exc.value.body["param"] == "previous_response_id"


def test_store_false_keeps_nothing(client):
    r = client.responses.create(model="main", input="secret", store=False)
    assert r.status == "completed" and r.store is False
    assert list(store.StoredResponse.scan()) == []
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(r.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="main", input="x", previous_response_id=r.id)


def test_retrieve_input_items_delete(client):
    r = client.responses.create(model="main", input=[
        {"role": "user", "content": "one"}, {"role": "assistant", "content": "two"},
        {"role": "user", "content": [{"type": "input_text", "text": "three"}]}])
    got = client.responses.retrieve(r.id)
    assert got.id == r.id and got.output_text == r.output_text and got.usage.total_tokens == r.usage.total_tokens
    items = list(client.responses.input_items.list(r.id))
    assert [i.content[0].text for i in items] == ["three", "two", "one"]  # newest first by default
    asc = client.responses.input_items.list(r.id, order="asc", limit=2)
    assert [i.content[0].text for i in asc.data] == ["one", "two"] and asc.has_more
    assert all(i.id for i in items)
    deleted = client.responses.delete(r.id)
    assert deleted is None  # the SDK answers None; the body says deleted
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(r.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(r.id)


def test_another_owner_sees_404(client, as_owner):
    r = client.responses.create(model="main", input="mine")
    bob = sdk(as_owner("bob", "admin"))
    for call in (lambda: bob.responses.retrieve(r.id), lambda: bob.responses.delete(r.id),
                 lambda: bob.responses.cancel(r.id), lambda: list(bob.responses.input_items.list(r.id))):
        with pytest.raises(openai.NotFoundError):
            call()
    publish("bob")
    with pytest.raises(openai.NotFoundError):
        bob.responses.create(model="main", input="x", previous_response_id=r.id)
    assert client.responses.retrieve(r.id).status == "completed"  # still there for alice


def test_read_scope_cannot_create(bot, as_owner):
    reader = sdk(as_owner("alice", "read"))
    with pytest.raises(openai.PermissionDeniedError):
        reader.responses.create(model="main", input="x")


def test_cancel_of_a_finished_response_answers_it_as_is(client):
    r = client.responses.create(model="main", input="done")
    assert client.responses.cancel(r.id).status == "completed"
