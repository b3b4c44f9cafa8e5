"""The seeds' own examples against `agentgate dev`, as each seed writes them.

Seed 000: its chosen key, the curl calls (streamed, blocking, `sessionId` memory, sessions/clear),
its Python loop verbatim, and the HTTP its JavaScript (openai-node) and Go (go-openai) examples
send, read the way those clients read it. Seed 002: its Python examples verbatim
(seed_examples/seed002_python.py, with the seed's own key registered), its curl calls, the key
API with numeric ids, conversation management, its JavaScript/TypeScript (axios) calls reproduced
over httpx (bot_id as a JSON number, the `query` form, the SSE loops, a FormData upload), and its
error table. Seed 003: its chosen key, requests and OpenAI calls, /health and /. Seed 004: its two
externalChat bodies as written. (More AIFlowy: test_clients_http.py; the seeds' workflow calls:
test_workflows_gateway.py.)"""

from __future__ import annotations

import contextlib
import io
import importlib.util
import json
from pathlib import Path

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


DONE = object()


def _seed002_data_line(line: str):
    """What each of seed 002's SSE loops (Python, JavaScript, TypeScript alike) takes from a line:
    DONE for `data: [DONE]`, the JSON of any other `data:` line, None for the rest (skipped)."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if data == "[DONE]":
        return DONE
    try:
        return json.loads(data)
    except json.JSONDecodeError:
        return None


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


@pytest.fixture(scope="module")
def seed000_key(gateway) -> str:
    """Seed 000's `your-api-key`, registered as the operator would."""
    weak = gateway.cli("keys", "create", "--name", "x", "--owner", OWNER, "--key", "your-api-key")
    assert weak.returncode == 1 and "16" in weak.stderr  # short keys need --allow-weak
    created = _register(gateway, "your-api-key", "--allow-weak", "--scopes", "chat")
    assert created["api_key"] == "your-api-key"
    return "your-api-key"


def test_seed000_chosen_key_curl_stream_and_python_loop(gateway, bots, seed000_key):

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
            event = _seed002_data_line(line)
            if event is DONE:
                break
            if isinstance(event, dict) and event.get("type") == "answer":
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


# ------------------------------------------------------------------------------------- helpers

def _js_json(obj) -> bytes:
    """JSON.stringify(obj): no spaces, non-ASCII as is."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _sse_events(lines) -> list[tuple[str | None, str]]:
    """(event, data) per SSE event, as the WHATWG parser (openai-node's decoder) reads them."""
    events, event, data = [], None, []
    for line in lines:
        if line == "":
            if data:
                events.append((event, "\n".join(data)))
            event, data = None, []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
    return events


# ------------------------------------------------------------------------------------- seed 000 (more)


def test_seed000_curl_blocking_answer_session_memory_and_clear(gateway, bots, seed000_key):
    url = f"{gateway.base_url}/api/v1/chat/completions"
    headers = {"Authorization": f"Bearer {seed000_key}", "Content-Type": "application/json"}
    # the blocking answer: the seed's 非流式响应
    body = httpx.post(url, headers=headers, content=b'{"model": "main", "messages": [{"role": "user", '
                                                      b'"content": "\\u4f60\\u597d"}]}').json()
    assert body["id"].startswith("chatcmpl-") and body["object"] == "chat.completion"
    assert isinstance(body["created"], int) and body["model"] == "main"
    choice = body["choices"][0]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    assert choice["message"] == {"role": "assistant", "content": "Echo: 你好"}

    # 会话管理: the first request, then the later one (the agent remembers the context)
    first = httpx.post(url, headers=headers, json={"model": "main", "messages": [{"role": "user", "content": "我叫张三"}],
                                                   "sessionId": "session-001"}).json()
    assert first["choices"][0]["message"]["content"] == "Echo: 我叫张三"
    later = httpx.post(url, headers=headers, json={"model": "main",
                                                   "messages": [{"role": "user", "content": "我叫什么名字?"}],
                                                   "sessionId": "session-001"}).json()
    assert later["choices"][0]["message"]["content"] == \
        'Echo: 我叫什么名字? | memory: 2 earlier messages, first: "我叫张三"'
    # 清除会话
    r = httpx.post(f"{gateway.base_url}/api/v1/sessions/clear", headers=headers,
                   json={"agentId": "main", "sessionKey": "session-001"})
    assert r.status_code == 200 and r.json()["success"] is True
    after = httpx.post(url, headers=headers, json={"model": "main",
                                                   "messages": [{"role": "user", "content": "我叫什么名字?"}],
                                                   "sessionId": "session-001"}).json()
    assert after["choices"][0]["message"]["content"] == "Echo: 我叫什么名字?"


def test_seed000_javascript_openai_node_stream(gateway, bots, seed000_key):
    # What openai-node 4.x sends for the seed's `client.chat.completions.create({..., stream: true})`
    headers = {"Authorization": f"Bearer {seed000_key}", "Content-Type": "application/json",
               "Accept": "application/json", "User-Agent": "OpenAI/JS 4.104.0", "X-Stainless-Lang": "js",
               "X-Stainless-Package-Version": "4.104.0", "X-Stainless-Runtime": "node",
               "X-Stainless-Retry-Count": "0"}
    body = _js_json({"model": "main", "messages": [{"role": "user", "content": "你好"}], "stream": True})
    with httpx.stream("POST", f"{gateway.base_url}/api/v1/chat/completions", headers=headers, content=body) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = _sse_events(r.iter_lines())
    # its Stream: [DONE] ends it; an event-less message is JSON.parse'd (an `error` in it would throw)
    out, done = "", False
    for event, data in events:
        if done:
            continue
        if data.startswith("[DONE]"):
            done = True
            continue
        assert event is None
        chunk = json.loads(data)
        assert not chunk.get("error")
        # process.stdout.write(chunk.choices[0]?.delta?.content || '')
        choices = chunk.get("choices") or []
        out += ((choices[0].get("delta") or {}).get("content") or "") if choices else ""
    assert done and out == "Echo: 你好"


def test_seed000_go_openai_stream(gateway, bots, seed000_key):
    # What sashabaranov/go-openai sends for CreateChatCompletionStream, read as its stream reader
    # does: lines matching ^data:\s* are messages, "[DONE]" is io.EOF, anything else is skipped
    # (at most 300 in a row); the seed then prints response.Choices[0].Delta.Content (an empty
    # Choices would panic).
    import re

    headers = {"Authorization": f"Bearer {seed000_key}", "Content-Type": "application/json",
               "Accept": "text/event-stream", "Cache-Control": "no-cache", "Connection": "keep-alive"}
    body = _js_json({"model": "main", "messages": [{"role": "user", "content": "你好"}], "stream": True})
    header_data = re.compile(r"^data:\s*")
    out, skipped, finished = "", 0, False
    with httpx.stream("POST", f"{gateway.base_url}/api/v1/chat/completions", headers=headers, content=body) as r:
        assert r.status_code == 200
        for raw in r.iter_lines():
            line = raw.strip()
            if not header_data.match(line) or re.match(r'^data:\s*{"error":', line):
                skipped += 1
                assert skipped <= 300
                continue
            skipped = 0
            payload = header_data.sub("", line)
            if payload == "[DONE]":
                finished = True
                break
            response = json.loads(payload)
            assert isinstance(response["id"], str) and isinstance(response["created"], int)
            out += response["choices"][0]["delta"].get("content") or ""
    assert finished and out == "Echo: 你好"


# ------------------------------------------------------------------------------------- seed 002 (more)

SEED002_KEY = "pat_abc123def456ghi789jkl012mno345pqr678stu901vwx234yz"
SEED002_PY = Path(__file__).parent / "seed_examples" / "seed002_python.py"


@pytest.fixture(scope="module")
def seed002(gateway) -> dict:
    """Seed 002's Python examples (their module's namespace), its own API_KEY registered (chat)."""
    created = _register(gateway, SEED002_KEY, "--scopes", "chat")
    assert created["api_key"] == SEED002_KEY
    spec = importlib.util.spec_from_file_location("seed002_python", SEED002_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not as __main__: the tests make the seed's calls
    assert module.API_KEY == SEED002_KEY
    module.API_BASE_URL = gateway.base_url
    return vars(module)


def test_seed002_python_examples_verbatim(gateway, bots, seed002, tmp_path):
    bot_id = int(bots["main"])
    # 1. 非流式调用, then again in its conversation
    result = seed002["chat"](bot_id=bot_id, query="你好,请介绍一下你的功能")
    assert result["message"]["role"] == "assistant" and result["message"]["content"] == "Echo: 你好,请介绍一下你的功能"
    again = seed002["chat"](bot_id=bot_id, query="再说一次", conversation_id=result["conversation_id"])
    assert again["conversation_id"] == result["conversation_id"]
    assert 'memory: 2 earlier messages, first: "你好,请介绍一下你的功能"' in again["message"]["content"]
    # 2. 流式调用: its __main__ loop
    printed = "".join(event.get("content", "") for event in seed002["chat_stream"](bot_id=bot_id, query="讲一个故事")
                      if event.get("type") == "answer")
    assert printed == "Echo: 讲一个故事"

    # 3. SDK 封装示例: every method
    client = seed002["CozePlusClient"](api_key=SEED002_KEY, base_url=gateway.base_url)
    assert client.chat(bot_id=bot_id, query="你好")["message"]["content"] == "Echo: 你好"
    streamed = "".join(e.get("content", "") for e in client.chat(bot_id=bot_id, query="讲个故事", stream=True)
                       if e.get("type") == "answer")
    assert streamed == "Echo: 讲个故事"
    info = client.get_bot_info(bot_id)
    assert info["bot_id"] == bots["main"] and info["name"] == "main" and info["version"] == "1"
    assert {"description", "icon_url", "prompt", "created_at", "updated_at"} <= set(info)
    # its upload keeps the session's `Content-Type: application/json` (requests does): still a file
    path = tmp_path / "document.pdf"
    path.write_bytes(b"%PDF-1.4 seed 002\n%%EOF\n")
    uploaded = client.upload_file(str(path))
    assert uploaded["code"] == 0 and uploaded["data"]["file_name"] == "document.pdf"
    assert uploaded["data"]["file_size"] == path.stat().st_size and uploaded["data"]["file_id"]
    conversation = client.create_conversation(bot_id, user_id="user_001")["data"]
    other = client.create_conversation(bot_id, user_id="user_002")["data"]
    listed = client.list_conversations(bot_id, user_id="user_001")["data"]
    ids = [c["id"] for c in listed.get("conversations") or listed.get("items")]
    assert conversation["id"] in ids and other["id"] not in ids
    reply = client.chat(bot_id=bot_id, query="我叫张三", conversation_id=conversation["id"], user_id="user_001")
    assert reply["conversation_id"] == conversation["id"]
    reply = client.chat(bot_id=bot_id, query="我叫什么?", conversation_id=conversation["id"], user_id="user_001")
    assert 'memory: 2 earlier messages, first: "我叫张三"' in reply["message"]["content"]


def test_seed002_curl_examples(gateway, bots, seed002):
    headers = {"Authorization": f"Bearer {SEED002_KEY}", "Content-Type": "application/json"}
    bot_id = int(bots["main"])
    # 2. 使用 API Key 调用聊天接口 (stream false, with user_id)
    r = httpx.post(f"{gateway.base_url}/v3/chat", headers=headers,
                   content=('{"bot_id": %d, "user_id": "user_001", "stream": false, '
                            '"query": "你好,请介绍一下你的功能"}' % bot_id).encode())
    assert r.status_code == 200 and r.json()["message"]["content"] == "Echo: 你好,请介绍一下你的功能"
    # 3. 流式调用示例 (no user_id), the SSE the seed shows
    with httpx.stream("POST", f"{gateway.base_url}/v3/chat", headers={**headers, "Accept": "text/event-stream"},
                      content=('{"bot_id": %d, "stream": true, "query": "讲一个故事"}' % bot_id).encode()) as r:
        assert r.status_code == 200
        events = _sse_events(r.iter_lines())
    deltas = [json.loads(d) for e, d in events if e == "conversation.message.delta"]
    assert deltas and all(d["type"] == "answer" and d["role"] == "assistant" for d in deltas)
    completed = [json.loads(d) for e, d in events if e == "conversation.message.completed"]
    assert len(completed) == 1 and completed[0]["content"] == "".join(d["content"] for d in deltas)
    assert {"id", "conversation_id", "role", "content", "created_at"} <= set(completed[0])
    assert events[-1] == ("done", "[DONE]")


def test_seed002_key_api_with_numeric_ids(gateway, admin):
    pat = f"{gateway.base_url}/api/permission_api/pat"
    headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
    created = httpx.post(f"{pat}/create_personal_access_token_and_permission", headers=headers,
                         json={"name": "My API Key", "expire": 7776000000}).json()
    assert {"id", "name", "api_key", "user_id", "expired_at", "created_at", "last_used_at"} <= set(created)
    key, key_id = created["api_key"], int(created["id"])  # the seed's ids are int64
    listed = httpx.get(f"{pat}/list_personal_access_tokens?page=1&size=10", headers=headers).json()
    assert {"api_keys", "has_more", "total"} <= set(listed) and key not in json.dumps(listed)
    got = httpx.get(f"{pat}/get_personal_access_token_and_permission?id={key_id}", headers=headers).json()
    assert got["name"] == "My API Key" and got["api_key"].startswith("pat_*")
    updated = httpx.post(f"{pat}/update_personal_access_token_and_permission", headers=headers,
                         json={"id": key_id, "name": "Updated API Key Name"}).json()
    assert updated["name"] == "Updated API Key Name"
    assert httpx.get(f"{gateway.base_url}/v1/bots", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    r = httpx.post(f"{pat}/delete_personal_access_token_and_permission", headers=headers, json={"id": key_id})
    assert r.status_code == 200
    # 删除后该 API Key 立即失效 (the seed's 401 body)
    r = httpx.get(f"{gateway.base_url}/v1/bots", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 401 and r.json()["code"] == 401 and r.json()["message"] == "api key invalid"
    assert r.json()["request_id"]


def test_seed002_conversation_management(gateway, bots, seed002):
    headers = {"Authorization": f"Bearer {SEED002_KEY}"}
    bot_id = int(bots["main"])
    with httpx.Client(base_url=gateway.base_url, headers=headers, timeout=30) as c:
        # 5.1 创建会话
        conv = c.post("/v1/conversation/create", json={"bot_id": bot_id, "user_id": "user_001"}).json()["data"]
        cid = conv["id"]
        assert conv["bot_id"] == bots["main"]
        c.post("/v3/chat", json={"bot_id": bot_id, "user_id": "user_001", "stream": False, "query": "记住我",
                                 "conversation_id": cid})
        # 5.2 获取会话列表
        listed = c.get("/v1/conversations", params={"bot_id": bot_id, "user_id": "user_001"}).json()["data"]
        assert cid in [x["id"] for x in listed.get("conversations") or listed.get("items")]
        # 5.3 获取会话详情
        assert c.get(f"/v1/conversations/{cid}").json()["data"]["id"] == cid
        # 5.4 清空会话历史: the next turn remembers nothing
        assert c.post(f"/v1/conversations/{cid}/clear").json()["code"] == 0
        reply = c.post("/v3/chat", json={"bot_id": bot_id, "stream": False, "query": "还记得吗",
                                         "conversation_id": cid}).json()
        assert reply["message"]["content"] == "Echo: 还记得吗"
        # 5.5 删除会话
        assert c.delete(f"/v1/conversations/{cid}").json()["code"] == 0
        assert c.get(f"/v1/conversations/{cid}").status_code == 404


def _axios_headers(extra: dict | None = None) -> dict:
    return {"Accept": "application/json, text/plain, */*", "Content-Type": "application/json",
            "User-Agent": "axios/1.7.9", "Accept-Encoding": "gzip, compress, deflate, br",
            "Authorization": f"Bearer {SEED002_KEY}", **(extra or {})}


def test_seed002_javascript_axios_chat_and_stream(gateway, bots, seed002):
    bot_id = int(bots["main"])  # a JavaScript Number: exact below 2^53
    # 1. 非流式调用: axios.post(url, payload, { headers }), response.data
    r = httpx.post(f"{gateway.base_url}/v3/chat", headers=_axios_headers(),
                   content=_js_json({"bot_id": bot_id, "query": "你好,请介绍一下你的功能", "stream": False}))
    assert r.status_code == 200 and r.json()["message"]["content"] == "Echo: 你好,请介绍一下你的功能"
    # 2. 流式调用: responseType 'stream', each chunk split on '\n' on its own
    written = ""
    with httpx.stream("POST", f"{gateway.base_url}/v3/chat", headers=_axios_headers({"Accept": "text/event-stream"}),
                      content=_js_json({"bot_id": bot_id, "query": "讲一个故事", "stream": True})) as r:
        assert r.status_code == 200
        for chunk in r.iter_bytes():
            for line in chunk.decode("utf-8", "replace").split("\n"):
                event = _seed002_data_line(line)
                if event is DONE:
                    break  # `return` from the chunk's callback
                if isinstance(event, dict) and event.get("type") == "answer":
                    written += event.get("content") or ""
    assert written == "Echo: 讲一个故事"


def test_seed002_typescript_client(gateway, bots, seed002):
    bot_id = int(bots["main"])
    base = gateway.base_url
    # chat(request): post('/v3/chat', {...request, stream: false}) -> ChatResponse
    r = httpx.post(f"{base}/v3/chat", headers=_axios_headers(),
                   content=_js_json({"bot_id": bot_id, "query": "你好", "stream": False}))
    result = r.json()
    assert isinstance(result["conversation_id"], str)
    assert set(result["message"]) == {"id", "role", "content", "created_at"}
    assert isinstance(result["message"]["created_at"], int) and result["message"]["content"] == "Echo: 你好"
    # chatStream(request): a buffer of lines across chunks
    written, buffer, done = "", "", False
    with httpx.stream("POST", f"{base}/v3/chat", headers=_axios_headers({"Accept": "text/event-stream"}),
                      content=_js_json({"bot_id": bot_id, "query": "讲个故事", "stream": True})) as r:
        for chunk in r.iter_text():
            buffer += chunk
            lines = buffer.split("\n")
            buffer = lines.pop() or ""
            for line in lines:
                event = _seed002_data_line(line)
                if event is DONE:
                    done = True
                    break
                if isinstance(event, dict) and event.get("type") == "answer":
                    written += event.get("content") or ""
            if done:
                break
    assert done and written == "Echo: 讲个故事"
    # getBotInfo(botId): get('/v1/bot/get_online_info', { params: { bot_id } }) -> BotInfo
    info = httpx.get(f"{base}/v1/bot/get_online_info?bot_id={bot_id}", headers=_axios_headers()).json()
    assert info["bot_id"] == str(bot_id) and info["name"] == "main" and info["version"] == "1"
    assert {"description", "icon_url", "created_at", "updated_at"} <= set(info)
    # uploadFile(file, filename): FormData with a Blob, as axios 1.x streams it in Node
    boundary = "axios-1.7.9-boundary-Tq3UaZ1cEYgnHsOUmYkC1mTl0"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"notes.txt\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + b"hello from node\n" + \
        f"\r\n--{boundary}--\r\n\r\n".encode()
    r = httpx.post(f"{base}/v1/files/upload", content=body,
                   headers=_axios_headers({"Content-Type": f"multipart/form-data; boundary={boundary}"}))
    assert r.status_code == 200 and r.json()["data"]["file_name"] == "notes.txt"
    assert r.json()["data"]["file_size"] == len(b"hello from node\n")


def test_seed002_error_table(gateway, admin, bots, seed002):
    headers = {"Authorization": f"Bearer {SEED002_KEY}", "Content-Type": "application/json"}
    # 1. 鉴权失败
    r = httpx.post(f"{gateway.base_url}/v3/chat", headers={"Authorization": "Bearer pat_wrong"},
                   json={"bot_id": int(bots["main"]), "query": "你好"})
    assert r.status_code == 401 and r.json()["code"] == 401 and r.json()["message"] == "api key invalid"
    # 3. Bot 不存在或未发布: an unknown id, and a draft never published
    with gateway.client(admin) as c:
        draft = c.post("/v1/bot/create", json={"name": "draft", "model": "echo"}).json()["data"]["bot_id"]
    for bot_id in (123456, int(draft)):
        r = httpx.post(f"{gateway.base_url}/v3/chat", headers=headers,
                       json={"bot_id": bot_id, "user_id": "user_001", "stream": False, "query": "你好"})
        assert r.status_code == 404
        assert r.json()["code"] == 404 and r.json()["message"] == "bot not found or not published"
        assert r.json()["request_id"]
    # 4. 参数验证失败
    r = httpx.post(f"{gateway.base_url}/v3/chat", headers=headers, json={"user_id": "user_001", "query": "你好"})
    assert r.status_code == 422 and r.json()["code"] == 422 and r.json()["message"] == "bot id is required"


# ------------------------------------------------------------------------------------- seed 004


def test_seed004_external_chat_bodies_as_written(gateway, admin, bots):
    headers = {"Authorization": admin}  # Headers: { Authorization: apiKey }
    url = f"{gateway.base_url}/api/v1/aiBot/externalChat"
    # 默认请求方式以 JSON格式返回: the seed's first body has no `stream`
    r = httpx.post(url, headers=headers, json={"messages": [
        {"role": "user", "content": "你好"}, {"role": "assistant", "content": "你好我是科大讯飞模型"},
        {"role": "user", "content": "帮我翻译 what's your name ?"}], "botId": bots["main"]})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["status"] == "END" and set(body["usage"]) == {"completionTokens", "promptTokens", "totalTokens"}
    assert body["created"] > 10**12  # milliseconds
    assert body["choices"]["index"] == 0 and body["choices"]["message"]["role"] == "assistant"
    assert body["choices"]["message"]["content"].startswith("Echo: 帮我翻译 what's your name ? | memory: 2 earlier")
    # stream 格式返回
    with httpx.stream("POST", url, headers=headers, json={"stream": True, "messages": [
            {"role": "user", "content": "你好"}, {"role": "assistant", "content": "你好我是科大讯飞模型"},
            {"role": "user", "content": "你叫什么名字?"}], "botId": bots["main"]}) as r:
        frames = [json.loads(d) for _, d in _sse_events(r.iter_lines())]
    statuses = [f["status"] for f in frames]
    assert statuses[0] == "START" and statuses[-1] == "END" and set(statuses[1:-1]) <= {"MIDDLE"}
    assert all(f["choices"]["index"] == 0 and f["choices"]["delta"]["role"] == "assistant" and f["created"] > 10**12
               for f in frames)
    assert "".join(f["choices"]["delta"]["content"] for f in frames).startswith("Echo: 你叫什么名字?")
