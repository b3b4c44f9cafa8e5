"""AgentChat users (seed 001): register, login with JWTs, refresh rotation, throttling, logout."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from agentgate.api.agentchat import app
from agentgate.auth import jwt_tokens


@pytest.fixture
def client(aws, monkeypatch):
    monkeypatch.setenv("AGENTGATE_JWT_SECRET", "x" * 48)
    monkeypatch.setenv("AGENTGATE_LOGIN_MAX_FAILURES", "3")
    return TestClient(app)


def _register(client, name="alice", password="correct horse", email="a@example.com"):
    return client.post("/api/v1/user/register", json={"user_name": name, "user_email": email, "user_password": password})


def _login(client, name="alice", password="correct horse", ip=None):
    return client.post("/api/v1/user/login", json={"user_name": name, "user_password": password})


def test_register_then_login_gives_a_jwt_for_the_user(client):
    r = _register(client)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status_code"] == 200 and body["status_message"] == "SUCCESS"
    user_id = body["data"]["user_id"]
    assert user_id.isdigit()

    r = _login(client)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["user_id"] == user_id
    claims = jwt_tokens.verify_access_token(data["access_token"])
    assert claims.user_id == user_id and "admin" in claims.scopes
    assert data["refresh_token"].startswith("rt_")


def test_password_is_stored_as_argon2id_only(client):
    from agentgate.store.users import User

    _register(client, password="s3cret-passphrase")
    stored = [item for item in User.scan() if item.pk.startswith("user#")]
    assert len(stored) == 1
    assert stored[0].password_hash.startswith("$argon2id$")
    assert "s3cret-passphrase" not in stored[0].password_hash


def test_duplicate_name_is_refused_whatever_its_case(client):
    assert _register(client, "Bob").status_code == 200
    r = _register(client, "bob")
    assert r.status_code == 409
    assert r.json()["status_code"] == 409 and "already taken" in r.json()["status_message"]


@pytest.mark.parametrize("body, fragment", [
    ({"user_name": "x" * 21, "user_password": "long enough"}, "at most 20"),
    ({"user_name": "carol", "user_password": "short"}, "at least 8"),
    ({"user_name": "carol"}, "user_password"),
    ({"user_name": "   ", "user_password": "long enough"}, "blank"),
    ({"user_name": "carol", "user_password": "long enough", "user_email": "not-an-email"}, "email"),
])
def test_bad_registrations_say_why_and_store_nothing(client, body, fragment):
    from agentgate.store.users import User

    r = client.post("/api/v1/user/register", json=body)
    assert r.status_code in (400, 422), r.text
    assert fragment in r.json()["status_message"]
    assert list(User.scan()) == []


def test_password_policy_is_a_setting(client, monkeypatch):
    monkeypatch.setenv("AGENTGATE_PASSWORD_MIN_LENGTH", "4")
    assert _register(client, "test", "test").status_code == 200
    assert _login(client, "test", "test").status_code == 200


def test_wrong_password_and_unknown_user_answer_alike(client):
    _register(client)
    wrong = _login(client, password="nope nope")
    unknown = _login(client, name="nobody")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["status_message"] == unknown.json()["status_message"] == "invalid user name or password"


def test_failed_logins_are_throttled_per_user(client):
    _register(client)
    for _ in range(3):
        assert _login(client, password="wrong password").status_code == 401
    r = _login(client)  # even the right password waits out the window
    assert r.status_code == 429 and "too many" in r.json()["status_message"]


def test_refresh_rotates_and_a_replayed_token_ends_the_family(client):
    _register(client)
    first = _login(client).json()["data"]["refresh_token"]
    r = client.post("/api/v1/user/refresh", json={"refresh_token": first})
    assert r.status_code == 200, r.text
    second = r.json()["data"]["refresh_token"]
    assert second != first
    # The first token again: a replay. It fails, and so does the token issued after it.
    assert client.post("/api/v1/user/refresh", json={"refresh_token": first}).status_code == 401
    assert client.post("/api/v1/user/refresh", json={"refresh_token": second}).status_code == 401


def test_refresh_token_also_works_as_the_bearer(client):
    _register(client)
    token = _login(client).json()["data"]["refresh_token"]
    r = client.post("/api/v1/user/refresh", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["data"]["access_token"]


def test_logout_revokes_the_refresh_token(client, as_owner):
    _register(client)
    data = _login(client).json()["data"]
    headers = as_owner(data["user_id"], "admin")
    assert client.post("/api/v1/user/logout", json={"refresh_token": data["refresh_token"]},
                       headers=headers).status_code == 200
    assert client.post("/api/v1/user/refresh", json={"refresh_token": data["refresh_token"]}).status_code == 401


def test_info_and_update_only_for_oneself(client, as_owner):
    alice = _register(client).json()["data"]["user_id"]
    bob = _register(client, "bob").json()["data"]["user_id"]
    headers = as_owner(alice, "admin")
    r = client.put("/api/v1/user/update", json={"user_id": alice, "user_avatar": "https://x/a.png",
                                               "user_description": "hi"}, headers=headers)
    assert r.status_code == 200 and r.json()["data"]["user_description"] == "hi"
    info = client.get("/api/v1/user/info", params={"user_id": alice}, headers=headers).json()["data"]
    assert info["user_avatar"] == "https://x/a.png" and "password" not in str(info)
    assert client.get("/api/v1/user/info", params={"user_id": bob}, headers=headers).status_code == 404
    assert client.put("/api/v1/user/update", json={"user_id": bob, "user_description": "x"},
                      headers=headers).status_code == 404


def test_jwts_without_a_secret_are_refused(monkeypatch):
    monkeypatch.delenv("AGENTGATE_JWT_SECRET", raising=False)
    monkeypatch.delenv("AGENTGATE_JWT_SECRET_ARN", raising=False)
    with pytest.raises(jwt_tokens.TokenError):
        jwt_tokens.issue_access_token("1", ("admin",))


def test_expired_and_forged_tokens_are_refused(monkeypatch):
    monkeypatch.setenv("AGENTGATE_JWT_SECRET", "y" * 48)
    token, _ = jwt_tokens.issue_access_token("42", ("admin",), ttl_s=-60)
    with pytest.raises(jwt_tokens.TokenError, match="expired"):
        jwt_tokens.verify_access_token(token)
    good, _ = jwt_tokens.issue_access_token("42", ("admin",))
    monkeypatch.setenv("AGENTGATE_JWT_SECRET", "z" * 48)
    with pytest.raises(jwt_tokens.TokenError, match="invalid"):
        jwt_tokens.verify_access_token(good)
    assert jwt_tokens.looks_like_jwt(good) and not jwt_tokens.looks_like_jwt("pat_abc")
