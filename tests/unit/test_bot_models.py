"""A bot's model is checked against the configured providers when it is saved and published, and
model names clients bring from elsewhere resolve through AGENTGATE_MODEL_ALIASES (issue 7, point 8)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from agentgate.api import bots as bots_api
from agentgate.api import chat as chat_api
from agentgate.store import bots as bot_store

ALIASES = {"qwen-plus": "echo", "gpt-4": "echo", "doubao-pro-128k": "echo/doubao"}


@pytest.fixture
def client(aws):
    return TestClient(bots_api.app)


@pytest.fixture
def admin(as_owner):
    return as_owner("alice", "admin")


@pytest.mark.parametrize("body", [{"name": "b", "model": "nZM"},
                                  {"name": "b", "model_info_config": {"model_id": "nZM"}},
                                  {"name": "b", "model": "nosuch/model"},
                                  {"name": "b", "model": "openai"}])
def test_an_unknown_model_is_a_400_naming_the_known_providers(client, admin, body):
    r = client.post("/v1/bot/create", headers=admin, json=body)
    assert r.status_code == 400, r.text
    msg = r.json()["msg"]
    assert "known providers: bedrock, echo, openai" in msg or "but no model" in msg
    assert r.json()["param"] == "model"
    assert bot_store.list_bots("alice", "all", 1, 10)[1] == 0  # nothing stored


def test_update_with_an_unknown_model_changes_nothing(client, admin):
    bot_id = client.post("/v1/bot/create", headers=admin, json={"name": "b", "model": "echo"}).json()["data"]["bot_id"]
    r = client.post("/v1/bot/update", headers=admin, json={"bot_id": bot_id, "model": "nZM"})
    assert r.status_code == 400 and "known providers" in r.json()["msg"]
    assert bot_store.draft_snapshot(bot_store.get_bot("alice", bot_id)).model == "echo"


def test_publish_checks_the_model_against_todays_providers(client, admin, monkeypatch):
    monkeypatch.setenv("AGENTGATE_PROVIDERS", json.dumps({"qwen": {"type": "openai", "base_url": "http://q"}}))
    bot_id = client.post("/v1/bot/create", headers=admin, json={"name": "b", "model": "qwen/qwen-plus"}).json()[
        "data"]["bot_id"]
    monkeypatch.delenv("AGENTGATE_PROVIDERS")
    r = client.post("/v1/bot/publish", headers=admin, json={"bot_id": bot_id})
    assert r.status_code == 400 and "unknown model 'qwen/qwen-plus'" in r.json()["msg"]
    assert bot_store.get_bot("alice", bot_id).online is None


@pytest.mark.parametrize("name", sorted(ALIASES))
def test_model_aliases_resolve_at_save_and_at_chat(client, admin, as_owner, monkeypatch, name):
    r = client.post("/v1/bot/create", headers=admin, json={"name": "b", "model": name})
    assert r.status_code == 400  # no alias configured: unknown

    monkeypatch.setenv("AGENTGATE_MODEL_ALIASES", json.dumps(ALIASES))
    r = client.post("/v1/bot/create", headers=admin, json={  # cozepy's bot_create example's shape
        "space_id": "s", "name": "b", "model_info_config": {"model_id": name, "temperature": 0.7, "max_tokens": 2000}})
    assert r.status_code == 200, r.text
    bot_id = r.json()["data"]["bot_id"]
    assert client.post("/v1/bot/publish", headers=admin, json={"bot_id": bot_id}).status_code == 200
    chat = TestClient(chat_api.app).post("/v1/chat/completions", headers=as_owner("alice", "chat"),
                                         json={"model": bot_id, "messages": [{"role": "user", "content": "hi"}]})
    assert chat.status_code == 200, chat.text
    assert "hi" in chat.json()["choices"][0]["message"]["content"]


def test_an_alias_to_an_unknown_provider_says_so(client, admin, monkeypatch):
    monkeypatch.setenv("AGENTGATE_MODEL_ALIASES", json.dumps({"gpt-4": "nosuch/gpt-4"}))
    r = client.post("/v1/bot/create", headers=admin, json={"name": "b", "model": "gpt-4"})
    assert r.status_code == 400 and "(alias of 'gpt-4')" in r.json()["msg"]


def test_the_local_gateway_maps_the_examples_model_names_to_its_default():
    from agentgate.local import devserver

    assert {"qwen-plus", "gpt-4", "doubao-pro-128k"} <= set(devserver.LOCAL_MODEL_ALIASES)
