"""Seed 001 (AgentChat) through the real local gateway: accounts and JWTs, agents on every chat
protocol, server-side HTTP and MCP tools called for the model (the stub upstream asks for them)."""

from __future__ import annotations

import json

import httpx


def _signed_in(gateway, name: str, password: str = "test-password") -> tuple[str, str]:
    with httpx.Client(base_url=gateway.base_url, timeout=30) as c:
        r = c.post("/api/v1/user/register", json={"user_name": name, "user_email": f"{name}@example.com",
                                                  "user_password": password})
        assert r.status_code in (200, 409), r.text
        r = c.post("/api/v1/user/login", json={"user_name": name, "user_password": password})
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        return data["user_id"], data["access_token"]


def _client(gateway, token: str, bare: bool = False) -> httpx.Client:
    auth = token if bare else f"Bearer {token}"
    return httpx.Client(base_url=gateway.base_url, headers={"Authorization": auth}, timeout=30)


def _agent(c: httpx.Client, **fields) -> str:
    body = {"name": "我的助手", "description": "一个智能助手", "tool_ids": [], "llm_id": "echo",
            "knowledge_ids": [], "enable_memory": True, "system_prompt": "你是一个有用的助手", "logo_url": ""}
    r = c.post("/api/v1/agent", json={**body, **fields})
    assert r.status_code == 200, r.text
    return r.json()["data"]["agent_id"]


def _dialog(c: httpx.Client, agent_id: str) -> str:
    r = c.post("/api/v1/dialog", json={"agent_id": agent_id})
    assert r.status_code == 200, r.text
    return r.json()["data"]["dialog_id"]


def test_seed_001_python_example_as_written(gateway):
    """The seed's own code (only the base URL changed). Its dialog id was never created: a clear
    404 naming the route that creates one; with a dialog made first, the answer streams."""
    import requests

    base = gateway.base_url
    requests.post(f"{base}/api/v1/user/register",
                  json={"user_name": "test", "user_email": "test@example.com", "user_password": "test"})
    # --- seed 001, verbatim but for the host ---
    login_response = requests.post(
        f"{base}/api/v1/user/login",
        json={"user_name": "test", "user_password": "test"}
    )
    access_token = login_response.json()["data"]["access_token"]
    headers = {"Authorization": f"Bearer {access_token}"}
    chat_response = requests.post(
        f"{base}/api/v1/chat",
        headers=headers,
        json={
            "user_input": "你好",
            "dialog_id": "dialog-123"
        },
        stream=True
    )
    lines = [line.decode("utf-8") for line in chat_response.iter_lines() if line]
    # --- end of the seed's code ---
    assert chat_response.status_code == 404
    error = json.loads(lines[0])
    assert error["status_code"] == 404 and "POST /api/v1/dialog" in error["status_message"]

    with _client(gateway, access_token) as c:
        dialog_id = _dialog(c, _agent(c))
    chat_response = requests.post(f"{base}/api/v1/chat", headers=headers,
                                  json={"user_input": "你好", "dialog_id": dialog_id}, stream=True)
    lines = [line.decode("utf-8") for line in chat_response.iter_lines() if line]
    assert chat_response.status_code == 200
    frames = [json.loads(line[len("data: "):]) for line in lines if line.startswith("data: ")]
    assert frames[-1]["type"] == "response_end" and "你好" in frames[-1]["data"]["content"]


def test_seed_001_curl_creates_an_agent_that_answers(gateway):
    _, token = _signed_in(gateway, "curl-user")
    with _client(gateway, token) as c:
        r = c.post("/api/v1/agent", content=json.dumps({
            "name": "我的助手", "description": "一个智能助手", "tool_ids": [], "llm_id": "gpt-4",
            "knowledge_ids": [], "enable_memory": True, "system_prompt": "你是一个有用的助手", "logo_url": ""}),
            headers={"Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status_code"] == 200 and body["status_message"] == "SUCCESS"
        agent_id = body["data"]["agent_id"]
        r = c.post("/v1/chat/completions", json={"model": agent_id, "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200 and "hi" in r.json()["choices"][0]["message"]["content"]


def test_a_jwt_works_on_every_chat_protocol(gateway):
    from openai import OpenAI

    user_id, token = _signed_in(gateway, "jwt-user")
    with _client(gateway, token) as c:
        agent_id = _agent(c)
        dialog_id = _dialog(c, agent_id)
        # Coze chat v3
        r = c.post("/v3/chat", json={"bot_id": agent_id, "user_id": "u1", "stream": True,
                                     "additional_messages": [{"role": "user", "content": "coze hi",
                                                              "content_type": "text"}]})
        assert r.status_code == 200 and "conversation.chat.completed" in r.text
        # AgentChat chat
        r = c.post("/api/v1/chat", json={"user_input": "agentchat hi", "dialog_id": dialog_id})
        assert r.status_code == 200 and "response_end" in r.text
        # the PAT API with the JWT: a key for the user's own application
        r = c.post("/api/permission_api/pat/create_personal_access_token_and_permission",
                   json={"name": "my app", "expire": 0, "scopes": ["chat"]})
        assert r.status_code == 200, r.text
        pat = r.json()["api_key"]
        # the account made it, not the 15-minute token: it does not expire with the token
        assert r.json()["expired_at"] in (0, None) and not r.json().get("expire_capped")
    with _client(gateway, token, bare=True) as bare:  # AIFlowy sends the bare credential
        r = bare.post("/api/v1/aiBot/externalChat", json={"botId": agent_id, "stream": False,
                                                          "messages": [{"role": "user", "content": "aiflowy hi"}]})
        assert r.status_code == 200 and "aiflowy hi" in r.json()["choices"]["message"]["content"]
    openai = OpenAI(api_key=token, base_url=f"{gateway.base_url}/v1")
    reply = openai.chat.completions.create(model=agent_id, messages=[{"role": "user", "content": "openai hi"}])
    assert "openai hi" in reply.choices[0].message.content
    # the PAT made with the JWT belongs to the user: it reaches the same agent
    reply = OpenAI(api_key=pat, base_url=f"{gateway.base_url}/v1").chat.completions.create(
        model=agent_id, messages=[{"role": "user", "content": "pat hi"}])
    assert "pat hi" in reply.choices[0].message.content


def test_bad_or_forged_jwts_are_401(gateway):
    _, token = _signed_in(gateway, "forger")
    head, payload, sig = token.split(".")
    forged = f"{head}.{payload}.{sig[:-2]}xx"
    for credential in (forged, "eyJhbGciOiJIUzI1NiJ9.e30.bad"):
        with _client(gateway, credential) as c:
            r = c.get("/api/v1/agent")
            assert r.status_code == 401, r.text


def test_users_see_only_their_own_agents(gateway):
    _, alice = _signed_in(gateway, "iso-alice")
    _, bob = _signed_in(gateway, "iso-bob")
    with _client(gateway, alice) as c:
        agent_id = _agent(c, name="alice's")
    with _client(gateway, bob) as c:
        assert all(a["agent_id"] != agent_id for a in c.get("/api/v1/agent").json()["data"])
        r = c.post("/v1/chat/completions", json={"model": agent_id, "messages": [{"role": "user", "content": "x"}]})
        assert r.status_code == 404
        assert c.post("/api/v1/dialog", json={"agent_id": agent_id}).status_code == 404


def _coze_events(text: str) -> list[tuple[str, dict]]:
    out, event = [], None
    for line in text.splitlines():
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:") and event:
            raw = line[5:].strip()
            out.append((event, json.loads(raw) if raw.startswith("{") else raw))
    return out


def test_a_server_http_tool_is_called_for_the_model(gateway, http_tool, stub_upstream):
    base, calls = http_tool
    _, token = _signed_in(gateway, "tool-user")
    with _client(gateway, token) as c:
        r = c.post("/api/v1/tool/create", json={
            "zh_name": "天气", "en_name": "weather", "description": "Weather by city",
            "function": {"name": "get_weather", "description": "Weather by city",
                         "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
            "implementation": {"kind": "http", "method": "GET", "url": f"{base}/weather"}})
        assert r.status_code == 200, r.text
        tool_id = r.json()["data"]["tool_id"]
        agent_id = _agent(c, llm_id="stub/stub-model", tool_ids=[tool_id])

        # Coze shows the call and its result, then the answer, which quotes the tool's result.
        r = c.post("/v3/chat", json={"bot_id": agent_id, "user_id": "u1", "stream": True,
                                     "additional_messages": [{"role": "user", "content": "__tool__ weather?",
                                                              "content_type": "text"}]})
        assert r.status_code == 200, r.text
        events = _coze_events(r.text)
        completed = [d for e, d in events if e == "conversation.message.completed"]
        kinds = [m["type"] for m in completed]
        assert kinds == ["function_call", "tool_response", "answer"], kinds
        assert json.loads(completed[0]["content"])["name"] == "get_weather"
        assert "sunny, 21 C" in completed[1]["content"]
        assert "[tool]" in completed[2]["content"] and "sunny" in completed[2]["content"]
        assert calls[-1]["params"] == {"city": "Paris"}
        # ... and keeps them in the conversation
        conversation_id = completed[2]["conversation_id"]
        listed = c.post("/v1/conversation/message/list", params={"conversation_id": conversation_id},
                        json={"limit": 20}).json()["data"]
        assert {"function_call", "tool_response", "answer", "question"} <= {m["type"] for m in listed}

        # OpenAI streams the answer only: no tool chatter, no tool_calls for the client.
        r = c.post("/v1/chat/completions", json={"model": agent_id, "stream": True,
                                                 "messages": [{"role": "user", "content": "__tool__ weather?"}]})
        chunks = [json.loads(line[6:]) for line in r.text.splitlines()
                  if line.startswith("data: {")]
        assert not any(ch["choices"] and ch["choices"][0]["delta"].get("tool_calls") for ch in chunks)
        text = "".join((ch["choices"][0]["delta"].get("content") or "") for ch in chunks if ch["choices"])
        assert "sunny" in text
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_a_client_tool_beside_server_tools_goes_back_to_the_client(gateway, http_tool):
    base, _ = http_tool
    _, token = _signed_in(gateway, "mixed-user")
    with _client(gateway, token) as c:
        tool_id = c.post("/api/v1/tool/create", json={
            "en_name": "weather", "function": {"name": "get_weather"},
            "implementation": {"kind": "http", "url": f"{base}/weather"}}).json()["data"]["tool_id"]
        agent_id = _agent(c, llm_id="stub/stub-model", tool_ids=[tool_id])
        client_tool = {"type": "function", "function": {"name": "client_lookup", "parameters": {"type": "object"}}}
        r = c.post("/v1/chat/completions", json={"model": agent_id, "tools": [client_tool],
                                                 "messages": [{"role": "user", "content": "__tool__ go"}]})
        assert r.status_code == 200, r.text
        choice = r.json()["choices"][0]
        # The stub calls the first tool offered: the client's, which is the client's to run.
        assert choice["finish_reason"] == "tool_calls"
        assert choice["message"]["tool_calls"][0]["function"]["name"] == "client_lookup"


def test_an_mcp_tool_is_called_for_the_model(gateway, mcp_url):
    _, token = _signed_in(gateway, "mcp-user")
    with _client(gateway, token) as c:
        r = c.post("/api/v1/tool/create", json={
            "en_name": "forecast", "description": "Forecast by city",
            "function": {"name": "forecast", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
            "implementation": {"kind": "mcp", "url": mcp_url, "tool_name": "forecast"}})
        assert r.status_code == 200, r.text
        tool_id = r.json()["data"]["tool_id"]
        agent_id = _agent(c, llm_id="stub/stub-model", mcp_ids=[tool_id])
        r = c.post("/v1/chat/completions", json={"model": agent_id,
                                                 "messages": [{"role": "user", "content": "__tool__ forecast"}]})
        assert r.status_code == 200, r.text
        assert "MCP forecast for Paris: light rain" in r.json()["choices"][0]["message"]["content"]


def test_a_workflow_is_a_tool(gateway):
    from pathlib import Path

    hello = json.loads((Path(__file__).resolve().parents[2] / "examples/workflows/hello.json").read_text())
    _, token = _signed_in(gateway, "workflow-tool-user")
    with _client(gateway, token) as c:
        r = c.post("/v1/workflows", json=hello)
        assert r.status_code == 200, r.text
        workflow_id = r.json()["data"]["workflow_id"]
        impl = {"kind": "workflow", "workflow_id": workflow_id}
        # not published yet: the tool cannot work, so it is refused when saved
        r = c.post("/api/v1/tool/create", json={"en_name": "hello", "implementation": impl})
        assert r.status_code == 400 and "not published" in r.json()["status_message"], r.text
        assert c.post(f"/v1/workflows/{workflow_id}/publish", json={}).status_code == 200
        r = c.post("/api/v1/tool/create", json={
            "en_name": "hello", "function": {"name": "hello_workflow", "description": "Greets someone"},
            "implementation": impl})
        assert r.status_code == 200, r.text
        agent_id = _agent(c, llm_id="stub/stub-model", tool_ids=[r.json()["data"]["tool_id"]])
        r = c.post("/v1/chat/completions", json={"model": agent_id,
                                                 "messages": [{"role": "user", "content": "__tool__ greet"}]})
        assert r.status_code == 200, r.text
        answer = r.json()["choices"][0]["message"]["content"]
        assert "[tool]" in answer and "Hello, world!" in answer, answer
        # the run is recorded like any other
        runs = c.get("/v1/workflow/get_run_history", params={"workflow_id": workflow_id}).json()
        assert runs["code"] == 0, runs
