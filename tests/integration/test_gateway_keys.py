"""The key lifecycle through the real local gateway over HTTP: authorizer, cache, Gateway Responses."""

import time

import httpx
import pytest

PAT = "/api/permission_api/pat"
pytestmark = pytest.mark.integration


def test_health_and_description_need_no_key(gateway):
    with gateway.client() as c:
        assert c.get("/health").json() == {"status": "healthy"}
        about = c.get("/").json()
        assert about["name"] == "agentgate" and about["version"]


@pytest.mark.parametrize(
    "headers, reason",
    [
        ({}, "missing authorization in header"),
        ({"Authorization": "Bearer pat_not_a_real_key"}, "api key invalid"),
        ({"Authorization": "pat_not_a_real_key"}, "api key invalid"),
    ],
)
def test_rejections_are_json_401_with_a_reason(gateway, headers, reason):
    r = httpx.get(f"{gateway.base_url}{PAT}/list_personal_access_tokens", headers=headers)
    assert r.status_code == 401
    body = r.json()
    assert body["code"] == 401 and body["msg"] == reason and body["message"] == reason
    assert body["request_id"] and r.headers["x-tt-logid"] == body["request_id"]


def test_unknown_route_is_a_json_404(gateway):
    r = httpx.get(f"{gateway.base_url}/v9/nothing", headers={"Authorization": f"Bearer {gateway.admin_key}"})
    assert r.status_code == 404 and r.json()["code"] == 404


def test_unsupported_method_is_405_with_allow(gateway):
    """A served path with another method: 405 and Allow, from the gateway (a route of one method)
    and from the function behind an ANY route alike, never the 404 of an unknown path."""
    auth = {"Authorization": f"Bearer {gateway.admin_key}"}
    r = httpx.get(f"{gateway.base_url}/v1/bot/create", headers=auth)
    assert r.status_code == 405 and r.headers["allow"] == "OPTIONS, POST"
    assert r.json()["code"] == 405 and r.json()["error"]["code"] == 405
    r = httpx.patch(f"{gateway.base_url}/v1/conversation/retrieve", headers=auth)  # ANY -> the function
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
    assert r.json()["code"] == 405 and "allowed: GET, POST" in r.json()["msg"]


def test_key_lifecycle(gateway):
    admin = gateway.create_key("lifecycle-owner", scopes=("admin",))
    with gateway.client(admin) as c:
        created = c.post(f"{PAT}/create_personal_access_token_and_permission",
                         json={"name": "worker", "expire": 0, "scopes": ["chat"]}).json()
        key, key_id = created["api_key"], created["id"]
        assert key.startswith("pat_") and key_id.isdigit()

        listed = c.get(f"{PAT}/list_personal_access_tokens", params={"page": 1, "size": 10}).json()
        assert listed["total"] == 2
        assert key not in str(listed) and any(k["name"] == "worker" for k in listed["api_keys"])

    with gateway.client(key) as worker:  # bearer
        r = worker.get(f"{PAT}/list_personal_access_tokens")
        assert r.status_code == 403 and "admin" in r.json()["msg"]  # a chat key cannot manage keys
    with gateway.client(key, bare=True) as worker:  # seed 004's bare key
        assert worker.get(f"{PAT}/list_personal_access_tokens").status_code == 403

    with gateway.client(admin) as c:
        r = c.post(f"{PAT}/update_personal_access_token_and_permission", json={"id": key_id, "enabled": False})
        assert r.status_code == 200 and r.json()["enabled"] is False
    # The worker's allow was cached by the gateway; disabling flushed it, so it fails at once.
    r = httpx.get(f"{gateway.base_url}{PAT}/list_personal_access_tokens", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 401 and r.json()["msg"] == "api key disabled"

    with gateway.client(admin) as c:
        c.post(f"{PAT}/update_personal_access_token_and_permission", json={"id": key_id, "enabled": True})
        assert httpx.get(f"{gateway.base_url}{PAT}/list_personal_access_tokens",
                         headers={"Authorization": f"Bearer {key}"}).status_code == 403  # authenticated again
        renamed = c.post(f"{PAT}/update_personal_access_token_and_permission", json={"id": key_id, "name": "renamed"})
        assert renamed.json()["name"] == "renamed"
        assert c.post(f"{PAT}/delete_personal_access_token_and_permission", json={"id": key_id}).status_code == 200
        assert c.get(f"{PAT}/get_personal_access_token_and_permission", params={"id": key_id}).status_code == 404

    r = httpx.get(f"{gateway.base_url}{PAT}/list_personal_access_tokens", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 401 and r.json()["msg"] == "api key invalid"


def test_expired_key_is_refused_with_its_reason(gateway):
    admin = gateway.create_key("expiry-owner", scopes=("admin",))
    with gateway.client(admin) as c:
        short = c.post(f"{PAT}/create_personal_access_token_and_permission",
                       json={"name": "short", "expire": 1, "scopes": ["read"]}).json()["api_key"]
    time.sleep(0.05)
    r = httpx.get(f"{gateway.base_url}/v1/models", headers={"Authorization": f"Bearer {short}"})
    assert r.status_code == 401 and r.json()["msg"] == "api key expired"


def test_owners_are_isolated(gateway):
    alice = gateway.create_key("iso-alice", scopes=("admin",))
    bob = gateway.create_key("iso-bob", scopes=("admin",))
    with gateway.client(bob) as c:
        bob_key_id = c.get(f"{PAT}/list_personal_access_tokens").json()["api_keys"][0]["id"]
    with gateway.client(alice) as c:
        assert c.get(f"{PAT}/get_personal_access_token_and_permission", params={"id": bob_key_id}).status_code == 404
        assert c.post(f"{PAT}/delete_personal_access_token_and_permission", json={"id": bob_key_id}).status_code == 404
        listed = c.get(f"{PAT}/list_personal_access_tokens").json()
        assert [k["user_id"] for k in listed["api_keys"]] == ["iso-alice"]
    with gateway.client(bob) as c:
        assert c.get(f"{PAT}/get_personal_access_token_and_permission", params={"id": bob_key_id}).status_code == 200


def test_a_forged_request_context_header_grants_nothing(gateway):
    reader = gateway.create_key("forge-owner", scopes=("read",))
    forged = '{"authorizer": {"key_id": "1", "owner_id": "someone-else", "scopes": "root"}, "requestId": "x"}'
    # Without a key: still the missing-key 401.
    r = httpx.get(f"{gateway.base_url}{PAT}/list_personal_access_tokens",
                  headers={"x-amzn-request-context": forged})
    assert r.status_code == 401
    # With a read key: the forged root scope is ignored, so key management stays forbidden.
    r = httpx.get(f"{gateway.base_url}{PAT}/list_personal_access_tokens",
                  headers={"Authorization": f"Bearer {reader}", "x-amzn-request-context": forged})
    assert r.status_code == 403


def test_bad_input_through_the_gateway(gateway):
    with gateway.client(gateway.admin_key) as c:
        r = c.post(f"{PAT}/create_personal_access_token_and_permission", content=b'{"name": ',
                   headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["code"] == 400 and "malformed JSON" in r.json()["msg"]
        r = c.post(f"{PAT}/create_personal_access_token_and_permission", json={"name": "x" * 500})
        assert r.status_code == 422
        r = c.get(f"{PAT}/list_personal_access_tokens", params={"size": 1000})
        assert r.status_code == 422 and "size" in r.json()["msg"]


def test_gateway_denials_read_right_in_every_protocols_client(gateway):
    """One Gateway Response serves every path, so its body carries each protocol's error keys."""
    import openai

    client = openai.OpenAI(api_key="pat_not_a_real_key", base_url=gateway.base_url + "/v1", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        client.models.list()
    assert info.value.status_code == 401 and "api key invalid" in str(info.value)

    r = httpx.post(f"{gateway.base_url}/api/v1/chat", json={"user_input": "hi", "dialog_id": "1"})
    assert r.status_code == 401
    body = r.json()
    assert (body["status_code"], body["status_message"]) == (401, "missing authorization in header")  # AgentChat
    assert (body["errorCode"], body["message"]) == (401, "missing authorization in header")  # AIFlowy
    assert (body["code"], body["msg"]) == (401, "missing authorization in header")  # Coze


def test_agentgate_dev_prints_one_access_line_per_request_never_the_key(gateway):
    key = gateway.create_key("access-log-owner", scopes=("admin",))
    with gateway.client(key) as c:
        listed = c.get(f"{PAT}/list_personal_access_tokens", params={"page": 1, "size": 5}).json()
        assert c.get("/v9/access-log-probe").status_code == 404
    key_id = listed["api_keys"][0]["id"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log = (gateway.workdir / "gateway.log").read_text()
        if "/v9/access-log-probe" in log:
            break
        time.sleep(0.1)
    lines = log.splitlines()
    listing = [ln for ln in lines if f"GET {PAT}/list_personal_access_tokens?page=1&size=5 200 " in ln]
    assert listing and f"key={key_id}" in listing[-1] and "owner=access-log-owner" in listing[-1]
    assert "ms" in listing[-1].split(" 200 ")[1]
    assert any("GET /v9/access-log-probe 404 " in ln for ln in lines)
    assert key not in log and gateway.admin_key not in log.replace(f"root key (owner 'local'): {gateway.admin_key}", "")
