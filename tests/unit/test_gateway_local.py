"""The local gateway as an ASGI app: payload limit, authorizer cache and its flush, header hygiene."""

import asyncio
from pathlib import Path

import httpx

from agentgate.auth import cache as authorizer_cache
from agentgate.auth import management
from agentgate.local.gateway import build

ROOT = Path(__file__).resolve().parents[2]
PAT = "/api/permission_api/pat"


def _run(coro):
    return asyncio.run(coro)


async def _call(gateway, method, path, **kwargs):
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url="http://local") as client:
        return await client.request(method, path, **kwargs)


def test_bodies_over_api_gateways_limit_are_413(aws, monkeypatch):
    monkeypatch.setattr(authorizer_cache, "_local_hooks", [])
    gateway = build(ROOT / "template.yaml")
    _, key = management.create_key(management.CLI_ACTOR, "k", owner_id="o", scopes=["admin"])
    r = _run(_call(gateway, "POST", f"{PAT}/create_personal_access_token_and_permission",
                   headers={"Authorization": f"Bearer {key}", "content-type": "application/json"},
                   content=b"{" + b" " * (10 * 1024 * 1024 + 1) + b"}"))
    assert r.status_code == 413 and r.json()["code"] == 413


def test_cached_allow_survives_until_a_key_change_flushes_it(aws, monkeypatch):
    monkeypatch.setattr(authorizer_cache, "_local_hooks", [])
    gateway = build(ROOT / "template.yaml")
    item, key = management.create_key(management.CLI_ACTOR, "k", owner_id="o", scopes=["admin"])
    headers = {"Authorization": f"Bearer {key}"}
    assert _run(_call(gateway, "GET", f"{PAT}/list_personal_access_tokens", headers=headers)).status_code == 200

    # Changed behind the API's back (no flush): API Gateway would keep serving the cached allow.
    item.update(actions=[type(item).enabled.set(0)])
    assert _run(_call(gateway, "GET", f"{PAT}/list_personal_access_tokens", headers=headers)).status_code == 200

    authorizer_cache.flush("local", "prod")  # what the keys function does on every change
    r = _run(_call(gateway, "GET", f"{PAT}/list_personal_access_tokens", headers=headers))
    assert r.status_code == 401 and r.json()["msg"] == "api key disabled"
