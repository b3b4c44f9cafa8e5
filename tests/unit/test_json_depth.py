"""Deeply nested JSON is a clear 400 in the protocol's shape on every route, never a 500
(issue 7, point 4). The limit is agentgate.jsonlimits.MAX_DEPTH levels."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from agentgate import jsonlimits
from agentgate.api import bots as bots_api
from agentgate.api import chat as chat_api
from agentgate.api import conversations as conversations_api
from agentgate.api import keys as keys_api
from agentgate.files import sniff

HOSTILE = b"[" * 100_000  # beyond the interpreter's recursion limit: json.loads raises RecursionError
JUST_OVER = json.dumps({"a": json.loads("[" * jsonlimits.MAX_DEPTH + "]" * jsonlimits.MAX_DEPTH)}).encode()
JUST_UNDER = json.dumps({"a": json.loads("[" * (jsonlimits.MAX_DEPTH - 1) + "]" * (jsonlimits.MAX_DEPTH - 1))})

CHAT_ROUTES = [
    ("/v1/chat/completions", "openai"),
    ("/api/v1/chat/completions", "openai"),
    ("/api/v1/sessions/clear", "openai"),
    ("/v3/chat", "coze"),
    ("/v3/chat/retrieve", "coze"),
    ("/v3/chat/message/list", "coze"),
    ("/v3/chat/cancel", "coze"),
    ("/v3/chat/submit_tool_outputs", "coze"),
    ("/api/v1/aiBot/externalChat", "aiflowy"),
    ("/api/v1/chat", "agentchat"),
]

BUFFERED_ROUTES = [
    (keys_api.app, "/api/permission_api/pat/create_personal_access_token_and_permission"),
    (keys_api.app, "/api/permission_api/pat/update_personal_access_token_and_permission"),
    (bots_api.app, "/v1/bot/create"),
    (bots_api.app, "/v1/bot/update"),
    (conversations_api.app, "/v1/conversation/create"),
    (conversations_api.app, "/v1/conversation/message/create"),
]


def _message(shape: str, body: dict) -> str:
    if shape == "openai":
        return body["error"]["message"]
    if shape == "agentchat":
        return body["status_message"]
    return body["message"]


@pytest.mark.parametrize("raw", [HOSTILE, JUST_OVER], ids=["100k-levels", "limit+1"])
@pytest.mark.parametrize("path,shape", CHAT_ROUTES)
def test_chat_routes_refuse_deep_json_with_a_400(aws, as_owner, path, shape, raw):
    client = TestClient(chat_api.app)
    r = client.post(path, headers={**as_owner("alice", "chat"), "content-type": "application/json"}, content=raw)
    assert r.status_code == 400, r.text
    assert f"deeper than {jsonlimits.MAX_DEPTH} levels" in _message(shape, r.json())


@pytest.mark.parametrize("raw", [HOSTILE, JUST_OVER], ids=["100k-levels", "limit+1"])
@pytest.mark.parametrize("app,path", BUFFERED_ROUTES)
def test_buffered_routes_refuse_deep_json_with_a_400(aws, as_owner, app, path, raw):
    client = TestClient(app)
    r = client.post(path, headers={**as_owner("alice", "admin"), "content-type": "application/json"}, content=raw)
    assert r.status_code == 400, r.text
    assert f"deeper than {jsonlimits.MAX_DEPTH} levels" in r.json()["message"]


def test_nesting_up_to_the_limit_is_not_refused_for_depth(aws, as_owner):
    client = TestClient(chat_api.app)
    r = client.post("/v1/chat/completions", headers={**as_owner("alice", "chat"), "content-type": "application/json"},
                    content=JUST_UNDER)
    assert r.status_code != 500 and "deeper" not in r.text


def test_deep_object_string_content_is_a_validation_error(aws, as_owner, monkeypatch):
    """Inside a valid body, it is the field's validation error (the route's 400/422), naming the limit."""
    client = TestClient(chat_api.app)
    body = {"bot_id": "1", "user_id": "u", "stream": False,
            "additional_messages": [{"role": "user", "content": "[" * 100_000, "content_type": "object_string"}]}
    r = client.post("/v3/chat", headers=as_owner("alice", "chat"), json=body)
    assert r.status_code == 422 and "object_string content is JSON nested deeper than" in r.json()["msg"]

    monkeypatch.setattr(conversations_api, "bot_is_published", lambda owner, bot: True)
    conv = TestClient(conversations_api.app)
    r = conv.post("/v1/conversation/create", headers=as_owner("alice", "chat"), json={
        "bot_id": "7000000000000000001",
        "messages": [{"role": "user", "content": "[" * 100_000, "content_type": "object_string"}]})
    assert r.status_code in (400, 422) and "object_string is JSON nested deeper than" in r.json()["msg"], r.text


def test_an_uploaded_file_of_brackets_is_text_not_a_crash():
    assert sniff._text_kind(HOSTILE, "x.txt") == sniff.TEXT


def test_loads_and_depth():
    assert jsonlimits.depth_exceeds(json.loads(JUST_UNDER)) is False
    assert jsonlimits.depth_exceeds(json.loads(JUST_OVER)) is True
    with pytest.raises(jsonlimits.JsonTooDeep):
        jsonlimits.loads(HOSTILE)
    assert jsonlimits.loads(b'{"a": [1, {"b": 2}]}') == {"a": [1, {"b": 2}]}
