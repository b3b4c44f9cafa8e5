"""api/bots over HTTP (TestClient): lifecycle, aliases, owners, scopes, validation, pagination."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from agentgate import ids
from agentgate.api.bots import app
from agentgate.store import bots as store


@pytest.fixture
def client(aws):
    return TestClient(app)


@pytest.fixture
def alice(as_owner):
    return as_owner("alice", "admin")


def _create(client, headers, **body) -> str:
    body.setdefault("name", "Helper")
    r = client.post("/v1/bot/create", json=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["code"] == 0 and r.json()["msg"] == ""
    return r.json()["data"]["bot_id"]


def _publish(client, headers, bot_id) -> dict:
    r = client.post("/v1/bot/publish", json={"bot_id": bot_id, "connector_ids": ["1024"]}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def _info(client, headers, bot_id):
    return client.get("/v1/bot/get_online_info", params={"bot_id": bot_id}, headers=headers)


def _assert_error(r, status: int, text: str | None = None) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == status and body["msg"] == body["message"]
    assert "request_id" in body
    if text:
        assert text in body["msg"], body["msg"]
    return body


# ---------------------------------------------------------------------------------- lifecycle


def test_lifecycle_draft_publish_update_publish_unpublish(client, alice):
    bot_id = _create(client, alice, name="Support", description="helps", prompt_info={"prompt": "v1"},
                     icon_url="https://example.com/i.png")
    assert ids.is_id(bot_id) and int(bot_id) <= 2**53 - 1

    _assert_error(_info(client, alice, bot_id), 404, "bot not found or not published")
    _assert_error(client.get(f"/v1/bots/{bot_id}", headers=alice), 404, "bot not found or not published")
    draft = client.get(f"/v1/bots/{bot_id}", params={"is_published": "false"}, headers=alice).json()["data"]
    assert (draft["prompt"], draft["version"], draft["is_published"]) == ("v1", "0", False)

    published = _publish(client, alice, bot_id)
    assert (published["bot_id"], published["version"]) == (bot_id, "1")

    info = _info(client, alice, bot_id).json()
    for body in (info, info["data"]):  # seed 002 reads it flat; Coze clients read data
        assert body["bot_id"] == bot_id and body["name"] == "Support"
        assert (body["description"], body["icon_url"], body["prompt"]) == ("helps", "https://example.com/i.png", "v1")
        assert body["version"] == "1"
        assert body["created_at"] < 10**11 and body["updated_at"] >= body["created_at"]
    assert info["data"]["prompt_info"] == {"prompt": "v1"}
    assert info["data"]["model_info"]["model_id"] == "echo"

    r = client.post("/v1/bot/update", json={"bot_id": bot_id, "prompt_info": {"prompt": "v2"}}, headers=alice)
    assert r.status_code == 200 and r.json()["data"]["bot_id"] == bot_id
    assert _info(client, alice, bot_id).json()["prompt"] == "v1"  # online unchanged
    draft = client.get(f"/v1/bots/{bot_id}?is_published=false", headers=alice).json()["data"]
    assert (draft["prompt"], draft["name"]) == ("v2", "Support")  # partial: name kept

    assert _publish(client, alice, bot_id)["version"] == "2"
    assert _info(client, alice, bot_id).json()["prompt"] == "v2"
    assert client.get(f"/v1/bots/{bot_id}", headers=alice).json()["data"]["version"] == "2"

    r = client.post(f"/v1/bots/{bot_id}/unpublish", json={"connector_id": "1024"}, headers=alice)
    assert r.status_code == 200 and r.json()["code"] == 0
    _assert_error(_info(client, alice, bot_id), 404, "bot not found or not published")
    assert store.resolve_online_bot("alice", bot_id) is None
    # Unpublishing again is harmless, and works without a body.
    assert client.post(f"/v1/bots/{bot_id}/unpublish", headers=alice).status_code == 200


def test_ids_may_be_json_numbers(client, alice):
    bot_id = _create(client, alice, space_id=7350000000000000001)
    r = client.post("/v1/bot/publish", json={"bot_id": int(bot_id)}, headers=alice)
    assert r.status_code == 200 and r.json()["data"]["bot_id"] == bot_id  # a string back
    r = client.post("/v1/bot/update", json={"bot_id": int(bot_id), "name": "Renamed"}, headers=alice)
    assert r.status_code == 200 and r.json()["data"]["bot_id"] == bot_id


def test_model_settings_from_extensions_or_coze_model_info(client, alice):
    coze = _create(client, alice, model_info_config={"model_id": "openai/gpt-4o-mini", "temperature": 0.3,
                                                     "max_tokens": 512, "context_round": 5})
    snap = store.draft_snapshot(store.get_bot("alice", coze))
    assert (snap.model, snap.temperature, snap.max_tokens, snap.memory_window) == ("openai/gpt-4o-mini", 0.3, 512, 10)

    flat = _create(client, alice, model="bedrock/anthropic.claude-3-haiku-20240307-v1:0", temperature=1,
                   max_tokens=32000, memory_window=0, variables={"city": "Paris"},
                   model_info_config={"model_id": "openai/ignored", "temperature": 2})
    snap = store.draft_snapshot(store.get_bot("alice", flat))
    assert snap.model == "bedrock/anthropic.claude-3-haiku-20240307-v1:0"  # `model` wins
    assert (snap.temperature, snap.max_tokens, snap.memory_window) == (1.0, 32000, 0)
    assert snap.variables == {"city": "Paris"}

    plain = _create(client, alice)
    snap = store.draft_snapshot(store.get_bot("alice", plain))
    assert (snap.model, snap.temperature, snap.memory_window) == ("echo", None, 20)


def test_coze_bot_object_carries_tools_workflows_onboarding_and_variables(client, alice):
    bot_id = _create(client, alice, onboarding_info={"prologue": "Hi!", "suggested_questions": ["What?"]},
                     plugin_id_list={"id_list": [{"plugin_id": 1, "api_id": "2"}]},
                     workflow_id_list={"ids": [{"id": 7400000000000000001}]}, variables={"who": "you"},
                     prompt="flat prompt {{who}}")
    _publish(client, alice, bot_id)
    data = _info(client, alice, bot_id).json()["data"]
    assert data["onboarding_info"] == {"prologue": "Hi!", "suggested_questions": ["What?"]}
    assert data["plugin_info_list"][0]["plugin_id"] == "1"
    assert data["plugin_info_list"][0]["api_info_list"][0]["api_id"] == "2"
    assert data["workflow_info_list"][0]["id"] == "7400000000000000001"
    assert data["variables"][0]["keyword"] == "who" and data["variables"][0]["default_value"] == "you"
    assert data["prompt_info"]["prompt"] == "flat prompt {{who}}"
    online = store.resolve_online_bot("alice", bot_id)
    assert online.tools == [{"plugin_id": "1", "api_id": "2"}] and online.workflows == ["7400000000000000001"]


# ---------------------------------------------------------------------------------- aliases


def test_aliases_resolve_and_are_unique_per_owner(client, alice, as_owner):
    bot_id = _create(client, alice, aliases=["main", "helper"])
    _publish(client, alice, bot_id)
    info = _info(client, alice, "main").json()
    assert info["bot_id"] == bot_id and info["aliases"] == ["main", "helper"]
    assert client.get("/v1/bots/helper", headers=alice).json()["data"]["bot_id"] == bot_id

    body = _assert_error(client.post("/v1/bot/create", json={"name": "B", "aliases": ["main"]}, headers=alice),
                         409, "main")
    assert body["param"] == "aliases"
    other = _create(client, alice, name="B")
    _assert_error(client.post("/v1/bot/update", json={"bot_id": other, "aliases": ["helper"]}, headers=alice), 409)

    # Moving an alias: the first bot drops it, then the second may take it.
    client.post("/v1/bot/update", json={"bot_id": bot_id, "aliases": ["main"]}, headers=alice)
    r = client.post("/v1/bot/update", json={"bot_id": other, "aliases": ["helper"]}, headers=alice)
    assert r.status_code == 200
    _assert_error(_info(client, alice, "helper"), 404)  # `other` is not published yet

    # Bob may use the same alias for his own bot.
    bob = as_owner("bob", "admin")
    assert _create(client, bob, aliases=["main"])


def test_alias_publish_and_update_by_alias(client, alice):
    _create(client, alice, aliases=["main"], prompt="one")
    r = client.post("/v1/bot/publish", json={"bot_id": "main"}, headers=alice)
    assert r.status_code == 200 and r.json()["data"]["version"] == "1"
    client.post("/v1/bot/update", json={"bot_id": "main", "prompt": "two"}, headers=alice)
    client.post("/v1/bot/publish", json={"bot_id": "main"}, headers=alice)
    assert _info(client, alice, "main").json()["prompt"] == "two"
    client.post("/v1/bots/main/unpublish", headers=alice)
    _assert_error(_info(client, alice, "main"), 404, "bot not found or not published")


# ---------------------------------------------------------------------------------- owners and scopes


def test_another_owners_bot_is_404_everywhere(client, alice, as_owner):
    bot_id = _create(client, alice, aliases=["main"])
    _publish(client, alice, bot_id)
    bob = as_owner("bob", "admin")
    _assert_error(_info(client, bob, bot_id), 404, "bot not found or not published")
    _assert_error(_info(client, bob, "main"), 404)
    _assert_error(client.get(f"/v1/bots/{bot_id}", headers=bob), 404, "bot not found or not published")
    _assert_error(client.get(f"/v1/bots/{bot_id}?is_published=false", headers=bob), 404)
    _assert_error(client.post("/v1/bot/update", json={"bot_id": bot_id, "name": "x"}, headers=bob), 404)
    _assert_error(client.post("/v1/bot/publish", json={"bot_id": bot_id}, headers=bob), 404)
    _assert_error(client.post(f"/v1/bots/{bot_id}/unpublish", headers=bob), 404)
    assert client.get("/v1/bots", headers=bob).json()["data"] == {"items": [], "total": 0, "has_more": False}
    assert _info(client, alice, bot_id).json()["name"] == "Helper"  # untouched


def test_scopes(client, alice, as_owner):
    chat = as_owner("alice", "chat")
    read = as_owner("alice", "read")
    _assert_error(client.post("/v1/bot/create", json={"name": "x"}, headers=chat), 403, "admin")
    _assert_error(client.post("/v1/bot/create", json={"name": "x"}, headers=read), 403)

    published = _create(client, alice, name="published")
    _publish(client, alice, published)
    draft_only = _create(client, alice, name="draft-only")
    _assert_error(client.post("/v1/bot/update", json={"bot_id": published, "name": "x"}, headers=chat), 403)
    _assert_error(client.post("/v1/bot/publish", json={"bot_id": draft_only}, headers=chat), 403)
    _assert_error(client.post(f"/v1/bots/{published}/unpublish", headers=read), 403)

    for key in (chat, read):
        assert _info(client, key, published).status_code == 200
        assert client.get(f"/v1/bots/{published}", headers=key).status_code == 200
        _assert_error(_info(client, key, draft_only), 404, "bot not found or not published")
        _assert_error(client.get(f"/v1/bots/{draft_only}?is_published=false", headers=key), 403)
        listed = client.get("/v1/bots", headers=key).json()["data"]
        assert [i["id"] for i in listed["items"]] == [published]
        _assert_error(client.get("/v1/bots", params={"publish_status": "all"}, headers=key), 403)

    everything = client.get("/v1/bots", params={"publish_status": "all"}, headers=alice).json()["data"]
    assert everything["total"] == 2


def test_missing_principal_is_401(client):
    _assert_error(client.get("/v1/bots"), 401)


# ---------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "body, param",
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": 5}, "name"),
        ({"name": "ok", "prompt_info": {"prompt": "p" * 20001}}, "prompt_info.prompt"),
        ({"name": "ok", "prompt": "p" * 20001}, "prompt"),
        ({"name": "ok", "temperature": 2.5}, "temperature"),
        ({"name": "ok", "temperature": -0.1}, "temperature"),
        ({"name": "ok", "temperature": "hot"}, "temperature"),
        ({"name": "ok", "model_info_config": {"model_id": "echo", "temperature": 3}}, "model_info_config.temperature"),
        ({"name": "ok", "max_tokens": 0}, "max_tokens"),
        ({"name": "ok", "max_tokens": 32001}, "max_tokens"),
        ({"name": "ok", "max_tokens": 1.5}, "max_tokens"),
        ({"name": "ok", "memory_window": 201}, "memory_window"),
        ({"name": "ok", "memory_window": -1}, "memory_window"),
        ({"name": "ok", "aliases": ["bad alias"]}, "aliases.0"),
        ({"name": "ok", "aliases": ["a#b"]}, "aliases.0"),
        ({"name": "ok", "aliases": ["x" * 65]}, "aliases.0"),
        ({"name": "ok", "aliases": [f"a{i}" for i in range(11)]}, "aliases"),
        ({"name": "ok", "aliases": ["12345"]}, "aliases"),
        ({"name": "ok", "aliases": "main"}, "aliases"),
        ({"name": "ok", "model": "bad model!"}, "model"),
        ({"name": "ok", "model": "openai/"}, "model"),
        ({"name": "ok", "variables": {"city": 3}}, "variables.city"),
        ({"name": "ok", "variables": ["city"]}, "variables"),
    ],
)
def test_create_validation_is_422_and_stores_nothing(client, alice, body, param):
    body_out = _assert_error(client.post("/v1/bot/create", json=body, headers=alice), 422)
    assert body_out.get("param", "").startswith(param.split(".")[0])
    assert store.list_bots("alice", "all", 1, 10) == ([], 0)


def test_malformed_or_non_object_json_is_400(client, alice):
    r = client.post("/v1/bot/create", content=b'{"name": "x",', headers={**alice, "content-type": "application/json"})
    _assert_error(r, 400, "malformed JSON")
    _assert_error(client.post("/v1/bot/create", json=["name"], headers=alice), 400)
    assert store.list_bots("alice", "all", 1, 10) == ([], 0)


def test_bad_update_changes_nothing(client, alice):
    bot_id = _create(client, alice, prompt="keep", aliases=["main"])
    before = store.get_bot("alice", bot_id)
    for body in ({"bot_id": bot_id, "prompt": "new", "temperature": 9},
                 {"bot_id": bot_id, "prompt": "new", "aliases": ["ok", "not ok"]},
                 {"prompt": "new"},
                 {"bot_id": "bad id!", "prompt": "new"}):
        _assert_error(client.post("/v1/bot/update", json=body, headers=alice), 422)
    after = store.get_bot("alice", bot_id)
    assert after.draft.prompt == "keep" and after.aliases == ["main"] and after.revision == before.revision


def test_unknown_bots_are_404(client, alice):
    unknown = "1999999999999999999"
    _assert_error(client.post("/v1/bot/update", json={"bot_id": unknown, "name": "x"}, headers=alice), 404)
    _assert_error(client.post("/v1/bot/publish", json={"bot_id": unknown}, headers=alice), 404)
    _assert_error(client.post(f"/v1/bots/{unknown}/unpublish", headers=alice), 404)
    _assert_error(client.get(f"/v1/bots/{unknown}", headers=alice), 404, "bot not found or not published")
    _assert_error(client.get(f"/v1/bots/{unknown}?is_published=false", headers=alice), 404)
    _assert_error(_info(client, alice, unknown), 404, "bot not found or not published")
    _assert_error(_info(client, alice, "x" * 64), 404)


def test_query_validation(client, alice):
    _assert_error(client.get("/v1/bot/get_online_info", headers=alice), 422, "bot_id is required")
    _assert_error(client.get("/v1/bots", params={"publish_status": "sometimes"}, headers=alice), 422)
    _assert_error(client.get("/v1/bots", params={"page_size": 0}, headers=alice), 422)
    _assert_error(client.get("/v1/bots", params={"page_size": 101}, headers=alice), 422)
    _assert_error(client.get("/v1/bots", params={"page_num": "one"}, headers=alice), 422)


# ---------------------------------------------------------------------------------- listing


def test_pagination_newest_first(client, alice):
    ids = [_create(client, alice, name=f"bot{i}") for i in range(5)]
    for bot_id in ids:
        _publish(client, alice, bot_id)

    def page(**params):
        r = client.get("/v1/bots", params=params, headers=alice)
        assert r.status_code == 200, r.text
        return r.json()["data"]

    first = page(page_num=1, page_size=2)
    assert (first["total"], first["has_more"]) == (5, True)
    assert [i["id"] for i in first["items"]] == [ids[4], ids[3]]
    last = page(page_index=3, page_size=2)  # cozepy's parameter name
    assert ([i["id"] for i in last["items"]], last["has_more"]) == ([ids[0]], False)
    assert page(page_num=4, page_size=2)["items"] == []
    assert page()["total"] == 5  # defaults: page 1, 20 per page, published_online

    item = first["items"][0]
    assert item["bot_id"] == item["id"] and item["bot_name"] == item["name"] == "bot4"
    assert item["is_published"] is True and item["owner_user_id"] == "alice"
    assert isinstance(item["updated_at"], int) and isinstance(item["publish_time"], str)


def test_publish_status_filters(client, alice):
    published = _create(client, alice, name="pub")
    _publish(client, alice, published)
    client.post("/v1/bot/update", json={"bot_id": published, "name": "pub-edited"}, headers=alice)
    _create(client, alice, name="draft")

    def names(status):
        data = client.get("/v1/bots", params={"publish_status": status}, headers=alice).json()["data"]
        return sorted(i["name"] for i in data["items"])

    assert names("published_online") == ["pub"]
    assert names("published_draft") == ["pub-edited"]
    assert names("unpublished_draft") == ["draft"]
    assert names("all") == ["draft", "pub-edited"]


def test_largest_allowed_prompt_publishes_and_oversized_config_is_refused(client, alice):
    big = "\U0001F600" * 20000  # 80 KB of UTF-8: the draft and its online copy share one item
    bot_id = _create(client, alice, prompt=big, aliases=["big"])
    _publish(client, alice, bot_id)
    assert _info(client, alice, "big").json()["prompt"] == big

    huge_vars = {f"v{i}": "\U0001F600" * 2000 for i in range(50)}  # each value valid, the sum is not
    _assert_error(client.post("/v1/bot/create", json={"name": "x", "variables": huge_vars}, headers=alice),
                  422, "too large")
    _assert_error(client.post("/v1/bot/update", json={"bot_id": bot_id, "variables": huge_vars}, headers=alice),
                  422, "too large")
    assert store.list_bots("alice", "all", 1, 10)[1] == 1
    assert store.get_bot("alice", bot_id).draft.variables == {}


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))


def test_icon_file_id_sets_icon_url_from_the_uploaded_file(client, alice, as_owner):
    import httpx

    from agentgate.files import service as files

    icon = files.store_upload("alice", "avatar.png", PNG)
    bot_id = _create(client, alice, name="Pictured", icon_file_id=icon.file_id)
    draft = client.get(f"/v1/bots/{bot_id}", params={"is_published": "false"}, headers=alice).json()["data"]
    assert draft["icon_file_id"] == icon.file_id and icon.s3_key.split("/")[-1] in draft["icon_url"]
    url = httpx.URL(draft["icon_url"])
    assert url.params.get("X-Amz-Signature") or url.params.get("Signature")  # a signed GET of the file
    _publish(client, alice, bot_id)
    listed = client.get("/v1/bots", headers=alice).json()["data"]["items"]
    assert icon.s3_key.split("/")[-1] in listed[0]["icon_url"]
    # an explicit icon_url replaces the file; another owner's or a non-image file is refused
    client.post("/v1/bot/update", json={"bot_id": bot_id, "icon_url": "https://example.com/x.png"}, headers=alice)
    draft = client.get(f"/v1/bots/{bot_id}", params={"is_published": "false"}, headers=alice).json()["data"]
    assert draft["icon_url"] == "https://example.com/x.png" and draft["icon_file_id"] == ""
    bobs = files.store_upload("bob", "b.png", PNG)
    _assert_error(client.post("/v1/bot/create", json={"name": "x", "icon_file_id": bobs.file_id}, headers=alice),
                  404, "icon file not found")
    text = files.store_upload("alice", "notes.txt", b"hello")
    _assert_error(client.post("/v1/bot/update", json={"bot_id": bot_id, "icon_file_id": text.file_id},
                              headers=alice), 415, "image")
