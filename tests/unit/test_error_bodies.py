"""No client-controlled text can break the JSON of an error body (issue 7, point 6).

Gateway Response templates are plain substitution on API Gateway (no escaping), so they may only
use variables the client cannot choose; the apps' own error bodies go through a JSON encoder.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from agentgate.api import chat as chat_api
from agentgate.api import keys as keys_api
from agentgate.auth import cache as authorizer_cache
from agentgate.local.gateway import build
from agentgate.local.template import load

ROOT = Path(__file__).resolve().parents[2]
# requestId is API Gateway's; authorizer.reason is our authorizer's fixed text; error.messageString
# is API Gateway's own message, already quoted.
SAFE_VARIABLES = {"requestId", "authorizer.reason", "error.messageString"}
INJECTED = '/nope%22,%22injected%22:%22yes'


def test_gateway_response_templates_use_no_client_controlled_variable():
    api = load(ROOT / "template.yaml")
    assert api.responses
    for kind, response in api.responses.items():
        used = set(re.findall(r"\$context\.([A-Za-z0-9_.]+)", response.template or ""))
        assert used <= SAFE_VARIABLES, (kind, used - SAFE_VARIABLES)
        # Whatever those hold (a quoted string where messageString is), the body is JSON.
        rendered = re.sub(r"\$context\.([A-Za-z0-9_.]+)",
                          lambda m: json.dumps('a"b') if m.group(1) == "error.messageString" else "x",
                          response.template)
        assert isinstance(json.loads(rendered), dict), kind


def test_local_gateway_unknown_route_with_quotes_in_the_path_stays_json(aws, monkeypatch):
    monkeypatch.setattr(authorizer_cache, "_local_hooks", [])
    gateway = build(ROOT / "template.yaml")

    async def go():
        transport = httpx.ASGITransport(app=gateway)
        async with httpx.AsyncClient(transport=transport, base_url="http://local") as client:
            return await client.get(INJECTED)

    r = asyncio.run(go())
    assert r.status_code == 404
    body = r.json()
    assert "injected" not in body and body["code"] == 404 and body["error"]["type"] == "not_found_error"


@pytest.mark.parametrize("app,path", [(chat_api.app, "/v1/nope"), (chat_api.app, "/v3/nope"),
                                      (keys_api.app, "/api/nope")])
def test_app_errors_quote_the_path_they_name(as_owner, app, path):
    r = TestClient(app).get(path + '","injected":"yes', headers=as_owner())
    assert r.status_code == 404
    body = r.json()
    assert "injected" not in body and "injected" not in body.get("error", {})
    assert '"injected":"yes' in json.dumps(body["error"]["message"] if "error" in body else body["message"])[1:-1] \
        .replace('\\"', '"')


def test_405_allow_names_every_method_the_path_serves(aws, as_owner):
    """Starlette's own 405 names the first route matching the path only; several routes may serve it."""
    from agentgate.api.agentchat import app

    r = TestClient(app).patch("/api/v1/agent", headers=as_owner("alice", "admin"))
    assert r.status_code == 405
    assert r.headers["allow"] == "DELETE, GET, POST, PUT"
    assert r.json()["status_code"] == 405 and r.json()["status_message"].endswith("allowed: DELETE, GET, POST, PUT")
