"""The key management API through the keys app (principal from the request context header)."""

import boto3
import pytest
from fastapi.testclient import TestClient

from agentgate.api.keys import app
from agentgate.auth import authorizer, tokens
from agentgate.config import settings
from agentgate.store import keys as key_store

PAT = "/api/permission_api/pat"


@pytest.fixture
def client(aws):
    return TestClient(app)


def _raw_items():
    table = boto3.resource("dynamodb", region_name=settings().region).Table(settings().keys_table)
    return table.scan()["Items"]


def _create(client, headers, **body):
    body.setdefault("name", "key")
    return client.post(f"{PAT}/create_personal_access_token_and_permission", json=body, headers=headers)


def test_create_returns_the_plaintext_once_and_stores_only_the_md5(client, as_owner):
    r = _create(client, as_owner("alice", "admin"), name="ci", expire=0)
    assert r.status_code == 200
    body = r.json()
    key = body["api_key"]
    assert key.startswith("pat_") and body["code"] == 0 and body["data"]["api_key"] == key
    assert body["expired_at"] == 0 and body["user_id"] == "alice" and body["scopes"] == ["chat"]
    assert authorizer.decide(key).allowed

    items = _raw_items()
    assert len(items) == 1
    assert items[0]["key_hash"] == tokens.hash_key(key)
    assert key not in repr(items)  # never the plaintext, in any attribute

    got = client.get(f"{PAT}/get_personal_access_token_and_permission", params={"id": body["id"]},
                     headers=as_owner("alice", "admin")).json()
    assert got["api_key"] != key and got["api_key"].endswith(key[-4:])


def test_expire_is_a_duration_and_the_answer_has_the_absolute_time(client, as_owner):
    body = _create(client, as_owner("alice", "admin"), expire=7_776_000_000).json()
    assert body["expired_at"] - body["created_at"] == 7_776_000_000


def test_expire_from_10_to_the_12_is_an_absolute_ms_timestamp_that_must_lie_ahead(client, as_owner):
    from agentgate.ids import now_ms

    headers = as_owner("alice", "admin")
    at = now_ms() + 3_600_000
    body = _create(client, headers, expire=at).json()
    assert body["expired_at"] == at
    r = _create(client, headers, expire=now_ms() - 1000)  # seed 002's table: a timestamp, but past
    assert r.status_code == 400 and "past" in r.json()["msg"]
    assert _create(client, headers, expire=now_ms() + 11 * 365 * 86_400_000).status_code == 422
    assert len(_raw_items()) == 1


def test_the_operator_registers_a_chosen_key_stored_as_its_md5(client, as_owner):
    root = as_owner("ops", "root")
    r = _create(client, root, name="seed 003", api_key="123tangledup-ai-key", owner_id="team", scopes=["chat"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["api_key"] == "123tangledup-ai-key" and body["user_id"] == "team" and body["warnings"]
    assert authorizer.decide("123tangledup-ai-key").allowed
    items = _raw_items()
    assert items[0]["key_hash"] == tokens.hash_key("123tangledup-ai-key") and "tangledup" not in repr(items)
    # short: refused unless allow_weak, then a warning; an admin (not the operator) may not choose
    r = _create(client, root, name="seed 000", api_key="your-api-key", owner_id="team")
    assert r.status_code == 422 and "16" in r.json()["msg"]
    r = _create(client, root, name="seed 000", api_key="your-api-key", owner_id="team", allow_weak=True)
    assert r.status_code == 200 and any("easy to guess" in w for w in r.json()["warnings"])
    assert _create(client, root, name="again", api_key="your-api-key", allow_weak=True).status_code == 409
    assert _create(client, as_owner("alice", "admin"), name="x", api_key="a" * 40).status_code == 403
    assert len(_raw_items()) == 2


def test_list_is_masked_paginated_and_newest_first(client, as_owner):
    headers = as_owner("alice", "admin")
    plaintexts = [_create(client, headers, name=f"k{i}").json()["api_key"] for i in range(5)]
    _create(client, as_owner("bob", "admin"), name="bob's")

    page1 = client.get(f"{PAT}/list_personal_access_tokens", params={"page": 1, "size": 2}, headers=headers).json()
    page3 = client.get(f"{PAT}/list_personal_access_tokens", params={"page": 3, "size": 2}, headers=headers).json()
    assert page1["total"] == 5 and page1["has_more"] is True
    assert [k["name"] for k in page1["api_keys"]] == ["k4", "k3"]
    assert [k["name"] for k in page3["api_keys"]] == ["k0"] and page3["has_more"] is False
    listed = repr(page1) + repr(page3)
    assert not any(p in listed for p in plaintexts)
    assert "bob's" not in listed


def test_one_owner_never_sees_another_owners_keys(client, as_owner):
    bob_key = _create(client, as_owner("bob", "admin"), name="bob").json()
    alice = as_owner("alice", "admin")
    for call in (
        lambda: client.get(f"{PAT}/get_personal_access_token_and_permission", params={"id": bob_key["id"]}, headers=alice),
        lambda: client.post(f"{PAT}/update_personal_access_token_and_permission", json={"id": bob_key["id"], "name": "x"}, headers=alice),
        lambda: client.post(f"{PAT}/delete_personal_access_token_and_permission", json={"id": bob_key["id"]}, headers=alice),
    ):
        r = call()
        assert r.status_code == 404
        assert r.json()["code"] == 404 and "not found" in r.json()["msg"]
    assert authorizer.decide(bob_key["api_key"]).allowed
    assert key_store.find_by_id(bob_key["id"]).name == "bob"


def test_update_renames_disables_and_enables(client, as_owner):
    headers = as_owner("alice", "admin")
    created = _create(client, headers, name="old").json()
    r = client.post(f"{PAT}/update_personal_access_token_and_permission", json={"id": int(created["id"]), "name": "new"},
                    headers=headers)
    assert r.status_code == 200 and r.json()["name"] == "new"
    client.post(f"{PAT}/update_personal_access_token_and_permission", json={"id": created["id"], "enabled": False},
                headers=headers)
    assert authorizer.decide(created["api_key"]).reason == authorizer.DISABLED
    client.post(f"{PAT}/update_personal_access_token_and_permission", json={"id": created["id"], "enabled": True},
                headers=headers)
    assert authorizer.decide(created["api_key"]).allowed


def test_delete_is_soft_and_immediate(client, as_owner):
    headers = as_owner("alice", "admin")
    created = _create(client, headers).json()
    r = client.post(f"{PAT}/delete_personal_access_token_and_permission", json={"id": created["id"]}, headers=headers)
    assert r.status_code == 200
    assert authorizer.decide(created["api_key"]).reason == authorizer.INVALID
    stored = key_store.get_by_hash(tokens.hash_key(created["api_key"]))
    assert stored.status == key_store.STATUS_DELETED  # kept, marked deleted
    again = client.get(f"{PAT}/get_personal_access_token_and_permission", params={"id": created["id"]}, headers=headers)
    assert again.status_code == 404


def test_key_changes_flush_every_stages_authorizer_cache(client, as_owner, monkeypatch):
    flushed = []
    from agentgate.auth import cache

    monkeypatch.setattr(cache, "_local_hooks", [])
    monkeypatch.setattr(cache, "_apigateway", None)

    class FakeApiGateway:
        def get_stages(self, restApiId):  # noqa: N803 - boto3's names
            assert restApiId == "local"
            return {"item": [{"stageName": "canary"}, {"stageName": "test"}]}

        def flush_stage_authorizers_cache(self, restApiId, stageName):  # noqa: N803 - boto3's names
            flushed.append((restApiId, stageName))

    import boto3 as boto3_module

    monkeypatch.setattr(boto3_module, "client", lambda name, **kw: FakeApiGateway())
    headers = as_owner("alice", "admin")  # its request context names apiId "local", stage "test"
    created = _create(client, headers).json()
    assert flushed == []  # creating a key changes no cached decision
    client.post(f"{PAT}/update_personal_access_token_and_permission", json={"id": created["id"], "enabled": False},
                headers=headers)
    client.post(f"{PAT}/delete_personal_access_token_and_permission", json={"id": created["id"]}, headers=headers)
    # Each change flushes the stage it came through and every other stage of the API.
    assert flushed == [("local", "test"), ("local", "canary")] * 2


def test_scopes_rules(client, as_owner):
    assert _create(client, as_owner("alice", "chat")).status_code == 403
    assert _create(client, as_owner("alice", "read")).status_code == 403
    r = _create(client, as_owner("alice", "admin"), scopes=["root"])
    assert r.status_code == 403 and "root" in r.json()["msg"]
    r = _create(client, as_owner("alice", "admin"), scopes=["admin", "read"])
    assert r.status_code == 200 and r.json()["scopes"] == ["admin", "read"]
    r = _create(client, as_owner("alice", "admin"), owner_id="bob")
    assert r.status_code == 403
    r = _create(client, as_owner("ops", "root"), owner_id="bob", scopes=["admin"])
    assert r.status_code == 200 and r.json()["user_id"] == "bob"
    # root may act on any owner's key by id
    got = client.get(f"{PAT}/get_personal_access_token_and_permission", params={"id": r.json()["id"]},
                     headers=as_owner("ops", "root"))
    assert got.status_code == 200 and got.json()["user_id"] == "bob"


@pytest.mark.parametrize(
    "body, status, fragment",
    [
        ('{"name": "x",', 400, "malformed JSON"),
        ('["name"]', 400, "JSON object"),
        ('{"expire": 0}', 422, "name is required"),
        ('{"name": 42}', 422, "name"),
        ('{"name": "' + "n" * 101 + '"}', 422, "at most 100"),
        ('{"name": "   "}', 422, "blank"),
        ('{"name": "x", "expire": -5}', 422, "expire"),
        ('{"name": "x", "expire": "soon"}', 422, "expire"),
        ('{"name": "x", "scopes": ["superuser"]}', 422, "scopes"),
    ],
)
def test_bad_create_input_is_a_clear_error_and_stores_nothing(client, as_owner, body, status, fragment):
    r = client.post(f"{PAT}/create_personal_access_token_and_permission", content=body,
                    headers={**as_owner("alice", "admin"), "content-type": "application/json"})
    assert r.status_code == status
    payload = r.json()
    assert payload["code"] == status and fragment in payload["msg"] and payload["message"] == payload["msg"]
    assert payload["request_id"]
    assert _raw_items() == []


def test_bad_list_get_update_input(client, as_owner):
    headers = as_owner("alice", "admin")
    created = _create(client, headers, name="keep").json()
    assert client.get(f"{PAT}/list_personal_access_tokens", params={"size": 0}, headers=headers).status_code == 422
    assert client.get(f"{PAT}/list_personal_access_tokens", params={"size": 101}, headers=headers).status_code == 422
    assert client.get(f"{PAT}/list_personal_access_tokens", params={"page": 0}, headers=headers).status_code == 422
    assert client.get(f"{PAT}/get_personal_access_token_and_permission", params={"id": "abc"}, headers=headers).status_code == 422
    assert client.get(f"{PAT}/get_personal_access_token_and_permission", params={"id": "123"}, headers=headers).status_code == 404
    r = client.post(f"{PAT}/update_personal_access_token_and_permission", json={"id": created["id"]}, headers=headers)
    assert r.status_code == 422
    r = client.post(f"{PAT}/update_personal_access_token_and_permission", json={"id": created["id"], "name": "x" * 300},
                    headers=headers)
    assert r.status_code == 422
    assert key_store.find_by_id(created["id"]).name == "keep"


def test_requests_without_a_principal_are_refused(client):
    r = client.get(f"{PAT}/list_personal_access_tokens")
    assert r.status_code == 401 and r.json()["code"] == 401


def test_health_and_about_need_no_key(client):
    assert client.get("/health").json() == {"status": "healthy"}
    about = client.get("/").json()
    assert about["name"] == "agentgate" and "/v1/chat/completions" in about["endpoints"]


@pytest.mark.parametrize("day", ["99999999999999999999", "9" * 24])
def test_usage_with_an_epoch_time_out_of_range_is_422_not_500(client, as_owner, day):
    """An epoch far beyond any date overflowed the platform's time_t (OSError, OverflowError): 500."""
    r = client.get("/v1/usage", params={"from": day}, headers=as_owner("alice", "admin"))
    assert r.status_code == 422, r.text
    assert "out of range" in r.json()["msg"]
