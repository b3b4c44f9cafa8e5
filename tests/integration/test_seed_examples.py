"""The seeds' own examples against `agentgate dev`, as each seed writes them: seed 000's chosen key
and OpenAI loop, seed 002's requests/JavaScript calls (bot_id as a JSON number, the `query` form,
its SSE loop), seed 003's chosen key, requests and OpenAI calls, and its /health and /.
(Seed 004's AIFlowy calls: test_clients_http.py. Workflows are another issue's.)"""

from __future__ import annotations

import contextlib
import io
import json

import httpx
import pytest
from openai import OpenAI

pytestmark = pytest.mark.integration

OWNER = "seed-examples"


def _register(gateway, key: str, *extra: str) -> dict:
    done = gateway.cli("keys", "create", "--name", f"seed key {key}", "--owner", OWNER, "--key", key, *extra)
    assert done.returncode == 0, done.stderr
    assert "using http://" in done.stderr and "dev.json" in done.stderr  # found the gateway by itself
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def admin(gateway) -> str:
    return gateway.create_key(OWNER, ("admin",))


@pytest.fixture(scope="module")
def bots(gateway, admin) -> dict:
    """Seed 000's bot "main" and seed 003's "qwen-plus" (aliases), published."""
    out = {}
    with gateway.client(admin) as c:
        for alias in ("main", "qwen-plus"):
            r = c.post("/v1/bot/create", json={"name": alias, "model": "echo", "aliases": [alias]})
            bot_id = r.json()["data"]["bot_id"]
            assert c.post("/v1/bot/publish", json={"bot_id": bot_id}).status_code == 200
            out[alias] = bot_id
    return out


# ------------------------------------------------------------------------------------- seed 000


def test_seed000_chosen_key_curl_stream_and_python_loop(gateway, bots):
    weak = gateway.cli("keys", "create", "--name", "x", "--owner", OWNER, "--key", "your-api-key")
    assert weak.returncode == 1 and "16" in weak.stderr  # short keys need --allow-weak
    created = _register(gateway, "your-api-key", "--allow-weak", "--scopes", "chat")
    assert created["api_key"] == "your-api-key"

    # curl -X POST http://localhost:9527/api/v1/chat/completions ... "stream": true
    with httpx.stream("POST", f"{gateway.base_url}/api/v1/chat/completions",
                      headers={"Authorization": "Bearer your-api-key", "Content-Type": "application/json"},
                      json={"model": "main", "messages": [{"role": "user", "content": "你好"}], "stream": True}) as r:
        frames = [line[len("data: "):] for line in r.iter_lines() if line.startswith("data: ")]
    assert frames[-1] == "[DONE]"
    last = json.loads(frames[-2])
    assert last["choices"][0]["delta"] == {"content": ""} and last["choices"][0]["finish_reason"] == "stop"

    # the seed's Python SDK example, its loop verbatim
    client = OpenAI(api_key="your-api-key", base_url=f"{gateway.base_url}/api/v1")
    response = client.chat.completions.create(model="main", messages=[{"role": "user", "content": "你好"}],
                                              stream=True)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for chunk in response:
            print(chunk.choices[0].delta.content, end="")
    assert printed.getvalue() == "Echo: 你好"  # no trailing "None"


# ------------------------------------------------------------------------------------- seed 002


def test_seed002_python_requests_chat_and_stream_with_a_numeric_bot_id(gateway, admin, bots):
    headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
    bot_id = int(bots["main"])  # seed 002 passes bot_id as int64 (and its JavaScript as a Number)
    assert float(bot_id) == bot_id  # exact as a JavaScript Number
    result = httpx.post(f"{gateway.base_url}/v3/chat", headers=headers,
                        json={"bot_id": bot_id, "query": "你好,请介绍一下你的功能", "stream": False}).json()
    assert result["conversation_id"] and result["message"]["role"] == "assistant"
    assert result["message"]["content"].startswith("Echo: 你好,请介绍一下你的功能")
    assert set(result["message"]) == {"id", "role", "content", "created_at"}
    again = httpx.post(f"{gateway.base_url}/v3/chat", headers=headers,
                       json={"bot_id": bot_id, "query": "再说一次", "stream": False,
                             "conversation_id": result["conversation_id"]}).json()
    assert again["conversation_id"] == result["conversation_id"] and "memory: 2 earlier" in again["message"]["content"]

    # chat_stream(): its SSE loop, printing the content of every `type == 'answer'` event
    printed = []
    with httpx.stream("POST", f"{gateway.base_url}/v3/chat", headers={**headers, "Accept": "text/event-stream"},
                      json={"bot_id": bot_id, "query": "讲一个故事", "stream": True}) as response:
        for line in response.iter_lines():
            if line and line.startswith("data:"):
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                try:
                    event = json.loads(data)
                except json.JSONDecodeError:
                    continue
                if event.get("type") == "answer":
                    printed.append(event.get("content", ""))
    assert "".join(printed) == "Echo: 讲一个故事"  # the deltas, once


def test_seed002_bot_info_key_create_and_upload(gateway, admin, bots):
    headers = {"Authorization": f"Bearer {admin}"}
    info = httpx.get(f"{gateway.base_url}/v1/bot/get_online_info", params={"bot_id": int(bots["main"])},
                     headers=headers).json()
    assert info["bot_id"] == bots["main"] and info["name"] == "main" and info["version"] == "1"
    created = httpx.post(f"{gateway.base_url}/api/permission_api/pat/create_personal_access_token_and_permission",
                         headers=headers, json={"name": "my app", "expire": 7776000000}).json()
    assert created["expired_at"] - created["created_at"] == 7776000000  # the example's 90 days
    uploaded = httpx.post(f"{gateway.base_url}/v1/files/upload", headers=headers,
                          files={"file": ("notes.txt", b"hello", "text/plain")}).json()
    assert uploaded["code"] == 0 and uploaded["data"]["file_name"] == "notes.txt"


# ------------------------------------------------------------------------------------- seed 003


def test_seed003_chosen_key_requests_and_openai(gateway, bots):
    _register(gateway, "123tangledup-ai", "--allow-weak", "--scopes", "chat")  # 15 characters
    data = {"model": "qwen-plus", "messages": [{"role": "system", "content": "You are a helpful assistant."},
                                               {"role": "user", "content": "你是谁?"}]}
    body = httpx.post(f"{gateway.base_url}/v1/chat/completions", json=data,
                      headers={"Authorization": "Bearer 123tangledup-ai", "Content-Type": "application/json"}).json()
    assert body["object"] == "chat.completion" and body["model"] == "qwen-plus"
    assert body["choices"][0]["message"]["content"].startswith("Echo: 你是谁?")
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]

    client = OpenAI(api_key="123tangledup-ai", base_url=f"{gateway.base_url}/v1")
    response = client.chat.completions.create(model="qwen-plus", messages=data["messages"])
    assert response.choices[0].message.content.startswith("Echo: 你是谁?")
    assert 'system: "You are a helpful assistant."' in response.choices[0].message.content

    assert httpx.get(f"{gateway.base_url}/health").json() == {"status": "healthy"}
    about = httpx.get(f"{gateway.base_url}/").json()
    assert {"message", "version", "description", "authentication", "endpoints"} <= set(about)
    assert "/v1/chat/completions" in about["endpoints"] and "/health" in about["endpoints"]
