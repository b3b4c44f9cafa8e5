"""Seed 000's channel configuration applied to the keys (agentgate.policy.channel_config)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from agentgate.auth import authorizer

from .test_chat_openai import ask, publish

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
APPLY = "/api/permission_api/config/apply"


def load(name: str) -> dict:
    return yaml.safe_load((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def keys(aws):
    from agentgate.api.keys import app

    return TestClient(app)


@pytest.fixture
def root(as_owner):
    return as_owner("alice", "root")


def apply(keys, root, doc, dry_run=False):
    r = keys.post(APPLY, json={"config": doc, "dry_run": dry_run}, headers=root)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_seed_000_single_account_applies_binds_main_and_is_idempotent(keys, root, aws):
    publish("alice", aliases=("main",)), publish("alice", aliases=("other",))
    planned = apply(keys, root, load("seed000_single.yaml"), dry_run=True)
    assert [c["action"] for c in planned["changes"]] == ["create"]
    assert authorizer.decide("Bearer your-api-key").reason == "api key invalid"  # a dry run writes nothing
    done = apply(keys, root, load("seed000_single.yaml"))
    assert done["changed"] == 1 and any("your-api-key" not in w and "12 characters" in w for w in done["warnings"])
    p = authorizer.decide("Bearer your-api-key").principal
    assert p.owner_id == "alice" and p.scopes == ("chat",) and p.bot_ids == ("main",) and p.default_bot == "main"
    again = apply(keys, root, load("seed000_single.yaml"))
    assert again["changed"] == 0 and [c["action"] for c in again["changes"]] == ["unchanged"]


def test_seed_000_accounts_readonly_gets_its_group_policy(keys, root):
    apply(keys, root, load("seed000_accounts.yaml"))
    admin = authorizer.decide("Bearer admin-secret-key").principal
    readonly = authorizer.decide("Bearer readonly-key").principal
    assert admin.group_policy == "allow" and readonly.group_policy == "disabled" and readonly.dm_policy == "allow"
    listed = keys.get("/api/permission_api/pat/list_personal_access_tokens", headers=root).json()
    assert {k["account_id"]: k["name"] for k in listed["api_keys"]} == {"admin": "管理员", "readonly": "只读用户"}
    import boto3

    from agentgate.config import settings

    raw = repr(boto3.resource("dynamodb", region_name=settings().region).Table(settings().keys_table).scan()["Items"])
    assert "admin-secret-key" not in raw and "readonly-key" not in raw  # stored as MD5 only


def test_changes_rotate_update_and_disable(keys, root):
    apply(keys, root, load("seed000_accounts.yaml"))
    key_id = authorizer.decide("Bearer readonly-key").principal.key_id
    doc = load("seed000_accounts.yaml")
    doc["channels"]["api"]["accounts"]["readonly"]["api_key"] = "readonly-key-2"
    doc["channels"]["api"]["accounts"]["readonly"]["rate_limits"] = {"rpm": 10}
    del doc["channels"]["api"]["accounts"]["admin"]
    plan = {c["account_id"]: c for c in apply(keys, root, doc, dry_run=True)["changes"]}
    assert plan["readonly"]["action"] == "rotate" and "rate_limits" in plan["readonly"]["fields"]
    assert plan["admin"]["action"] == "disable"
    apply(keys, root, doc)
    assert authorizer.decide("Bearer readonly-key").reason.startswith("api key rotated")
    p = authorizer.decide("Bearer readonly-key-2").principal
    assert p.key_id == key_id and p.rpm == 10  # the same key, its usage history kept
    assert authorizer.decide("Bearer admin-secret-key").reason == "api key disabled"


def test_a_disabled_channel_refuses_every_account(keys, root):
    doc = load("seed000_accounts.yaml")
    apply(keys, root, doc)
    doc["channels"]["api"]["enabled"] = False
    apply(keys, root, doc)
    for key in ("admin-secret-key", "readonly-key"):
        assert authorizer.decide(f"Bearer {key}").reason == "api key disabled"


@pytest.mark.parametrize("doc, fragment", [
    ({"channels": {"api": {"accounts": {"a": {"name": "x"}}}}}, "api_key is required"),
    ({"channels": {"api": {"enabled": "yes"}}}, "enabled"),
    ({"channels": {"api": {"accounts": {"a": {"api_key": "k" * 20}}}},
      "bindings": [{"agent_id": "main", "match": {"account_id": "nobody"}}]}, "nobody"),
    ({"channels": {"api": {"accounts": {"a": {"api_key": "k" * 20, "dm_policy": "sometimes"}}}}}, "dm_policy"),
])
def test_a_bad_file_is_a_422_and_changes_nothing(keys, root, doc, fragment):
    r = keys.post(APPLY, json={"config": doc}, headers=root)
    assert r.status_code == 422 and fragment in r.json()["msg"]
    assert keys.get("/api/permission_api/pat/list_personal_access_tokens", headers=root).json()["total"] == 0


def test_only_the_operator_applies(keys, as_owner):
    r = keys.post(APPLY, json={"config": load("seed000_single.yaml")}, headers=as_owner("alice", "admin"))
    assert r.status_code == 403


def test_the_seed_000_account_chats_with_its_default_bot(keys, root, aws):
    from agentgate.api.chat import app

    publish("alice", aliases=("main",))
    apply(keys, root, load("seed000_single.yaml"))
    principal = authorizer.decide("Bearer your-api-key").principal
    import json

    ctx = {"requestId": "r", "authorizer": principal.to_context(), "identity": {"sourceIp": "127.0.0.1"}}
    r = TestClient(app).post("/api/v1/chat/completions", json=ask("你好"), headers={"x-amzn-request-context": json.dumps(ctx)})
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "Echo: 你好"
