"""Expiry is exact on every path, whatever the authorizer cache holds (issue 7, point 1).

The authorizer's decision is cached per Authorization header for the stage's TTL; its context
carries the key's `expired_at`, and the one principal reader refuses an expired principal with
the authorizer's own 401 "api key expired", in the caller's protocol shape.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from mangum import Mangum

from agentgate.api import chat as chat_api
from agentgate.api import keys as keys_api
from agentgate.auth import cache as authorizer_cache
from agentgate.auth import management
from agentgate.auth.principal import Principal
from agentgate.ids import now_ms
from agentgate.local.cli import main as cli_main
from agentgate.local.gateway import build
from agentgate.store import keys as key_store

ROOT = Path(__file__).resolve().parents[2]
PAT = "/api/permission_api/pat"
PAST = 1_000  # 1 s after the epoch


def test_the_context_carries_expired_at_and_reads_back_from_strings():
    p = Principal(key_id="1", owner_id="o", scopes=("chat",), expired_at=12345)
    ctx = p.to_context()
    assert ctx["expired_at"] == 12345
    # API Gateway may hand numbers over as strings; the local gateway always does.
    assert Principal.from_context({k: str(v) for k, v in ctx.items()}) == p
    assert Principal.from_context({"key_id": "1", "owner_id": "o", "scopes": "chat"}).expired_at == 0
    assert p.refusal(12344) is None and p.refusal(12345) == "api key expired"
    assert Principal(key_id="1", owner_id="o").refusal(now_ms()) is None  # 0 = never


@pytest.mark.parametrize("expired_at", [PAST, str(PAST)])
def test_every_protocol_refuses_an_expired_principal_in_its_shape(aws, as_owner, expired_at):
    headers = as_owner("alice", "admin", expired_at=expired_at)
    chat = TestClient(chat_api.app)
    keys = TestClient(keys_api.app)

    r = chat.post("/v1/chat/completions", headers=headers, json={"model": "m", "messages": []})
    assert r.status_code == 401
    assert r.json()["error"]["message"] == "api key expired"
    assert r.json()["error"]["type"] == "authentication_error"

    r = chat.post("/v3/chat", headers=headers, json={"bot_id": "1", "user_id": "u", "stream": True})
    assert r.status_code == 401 and r.json()["code"] == 401 and r.json()["msg"] == "api key expired"

    r = chat.post("/api/v1/chat", headers=headers, json={"user_input": "hi"})
    assert r.status_code == 401 and r.json()["status_message"] == "api key expired"

    r = chat.post("/api/v1/aiBot/externalChat", headers=headers, json={"botId": "1", "prompt": "hi"})
    assert r.status_code == 401 and r.json()["errorCode"] == 401 and r.json()["message"] == "api key expired"

    r = keys.get(f"{PAT}/list_personal_access_tokens", headers=headers)
    assert r.status_code == 401 and r.json()["message"] == "api key expired"


def test_an_unexpired_principal_passes(aws, as_owner):
    headers = as_owner("alice", "admin", expired_at=now_ms() + 60_000)
    assert TestClient(keys_api.app).get(f"{PAT}/list_personal_access_tokens", headers=headers).status_code == 200


def test_buffered_functions_refuse_it_too(aws):
    """Mangum's aws.event: the REST proxy event's requestContext.authorizer."""
    handler = Mangum(keys_api.app, lifespan="off")
    event = json.loads((ROOT / "events" / "keys-list.json").read_text())
    event["requestContext"]["authorizer"]["expired_at"] = str(PAST)
    result = handler(event, None)
    assert result["statusCode"] == 401 and json.loads(result["body"])["msg"] == "api key expired"


def _call(gateway, method, path, **kwargs):
    async def go():
        transport = httpx.ASGITransport(app=gateway)
        async with httpx.AsyncClient(transport=transport, base_url="http://local") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


def test_the_local_gateways_cached_allow_stops_at_expiry(aws, monkeypatch):
    monkeypatch.setattr(authorizer_cache, "_local_hooks", [])
    gateway = build(ROOT / "template.yaml")
    assert gateway.auth_cache.ttl >= 60  # the template caches for minutes
    item, key = management.create_key(management.CLI_ACTOR, "k", owner_id="o", scopes=["admin"], expire_ms=1500)
    headers = {"Authorization": f"Bearer {key}"}
    assert _call(gateway, "GET", f"{PAT}/list_personal_access_tokens", headers=headers).status_code == 200
    assert len(gateway.auth_cache) == 1
    time.sleep(max(0.0, (item.expired_at - now_ms()) / 1000) + 0.05)
    r = _call(gateway, "GET", f"{PAT}/list_personal_access_tokens", headers=headers)
    assert r.status_code == 401 and r.json()["msg"] == "api key expired"


def _admin(expire_ms: int):
    item, key = management.create_key(management.CLI_ACTOR, "parent", owner_id="alice", scopes=["admin"],
                                      expire_ms=expire_ms)
    return item, {"x-amzn-request-context": json.dumps({
        "requestId": "r", "apiId": "local", "stage": "test",
        "authorizer": {"key_id": item.id, "owner_id": "alice", "scopes": "admin",
                       "expired_at": item.expired_at}})}


def test_a_child_key_never_outlives_its_creator(aws):
    parent, headers = _admin(3_600_000)
    client = TestClient(keys_api.app)
    create = f"{PAT}/create_personal_access_token_and_permission"

    r = client.post(create, headers=headers, json={"name": "forever", "expire": 0, "scopes": ["admin"]})
    body = r.json()
    assert r.status_code == 200 and body["expired_at"] == parent.expired_at
    assert body["expire_capped"] is True and "capped" in body["expire_note"]
    assert key_store.find_by_id(body["id"]).expired_at == parent.expired_at

    r = client.post(create, headers=headers, json={"name": "longer", "expire": 7_200_000})
    assert r.json()["expired_at"] == parent.expired_at and r.json()["expire_capped"] is True

    r = client.post(create, headers=headers, json={"name": "shorter", "expire": 60_000})
    body = r.json()
    assert body["expire_capped"] is False and body["expired_at"] == body["created_at"] + 60_000


def test_a_key_never_grants_scopes_it_lacks(aws, as_owner):
    r = TestClient(keys_api.app).post(f"{PAT}/create_personal_access_token_and_permission",
                                      headers=as_owner("alice", "admin"), json={"name": "x", "scopes": ["root"]})
    assert r.status_code == 403 and "root" in r.json()["msg"]


def test_cli_revoke_says_how_long_a_deployed_stage_may_still_serve_the_key(aws, capsys):
    item, _ = management.create_key(management.CLI_ACTOR, "k", owner_id="acme")
    assert cli_main(["keys", "revoke", "--id", item.id]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["deleted"] is True and out["cached_for_up_to_s"] == 300
    assert "300 s" in captured.err and "--api-id" in captured.err


def test_cli_revoke_flushes_the_named_stage(aws, capsys, monkeypatch):
    calls = []

    class FakeApiGateway:
        def flush_stage_authorizers_cache(self, restApiId, stageName):  # noqa: N803 - boto3's names
            calls.append((restApiId, stageName))

    import boto3

    monkeypatch.setattr(authorizer_cache, "_apigateway", None)
    monkeypatch.setattr(boto3, "client", lambda name, **kw: FakeApiGateway())
    item, _ = management.create_key(management.CLI_ACTOR, "k", owner_id="acme")
    assert cli_main(["keys", "revoke", "--id", item.id, "--api-id", "abc123", "--stage", "prod"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert calls == [("abc123", "prod")] and out["authorizer_cache"] == "flushed"
    assert "cached_for_up_to_s" not in out
