"""The access record: built in one place, never carries a key; the local gateway logs one per request."""

import asyncio
import json
from pathlib import Path

import httpx

from agentgate import access_log
from agentgate.auth import cache as authorizer_cache
from agentgate.auth import management
from agentgate.local.gateway import build

ROOT = Path(__file__).resolve().parents[2]
PAT = "/api/permission_api/pat"


def test_record_fields_line_and_json():
    record = access_log.begin("post", "/v3/chat?conversation_id=1", source_ip="203.0.113.9", request_id="r1")
    record.set(key_id="11", owner_id="alice", bot_id="22", api_key="pat_secret", authorization="Bearer x",
               tokens=7, route="chat")
    record.finish(200)
    data = record.as_dict()
    assert data["method"] == "POST" and data["path"] == "/v3/chat?conversation_id=1"
    assert data["status"] == 200 and data["latency_ms"] >= 0 and data["time"].endswith("Z")
    assert data["key_id"] == "11" and data["owner_id"] == "alice" and data["bot_id"] == "22"
    assert data["tokens"] == 7 and data["route"] == "chat" and data["request_id"] == "r1"
    assert "pat_secret" not in record.json_line() and "Bearer" not in record.json_line()
    assert json.loads(record.json_line()) == data
    line = record.line()
    assert "POST /v3/chat?conversation_id=1 200 " in line and "key=11" in line and "owner=alice" in line
    assert "pat_secret" not in line


def test_annotate_reaches_the_bound_record_and_is_a_noop_without_one():
    access_log.annotate(bot_id="nobody")  # nothing bound: nothing happens
    record = access_log.begin("GET", "/x")
    token = access_log.bind(record)

    async def inner():
        await asyncio.to_thread(access_log.annotate, bot_id="9")  # another thread of the same request
        access_log.first_token()

    asyncio.run(inner())
    access_log.unbind(token)
    access_log.annotate(tokens=5)  # unbound again
    assert record.bot_id == "9" and record.ttft_ms is not None and record.tokens is None


async def _call(gateway, method, path, **kwargs):
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url="http://local") as client:
        return await client.request(method, path, **kwargs)


def test_the_local_gateway_logs_each_request_with_its_key_id_never_the_key(aws, monkeypatch):
    monkeypatch.setattr(authorizer_cache, "_local_hooks", [])
    records = []
    gateway = build(ROOT / "template.yaml", access_log_sink=records.append)
    item, key = management.create_key(management.CLI_ACTOR, "k", owner_id="o", scopes=["admin"])
    headers = {"Authorization": f"Bearer {key}"}
    assert asyncio.run(_call(gateway, "GET", f"{PAT}/list_personal_access_tokens?page=1",
                             headers=headers)).status_code == 200
    r = asyncio.run(_call(gateway, "GET", "/v9/nothing", headers=headers))
    assert r.status_code == 404
    asyncio.run(_call(gateway, "GET", f"{PAT}/list_personal_access_tokens", headers={"Authorization": "pat_nope"}))
    first, missing, denied = records
    assert first.path == f"{PAT}/list_personal_access_tokens?page=1" and first.status == 200
    assert first.key_id == item.id and first.owner_id == "o" and first.latency_ms is not None
    assert missing.status == 404 and missing.method == "GET" and missing.path == "/v9/nothing"
    assert denied.status == 401 and denied.key_id is None
    assert all(key not in r.line() and key not in r.json_line() for r in records)


def test_gateway_errors_name_the_path_the_client_sent(aws, monkeypatch):
    monkeypatch.setattr(authorizer_cache, "_local_hooks", [])
    gateway = build(ROOT / "template.yaml")
    _, key = management.create_key(management.CLI_ACTOR, "k", owner_id="o", scopes=["admin"])
    body = asyncio.run(_call(gateway, "POST", "/v1/nothing/here", headers={"Authorization": key})).json()
    assert body["msg"].startswith("no such endpoint") and "/prod" not in json.dumps(body)  # never the stage
