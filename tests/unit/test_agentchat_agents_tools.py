"""AgentChat agents (= bots), tools and dialogs over HTTP (TestClient), and the server tool loop."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi.testclient import TestClient

from agentgate.api.agentchat import app
from agentgate.runner.events import Finish, ServerToolCall, ServerToolResult, TextDelta, ToolCall, Usage
from agentgate.runner.types import BotSpec, ChatMessage, TurnRequest


@pytest.fixture
def client(aws):
    return TestClient(app)


@pytest.fixture
def alice(as_owner):
    return as_owner("1000000000000001", "admin")


@pytest.fixture
def bob(as_owner):
    return as_owner("1000000000000002", "admin")


SEED_AGENT = {"name": "我的助手", "description": "一个智能助手", "tool_ids": [], "llm_id": "echo",
              "knowledge_ids": [], "enable_memory": True, "system_prompt": "你是一个有用的助手", "logo_url": ""}


def _agent(client, headers, **fields):
    r = client.post("/api/v1/agent", json={**SEED_AGENT, **fields}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["status_code"] == 200 and r.json()["status_message"] == "SUCCESS"
    return r.json()["data"]


def test_an_agent_is_a_published_bot(client, alice):
    from agentgate.store import bots

    agent = _agent(client, alice)
    assert agent["agent_id"].isdigit() and agent["enable_memory"] is True
    online = bots.resolve_online_bot("1000000000000001", agent["agent_id"])
    assert online is not None and online.prompt == "你是一个有用的助手" and online.model == "echo"
    assert online.memory_window == 20


def test_agents_list_update_search_delete(client, alice):
    a = _agent(client, alice, name="Weather helper")
    b = _agent(client, alice, name="Translator", enable_memory=False)
    listed = client.get("/api/v1/agent", headers=alice).json()["data"]
    assert {x["agent_id"] for x in listed} == {a["agent_id"], b["agent_id"]}
    r = client.put("/api/v1/agent", json={"agent_id": a["agent_id"], "system_prompt": "Be brief."}, headers=alice)
    assert r.status_code == 200 and r.json()["data"]["system_prompt"] == "Be brief."
    found = client.post("/api/v1/agent/search", json={"name": "weather"}, headers=alice).json()["data"]
    assert [x["agent_id"] for x in found] == [a["agent_id"]]
    r = client.request("DELETE", "/api/v1/agent", json={"agent_id": b["agent_id"]}, headers=alice)
    assert r.status_code == 200
    assert [x["agent_id"] for x in client.get("/api/v1/agent", headers=alice).json()["data"]] == [a["agent_id"]]


def test_another_users_agent_and_tool_are_404(client, alice, bob):
    agent = _agent(client, alice)
    tool = client.post("/api/v1/tool/create", json={"zh_name": "天气", "en_name": "weather", "description": "d",
                                                   "logo_url": ""}, headers=alice).json()["data"]
    for r in (
        client.put("/api/v1/agent", json={"agent_id": agent["agent_id"], "name": "mine"}, headers=bob),
        client.request("DELETE", "/api/v1/agent", json={"agent_id": agent["agent_id"]}, headers=bob),
        client.put("/api/v1/tool/update", json={"tool_id": tool["tool_id"], "zh_name": "x"}, headers=bob),
        client.request("DELETE", "/api/v1/tool/delete", json={"tool_id": tool["tool_id"]}, headers=bob),
        client.post("/api/v1/agent", json={**SEED_AGENT, "tool_ids": [tool["tool_id"]]}, headers=bob),
        client.post("/api/v1/dialog", json={"agent_id": agent["agent_id"]}, headers=bob),
    ):
        assert r.status_code == 404, r.text
        assert r.json()["status_code"] == 404
    assert client.get("/api/v1/agent", headers=bob).json()["data"] == []
    assert client.post("/api/v1/tool/own", headers=bob).json()["data"] == []


def test_unknown_model_is_a_400_naming_the_providers(client, alice):
    r = client.post("/api/v1/agent", json={**SEED_AGENT, "llm_id": "nosuch-model"}, headers=alice)
    assert r.status_code == 400 and "known providers" in r.json()["status_message"]


def test_tools_all_own_visible(client, alice):
    seed = client.post("/api/v1/tool/create", json={"zh_name": "天气", "en_name": "weather", "description": "查天气",
                                                   "logo_url": ""}, headers=alice)
    assert seed.status_code == 200, seed.text
    assert seed.json()["data"]["function"]["name"] == "weather"
    http = client.post("/api/v1/tool/create", json={
        "zh_name": "天气", "en_name": "weather_api", "description": "Weather by city",
        "function": {"name": "get_weather", "description": "Weather by city",
                     "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
        "implementation": {"kind": "http", "method": "GET", "url": "https://api.example.com/weather",
                           "headers": {"Authorization": {"secret": "WEATHER_KEY"}, "X-Plain": "abc"}},
    }, headers=alice)
    assert http.status_code == 200, http.text
    assert http.json()["data"]["implementation"]["headers"]["X-Plain"] == "********"
    everything = client.get("/api/v1/tool/all", headers=alice).json()["data"]
    assert {"current_time", "calculator"} <= {t["en_name"] for t in everything if t["is_builtin"]}
    own = client.post("/api/v1/tool/own", headers=alice).json()["data"]
    assert len(own) == 2 and not any(t["is_builtin"] for t in own)
    visible = client.post("/api/v1/tool/visible", headers=alice).json()["data"]
    assert {t["en_name"] for t in visible} == {"current_time", "calculator", "weather_api"}


@pytest.mark.parametrize("impl, fragment", [
    ({"kind": "http", "url": "http://api.example.com/x"}, "https"),
    ({"kind": "http", "url": "https://169.254.169.254/latest/meta-data"}, "private"),
    ({"kind": "http", "url": "https://2852039166/x"}, "private"),
    ({"kind": "http", "url": "https://localhost/x"}, "private"),
    ({"kind": "mcp", "url": "https://mcp.example.com/mcp"}, "tool_name"),
    ({"kind": "shell", "command": "rm -rf /"}, "unknown tool kind"),
])
def test_tools_that_cannot_work_are_refused(client, alice, impl, fragment):
    r = client.post("/api/v1/tool/create", json={"en_name": "t", "implementation": impl}, headers=alice)
    assert r.status_code == 400 and fragment in r.json()["status_message"], r.text
    assert client.post("/api/v1/tool/own", headers=alice).json()["data"] == []


def test_agent_tools_must_exist_and_mcp_ids_must_be_mcp_tools(client, alice):
    r = client.post("/api/v1/agent", json={**SEED_AGENT, "tool_ids": ["1234567890123"]}, headers=alice)
    assert r.status_code == 404 and "tool_ids" in r.json()["status_message"]
    r = client.post("/api/v1/agent", json={**SEED_AGENT, "mcp_ids": ["2"]}, headers=alice)
    assert r.status_code == 404 or r.status_code == 400
    agent = _agent(client, alice, tool_ids=["1", "2"])
    assert agent["tool_ids"] == ["1", "2"]


def test_agent_knowledge_ids_must_be_the_owners(client, alice, bob):
    from agentgate.knowledge import bases

    base = bases.create_base("1000000000000001", "docs")
    agent = _agent(client, alice, knowledge_ids=[base.knowledge_id])
    assert agent["knowledge_ids"] == [base.knowledge_id]
    r = client.post("/api/v1/agent", json={**SEED_AGENT, "knowledge_ids": [base.knowledge_id]}, headers=bob)
    assert r.status_code == 404 and "knowledge" in r.json()["status_message"]


def test_dialogs_are_conversations_of_an_agent(client, alice):
    agent = _agent(client, alice)
    r = client.post("/api/v1/dialog", json={"agent_id": agent["agent_id"]}, headers=alice)
    assert r.status_code == 200, r.text
    dialog = r.json()["data"]
    assert dialog["agent_id"] == agent["agent_id"] and dialog["dialog_id"].isdigit()
    listed = client.get("/api/v1/dialog", headers=alice).json()["data"]
    assert [d["dialog_id"] for d in listed] == [dialog["dialog_id"]]


# ------------------------------------------------------------------------------- the tool loop


def _spec(name="calculator"):
    from agentgate.tools.builtin import builtin_spec

    return builtin_spec("2" if name == "calculator" else "1")


def _run(req, rounds):
    """Drive run_with_tools with scripted model rounds; returns (events, requests seen)."""
    from agentgate.runner.tool_loop import run_with_tools

    seen = []

    async def fake_round(r, cancel):
        seen.append(r)
        for event in rounds[len(seen) - 1]:
            yield event

    async def go():
        return [e async for e in run_with_tools(req, None, fake_round)]

    return asyncio.run(go()), seen


def test_server_tool_runs_here_and_the_model_continues():
    from agentgate.tools import ToolContext

    req = TurnRequest(bot=BotSpec(bot_id="1", name="b", model="echo"),
                      messages=[ChatMessage(role="user", content="what is 6*7?")],
                      server_tools=[_spec()], tool_context=ToolContext(owner_id="o"))
    events, seen = _run(req, [
        [ToolCall("c1", "calculator", json.dumps({"expression": "6*7"})), Usage(10, 2), Finish("tool_calls")],
        [TextDelta("It is 42."), Usage(20, 3), Finish("stop")],
    ])
    kinds = [type(e) for e in events]
    assert kinds == [ServerToolCall, ServerToolResult, TextDelta, Usage, Finish]
    assert events[1].output == "42" and events[1].ok
    assert events[3] == Usage(30, 5) and events[4].reason == "stop"
    # the second round saw the call and its result; the model was offered the tool
    assert seen[0].params["tools"][0]["function"]["name"] == "calculator"
    assert [m.role for m in seen[1].messages] == ["user", "assistant", "tool"]
    assert seen[1].messages[2].content == "42"


def test_client_tools_go_back_to_the_client():
    from agentgate.tools import ToolContext

    client_tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    req = TurnRequest(bot=BotSpec(bot_id="1", name="b", model="echo"),
                      messages=[ChatMessage(role="user", content="hi")], params={"tools": [client_tool]},
                      server_tools=[_spec()], tool_context=ToolContext(owner_id="o"))
    events, seen = _run(req, [[ToolCall("c1", "lookup", "{}"), Finish("tool_calls")]])
    assert [type(e) for e in events] == [ToolCall, Finish] and events[-1].reason == "tool_calls"
    names = [t["function"]["name"] for t in seen[0].params["tools"]]
    assert names == ["lookup", "calculator"]  # the model sees both


def test_rounds_are_bounded(monkeypatch):
    from agentgate.tools import ToolContext

    monkeypatch.setenv("AGENTGATE_TOOL_MAX_ROUNDS", "2")
    req = TurnRequest(bot=BotSpec(bot_id="1", name="b", model="echo"),
                      messages=[ChatMessage(role="user", content="loop")],
                      server_tools=[_spec()], tool_context=ToolContext(owner_id="o"))
    call = [ToolCall("c", "calculator", '{"expression": "1+1"}'), Finish("tool_calls")]
    events, seen = _run(req, [call, call, [TextDelta("done"), Finish("stop")]])
    assert len(seen) == 3 and "tools" not in seen[2].params  # the last round has no tools
    assert events[-1].reason == "stop"


def test_a_failing_tool_is_reported_to_the_model_not_raised():
    from agentgate.tools import ToolContext

    req = TurnRequest(bot=BotSpec(bot_id="1", name="b", model="echo"),
                      messages=[ChatMessage(role="user", content="x")],
                      server_tools=[_spec()], tool_context=ToolContext(owner_id="o"))
    events, seen = _run(req, [
        [ToolCall("c1", "calculator", '{"expression": "__import__(\\"os\\")"}'), Finish("tool_calls")],
        [TextDelta("sorry"), Finish("stop")],
    ])
    result = next(e for e in events if isinstance(e, ServerToolResult))
    assert not result.ok and result.output.startswith("error:")
    assert seen[1].messages[-1].content.startswith("error:")


@pytest.mark.parametrize("expression, expected", [("(3 + 4) * 2.5", "17.5"), ("2 ** 10", "1024"), ("7 // 2", "3")])
def test_calculator(expression, expected):
    from agentgate.tools.builtin import calculate

    assert calculate(expression) == expected


@pytest.mark.parametrize("expression", ["__import__('os')", "a + 1", "2 ** 100000", "1/0", "(lambda: 1)()"])
def test_calculator_refuses_what_is_not_arithmetic(expression):
    from agentgate.tools import ToolCallError
    from agentgate.tools.builtin import calculate

    with pytest.raises(ToolCallError):
        calculate(expression)


@pytest.mark.parametrize("host", ["2852039166", "0xA9FEA9FE", "0251.0376.0251.0376", "169.254.169.254.",
                                  "[::ffff:169.254.169.254]", "127.1", "localhost.", "10.0.0.1"])
def test_outbound_policy_refuses_every_spelling_of_an_inside_address(host):
    from agentgate.net import outbound

    with pytest.raises(outbound.OutboundRefused):
        outbound.check_url(f"https://{host}/x")


def test_outbound_allow_list_admits_plain_http_to_a_named_host(monkeypatch):
    from agentgate.net import outbound

    monkeypatch.setenv("AGENTGATE_HTTP_ALLOW_HOSTS", "127.0.0.1:8808")
    assert outbound.check_url("http://127.0.0.1:8808/weather") == ("127.0.0.1", True)
    with pytest.raises(outbound.OutboundRefused):
        outbound.check_url("http://127.0.0.1:9999/weather")
