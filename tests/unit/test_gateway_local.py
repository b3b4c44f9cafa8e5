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


def test_gateway_responses_come_from_the_apis_property_with_their_own_status(aws, monkeypatch):
    monkeypatch.setattr(authorizer_cache, "_local_hooks", [])
    gateway = build(ROOT / "template.yaml")
    assert gateway.api.responses["THROTTLED"].status == 429  # read from AgentgateApi.GatewayResponses
    r = _run(_call(gateway, "GET", "/v1/nowhere"))
    assert r.status_code == 404 and r.json()["code"] == 404 and r.json()["error"]["code"] == 404
    assert r.headers["x-tt-logid"] == r.json()["request_id"]
    assert r.headers["access-control-allow-origin"] == "*"  # the CorsAllowOrigin parameter's default
    r = _run(_call(gateway, "GET", "/v1/bots"))  # no key: UNAUTHORIZED, before any function runs
    assert r.status_code == 401 and r.json()["msg"] == "missing authorization in header"


def test_cors_preflight_answers_without_a_key(aws, monkeypatch):
    monkeypatch.setattr(authorizer_cache, "_local_hooks", [])
    gateway = build(ROOT / "template.yaml")
    r = _run(_call(gateway, "OPTIONS", "/v1/chat/completions",
                   headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
                            "Access-Control-Request-Headers": "authorization, content-type"}))
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "*"
    assert "Authorization" in r.headers["access-control-allow-headers"]
    assert "POST" in r.headers["access-control-allow-methods"]
    assert _run(_call(gateway, "OPTIONS", "/v1/nowhere")).status_code == 404


def test_answers_carry_the_allowed_origin(aws, monkeypatch):
    monkeypatch.setenv("AGENTGATE_CORS_ALLOW_ORIGIN", "https://app.example.com")
    from agentgate.api.app import create_app

    app = create_app("probe")

    @app.get("/probe")
    def probe():
        return {"ok": True}

    r = _run(_call(app, "GET", "/probe"))
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "x-tt-logid" in r.headers["access-control-expose-headers"]


def test_a_served_path_with_another_method_is_405_naming_the_methods(aws, monkeypatch):
    monkeypatch.setattr(authorizer_cache, "_local_hooks", [])
    gateway = build(ROOT / "template.yaml")
    r = _run(_call(gateway, "GET", "/v1/bot/create"))  # POST only; before any authorizer
    assert r.status_code == 405, r.text
    assert r.headers["allow"] == "OPTIONS, POST"  # the template's Cors answers the preflight
    body = r.json()
    # The shape of the template's own 404 (every protocol's fields), with its headers.
    missing = _run(_call(gateway, "GET", "/v1/nowhere")).json()
    assert set(body) == set(missing) and set(body["error"]) == set(missing["error"])
    assert body["code"] == body["status_code"] == body["errorCode"] == body["error"]["code"] == 405
    assert body["msg"] == "method GET not allowed; allowed: OPTIONS, POST" == body["error"]["message"]
    assert r.headers["x-tt-logid"] == body["request_id"] and r.headers["access-control-allow-origin"] == "*"
    r = _run(_call(gateway, "DELETE", "/api/permission_api/pat/list_personal_access_tokens"))
    assert r.status_code == 405 and r.headers["allow"] == "GET, OPTIONS"
    # A path no route serves stays the template's 404.
    assert _run(_call(gateway, "PATCH", "/v1/nowhere")).status_code == 404
