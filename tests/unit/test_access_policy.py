"""Issue 11's access policy through the apps: keys bound to bots, IP allow-lists after the
authorizer cache, rate limits (atomic counters, 429 in each protocol's shape), dm/group
policies, metering equal to the answers' usage, and rotation."""

from __future__ import annotations

import io
import json
import time

import pytest
from fastapi.testclient import TestClient

from agentgate.auth import authorizer
from agentgate.auth.principal import Principal
from .test_chat_openai import ask, publish, sse_data

PAT = "/api/permission_api/pat"


@pytest.fixture
def chat(aws):
    from agentgate.api.chat import app

    return TestClient(app)


@pytest.fixture
def keys(aws):
    from agentgate.api.keys import app

    return TestClient(app)


@pytest.fixture
def two_bots(aws):
    return publish("alice", aliases=("main",)), publish("alice", aliases=("other",), name="Other")


def header_of(principal: Principal, source_ip: str | None = "203.0.113.9") -> dict:
    """The request context the authorizer's decision gives a route (as API Gateway passes it)."""
    ctx = {"requestId": "r-1", "apiId": "local", "stage": "test", "authorizer": principal.to_context()}
    if source_ip:
        ctx["identity"] = {"sourceIp": source_ip}
    return {"x-amzn-request-context": json.dumps(ctx)}


def make_key(keys, as_owner, **body):
    body.setdefault("name", "k")
    r = keys.post(f"{PAT}/create_personal_access_token_and_permission", json=body, headers=as_owner("alice", "admin"))
    assert r.status_code == 200, r.text
    return r.json()


def principal_of(plaintext: str) -> Principal:
    decision = authorizer.decide(f"Bearer {plaintext}")
    assert decision.allowed, decision.reason
    return decision.principal


# ------------------------------------------------------------------------------------- the key API


def test_policy_fields_round_trip_through_create_get_and_the_authorizer(keys, as_owner):
    made = make_key(keys, as_owner, bot_ids=["main", "123"], workflow_ids=["77"], allowed_ips=["10.0.0.1", "2001:db8::/32"],
                    rate_limits={"rpm": 5, "concurrency": 2}, default_bot_id="main", group_policy="disabled")
    assert made["bot_ids"] == ["main", "123"] and made["allowed_ips"] == ["10.0.0.1/32", "2001:db8::/32"]
    got = keys.get(f"{PAT}/get_personal_access_token_and_permission", params={"id": made["id"]},
                   headers=as_owner("alice", "admin")).json()
    assert got["rate_limits"] == {"rpm": 5, "concurrency": 2} and got["default_bot_id"] == "main"
    assert got["group_policy"] == "disabled" and got["dm_policy"] == "allow"
    assert [s["state"] for s in got["secrets"]] == ["active"]
    p = principal_of(made["api_key"])
    assert (p.bot_ids, p.workflow_ids, p.rpm, p.tpm, p.concurrency) == (("main", "123"), ("77",), 5, -1, 2)
    # the context API Gateway passes is flat strings and numbers, and reads back the same
    ctx = json.loads(json.dumps(p.to_context()))
    assert all(isinstance(v, (str, int)) for v in ctx.values())
    assert Principal.from_context(ctx) == p


@pytest.mark.parametrize("body, fragment", [
    ({"allowed_ips": ["not-an-ip"]}, "not an IP"),
    ({"rate_limits": {"rpm": -1}}, "rpm"),
    ({"rate_limits": {"rps": 1}}, "rps"),
    ({"dm_policy": "maybe"}, "dm_policy"),
    ({"bot_ids": ["has space"]}, "bot_ids"),
])
def test_bad_policy_fields_are_a_422_and_store_nothing(keys, as_owner, body, fragment):
    r = keys.post(f"{PAT}/create_personal_access_token_and_permission", json={"name": "k", **body},
                  headers=as_owner("alice", "admin"))
    assert r.status_code == 422 and fragment in r.json()["msg"]
    assert keys.get(f"{PAT}/list_personal_access_tokens", headers=as_owner("alice", "admin")).json()["total"] == 0


def test_a_bound_key_cannot_mint_an_unbound_or_wider_key(keys, as_owner):
    bound = as_owner("alice", "admin", bot_ids="main", allowed_ips="10.0.0.0/8", source_ip="10.0.0.5")
    child = keys.post(f"{PAT}/create_personal_access_token_and_permission", json={"name": "c"}, headers=bound).json()
    assert child["bot_ids"] == ["main"] and child["allowed_ips"] == ["10.0.0.0/8"]  # inherited
    for body in ({"bot_ids": ["other"]}, {"allowed_ips": ["0.0.0.0/0"]}):
        r = keys.post(f"{PAT}/create_personal_access_token_and_permission", json={"name": "c", **body}, headers=bound)
        assert r.status_code == 403, body
    narrower = keys.post(f"{PAT}/create_personal_access_token_and_permission",
                         json={"name": "c", "allowed_ips": ["10.1.0.0/16"]}, headers=bound)
    assert narrower.status_code == 200


def test_update_sets_and_clears_policy_fields(keys, as_owner):
    admin = as_owner("alice", "admin")
    made = make_key(keys, as_owner, bot_ids=["main"], rate_limits={"rpm": 3})
    r = keys.post(f"{PAT}/update_personal_access_token_and_permission",
                  json={"id": made["id"], "bot_ids": [], "rate_limits": {}, "allowed_ips": ["127.0.0.1"]}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["bot_ids"] == [] and r.json()["rate_limits"] is None and r.json()["allowed_ips"] == ["127.0.0.1/32"]
    p = principal_of(made["api_key"])
    assert p.bot_ids == () and p.rpm == -1 and p.allowed_ips == ("127.0.0.1/32",)


# ------------------------------------------------------------------------------------- bindings


def test_a_bound_key_sees_only_its_bots_on_every_chat_protocol(chat, as_owner, two_bots):
    main, other = two_bots
    bound = as_owner("alice", "chat", bot_ids="main")
    assert chat.post("/v1/chat/completions", json=ask("hi"), headers=bound).status_code == 200
    assert chat.post("/v1/chat/completions", json=ask("hi", model=main), headers=bound).status_code == 200
    for model in ("other", other):
        r = chat.post("/v1/chat/completions", json=ask("hi", model=model), headers=bound)
        assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"
    r = chat.post("/v3/chat", json={"bot_id": other, "user_id": "u", "additional_messages": [
        {"role": "user", "content": "hi", "content_type": "text"}]}, headers=bound)
    assert r.status_code == 404 and r.json()["code"] == 404
    r = chat.post("/api/v1/aiBot/externalChat", json={"botId": other, "messages": [{"role": "user", "content": "hi"}]}, headers=bound)
    assert r.status_code == 404 and r.json()["errorCode"] == 404
    r = chat.post("/v1/responses", json={"model": "other", "input": "hi"}, headers=bound)
    assert r.status_code == 404
    models = [m["id"] for m in chat.get("/v1/models", headers=bound).json()["data"]]
    assert "other" not in models and other not in models and "main" in models
    assert chat.get(f"/v1/models/{other}", headers=bound).status_code == 404
    # the same requests through an unbound key of the owner work
    assert chat.post("/v1/chat/completions", json=ask("hi", model="other"), headers=as_owner("alice", "chat")).status_code == 200


def test_a_bound_key_sees_no_conversation_chat_or_file_of_another_bot(chat, as_owner, two_bots, aws):
    from agentgate.api.conversations import app as conv_app
    from agentgate.api.files import app as files_app

    main, other = two_bots
    conversations, files = TestClient(conv_app), TestClient(files_app)
    unbound = as_owner("alice", "chat", key_id="2000000000000000001")
    bound = as_owner("alice", "chat", key_id="3000000000000000001", bot_ids="main")
    made = chat.post("/v3/chat", json={"bot_id": other, "user_id": "u", "additional_messages": [
        {"role": "user", "content": "secret", "content_type": "text"}]}, headers=unbound).json()["data"]
    cid, chat_id = made["conversation_id"], made["id"]
    assert conversations.get("/v1/conversation/retrieve", params={"conversation_id": cid}, headers=unbound).status_code == 200
    assert conversations.get("/v1/conversation/retrieve", params={"conversation_id": cid}, headers=bound).status_code == 404
    assert conversations.post("/v1/conversation/message/list", params={"conversation_id": cid},
                              headers=bound).status_code == 404
    assert conversations.get("/v1/conversations", params={"bot_id": other}, headers=bound).status_code == 404
    assert chat.get("/v3/chat/retrieve", params={"conversation_id": cid, "chat_id": chat_id}, headers=bound).status_code == 404
    assert chat.get("/v3/chat/message/list", params={"conversation_id": cid, "chat_id": chat_id},
                    headers=bound).status_code == 404
    # continuing that conversation with the key's own bot does not open it either
    r = chat.post(f"/v3/chat?conversation_id={cid}", json={"bot_id": main, "user_id": "u", "additional_messages": [
        {"role": "user", "content": "hi", "content_type": "text"}]}, headers=bound)
    assert r.status_code == 404
    # files: the unbound key's upload does not exist for the bound key; its own does
    theirs = files.post("/v1/files/upload", files={"file": ("a.txt", io.BytesIO(b"hello"), "text/plain")},
                        headers=unbound).json()["data"]["id"]
    mine = files.post("/v1/files/upload", files={"file": ("b.txt", io.BytesIO(b"hello"), "text/plain")},
                      headers=bound).json()["data"]["id"]
    assert files.get("/v1/files/retrieve", params={"file_id": theirs}, headers=bound).status_code == 404
    assert files.get("/v1/files/retrieve", params={"file_id": mine}, headers=bound).status_code == 200
    r = chat.post("/v1/chat/completions", json=ask([{"type": "file", "file_id": theirs}]), headers=bound)
    assert r.status_code == 404


def test_a_bound_admin_key_manages_only_its_bots(aws, as_owner, two_bots):
    from agentgate.api.bots import app as bots_app

    bots = TestClient(bots_app)
    main, other = two_bots
    bound = as_owner("alice", "admin", bot_ids="main")
    listed = bots.get("/v1/bots", headers=bound).json()["data"]
    assert [b["bot_id"] for b in listed["items"]] == [main] and listed["total"] == 1
    assert bots.get(f"/v1/bots/{other}", headers=bound).status_code == 404
    assert bots.get(f"/v1/bots/{other}", params={"is_published": "false"}, headers=bound).status_code == 404
    assert bots.post("/v1/bot/update", json={"bot_id": other, "name": "x"}, headers=bound).status_code == 404
    assert bots.post("/v1/bot/publish", json={"bot_id": other}, headers=bound).status_code == 404
    assert bots.get(f"/v1/bots/{main}", headers=bound).status_code == 200


def test_the_default_bot_answers_requests_naming_no_model(chat, as_owner, two_bots):
    main, other = two_bots
    keyed = as_owner("alice", "chat", default_bot="other")
    r = chat.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}, headers=keyed)
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "Echo: hi"
    r = chat.post("/v1/chat/completions", json={"model": "default", "messages": [{"role": "user", "content": "hi"}]},
                  headers=keyed)
    assert r.status_code == 200
    r = chat.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]},
                  headers=as_owner("alice", "chat"))
    assert r.status_code == 422 and "model" in r.json()["error"]["message"]


# ------------------------------------------------------------------------------------- IP allow-lists


def test_an_allow_list_is_checked_on_every_request_after_the_cache(chat, as_owner, two_bots):
    p = Principal(key_id="4000000000000000001", owner_id="alice", scopes=("chat",), allowed_ips=("127.0.0.1/32",))
    ok = chat.post("/v1/chat/completions", json=ask("hi"), headers=header_of(p, "127.0.0.1"))
    assert ok.status_code == 200
    # the same cached decision, another address: refused in each protocol's shape
    r = chat.post("/v1/chat/completions", json=ask("hi"), headers=header_of(p, "127.0.0.2"))
    assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error"
    assert "address" in r.json()["error"]["message"]
    r = chat.post("/v3/chat", json={"bot_id": "main", "user_id": "u"}, headers=header_of(p, "127.0.0.2"))
    assert r.status_code == 403 and r.json()["code"] == 403
    assert chat.post("/v1/chat/completions", json=ask("hi"), headers=header_of(p, None)).status_code == 403
    # IPv4-mapped IPv6 is the same address
    assert chat.post("/v1/chat/completions", json=ask("hi"), headers=header_of(p, "::ffff:127.0.0.1")).status_code == 200


# ------------------------------------------------------------------------------------- rate limits


def test_requests_per_window_are_refused_with_429_and_the_headers(chat, as_owner, two_bots, monkeypatch):
    monkeypatch.setenv("AGENTGATE_RATE_WINDOW_S", "3600")
    limited = as_owner("alice", "chat", key_id="5000000000000000001", rpm=2)
    first = chat.post("/v1/chat/completions", json=ask("a"), headers=limited)
    assert first.status_code == 200
    assert first.headers["x-ratelimit-limit-requests"] == "2" and first.headers["x-ratelimit-remaining-requests"] == "1"
    assert chat.post("/v1/chat/completions", json=ask("b", stream=True), headers=limited).status_code == 200
    r = chat.post("/v1/chat/completions", json=ask("c"), headers=limited)
    assert r.status_code == 429 and r.json()["error"]["type"] == "rate_limit_error"
    assert int(r.headers["retry-after"]) >= 1 and r.headers["x-ratelimit-remaining-requests"] == "0"
    assert r.headers["x-ratelimit-reset-requests"].endswith("s")
    coze = chat.post("/v3/chat", json={"bot_id": "main", "user_id": "u", "additional_messages": [
        {"role": "user", "content": "x", "content_type": "text"}]}, headers=limited)
    assert coze.status_code == 429 and coze.json()["code"] == 429 and "requests" in coze.json()["msg"]
    aiflowy = chat.post("/api/v1/aiBot/externalChat", json={"botId": "main", "messages": [{"role": "user", "content": "x"}]}, headers=limited)
    assert aiflowy.status_code == 429 and aiflowy.json()["errorCode"] == 429
    # another key of the same owner has its own window
    assert chat.post("/v1/chat/completions", json=ask("d"), headers=as_owner("alice", "chat", rpm=2)).status_code == 200


def test_a_new_window_admits_again(chat, as_owner, two_bots, monkeypatch):
    monkeypatch.setenv("AGENTGATE_RATE_WINDOW_S", "1")
    limited = as_owner("alice", "chat", key_id="5100000000000000001", rpm=1)
    while time.time() % 1 > 0.6:  # start early in a window
        time.sleep(0.05)
    assert chat.post("/v1/chat/completions", json=ask("a"), headers=limited).status_code == 200
    assert chat.post("/v1/chat/completions", json=ask("b"), headers=limited).status_code == 429
    time.sleep(1.05)
    assert chat.post("/v1/chat/completions", json=ask("c"), headers=limited).status_code == 200


def test_tokens_per_window_refuse_once_spent(chat, as_owner, two_bots, monkeypatch):
    monkeypatch.setenv("AGENTGATE_RATE_WINDOW_S", "3600")
    limited = as_owner("alice", "chat", key_id="5200000000000000001", tpm=5)
    r = chat.post("/v1/chat/completions", json=ask("a long question of many words"), headers=limited)
    assert r.status_code == 200 and r.json()["usage"]["total_tokens"] >= 5
    r = chat.post("/v1/chat/completions", json=ask("again"), headers=limited)
    assert r.status_code == 429 and "tokens" in r.json()["error"]["message"]
    assert r.headers["x-ratelimit-remaining-tokens"] == "0"


def test_concurrent_streams_are_limited_and_given_back(aws, as_owner, two_bots):
    import asyncio

    from agentgate.policy import ratelimit
    from agentgate.policy.errors import PolicyError

    p = Principal(key_id="5300000000000000001", owner_id="alice", scopes=("chat",), concurrency=2)

    async def scenario():
        a = await ratelimit.admit(p, stream=True)
        b = await ratelimit.admit(p, stream=True)
        with pytest.raises(PolicyError) as refused:
            await ratelimit.admit(p, stream=True)
        assert refused.value.status == 429 and refused.value.headers["retry-after"] == "1"
        assert not (await ratelimit.admit(p, stream=False)).slot  # non-stream requests hold no slot
        a.settle(0)
        a.settle(0)  # settling twice gives back one slot only
        c = await ratelimit.admit(p, stream=True)
        with pytest.raises(PolicyError):
            await ratelimit.admit(p, stream=True)
        b.settle(0), c.settle(0)
        await ratelimit.admit(p, stream=True)

    asyncio.run(scenario())


def test_a_stream_gives_its_slot_back_when_it_ends(chat, as_owner, two_bots):
    from agentgate.store import usage as store

    limited = as_owner("alice", "chat", key_id="5400000000000000001", concurrency=1)
    for _ in range(3):
        r = chat.post("/v1/chat/completions", json=ask("x", stream=True), headers=limited)
        assert r.status_code == 200 and sse_data(r.text)[-1] == "[DONE]"
    assert store.get(store.limit_pk("5400000000000000001"), store.CONCURRENCY_SK).conc == 0


def test_the_root_key_is_not_limited_by_default(aws):
    from agentgate.policy import limits

    assert limits.for_principal(Principal(key_id="1", owner_id="o", scopes=("root",))).unlimited
    chat_default = limits.for_principal(Principal(key_id="1", owner_id="o", scopes=("chat",)))
    assert chat_default.rpm > 0 and chat_default.concurrency > 0
    own = limits.for_principal(Principal(key_id="1", owner_id="o", scopes=("chat",), rpm=0, concurrency=7))
    assert own.rpm == 0 and own.concurrency == 7  # the key's own values win, 0 = unlimited


# ------------------------------------------------------------------------------------- dm / group


def test_group_policy_disabled_refuses_posting_into_a_shared_conversation(chat, as_owner, two_bots):
    from agentgate.api.conversations import app as conv_app

    readonly = as_owner("alice", "chat", key_id="6000000000000000001", group_policy="disabled")
    other_user = as_owner("alice", "chat", key_id="6100000000000000001")
    started = chat.post("/v1/chat/completions", json=ask("hi", sessionId="s-1", user="zhang"), headers=other_user)
    assert started.status_code == 200
    # the readonly account talks one to one freely ...
    assert chat.post("/v1/chat/completions", json=ask("hi", sessionId="s-2", user="li"), headers=readonly).status_code == 200
    assert chat.post("/v1/chat/completions", json=ask("hi"), headers=readonly).status_code == 200
    # ... but may not post into the conversation another user started
    r = chat.post("/v1/chat/completions", json=ask("me too", sessionId="s-1", user="li"), headers=readonly)
    assert r.status_code == 403 and "group" in r.json()["error"]["message"]
    coze = chat.post("/v3/chat", json={"bot_id": "main", "user_id": "zhang", "additional_messages": [
        {"role": "user", "content": "x", "content_type": "text"}]}, headers=other_user).json()["data"]
    r = chat.post(f"/v3/chat?conversation_id={coze['conversation_id']}", json={
        "bot_id": "main", "user_id": "li", "additional_messages": [{"role": "user", "content": "x", "content_type": "text"}]},
        headers=readonly)
    assert r.status_code == 403 and r.json()["code"] == 403
    # reading it is not refused
    listed = TestClient(conv_app).post("/v1/conversation/message/list",
                                      params={"conversation_id": coze["conversation_id"]}, headers=readonly)
    assert listed.status_code == 200


def test_dm_policy_disabled_refuses_one_to_one_turns(chat, as_owner, two_bots):
    no_dm = as_owner("alice", "chat", dm_policy="disabled")
    r = chat.post("/v1/chat/completions", json=ask("hi"), headers=no_dm)
    assert r.status_code == 403 and "dm_policy" in r.json()["error"]["message"]


# ------------------------------------------------------------------------------------- metering


def test_metering_sums_equal_the_usage_of_the_answers(chat, keys, as_owner, two_bots):
    main, other = two_bots
    a = as_owner("alice", "chat", key_id="7000000000000000001")
    b = as_owner("alice", "chat", key_id="7100000000000000001")
    served = []
    for headers, body in ((a, ask("one")), (a, ask("two words", model="other", user="u1")),
                          (b, ask("three little words", user="u2")), (b, ask("stream me", stream=True, user="u1"))):
        r = chat.post("/v1/chat/completions", json={**body, **({"stream_options": {"include_usage": True}}
                                                              if body.get("stream") else {})}, headers=headers)
        assert r.status_code == 200
        usage = r.json()["usage"] if not body.get("stream") else [c for c in sse_data(r.text)
                                                                   if isinstance(c, dict) and c.get("usage")][-1]["usage"]
        served.append((headers, body, usage))
    coze = chat.post("/v3/chat", json={"bot_id": main, "user_id": "u3", "additional_messages": [
        {"role": "user", "content": "coze asks", "content_type": "text"}]}, headers=a).json()["data"]
    admin = as_owner("alice", "admin")
    total = keys.get("/v1/usage", params={"group_by": "key"}, headers=admin).json()["data"]
    want_in = sum(u["prompt_tokens"] for *_, u in served) + coze["usage"]["input_count"]
    want_out = sum(u["completion_tokens"] for *_, u in served) + coze["usage"]["output_count"]
    assert total["total"]["requests"] == 5
    assert (total["total"]["input_tokens"], total["total"]["output_tokens"]) == (want_in, want_out)
    by_key = {row["key"]: row for row in total["items"]}
    assert by_key["7000000000000000001"]["requests"] == 3 and by_key["7100000000000000001"]["requests"] == 2
    by_bot = {row["bot"]: row["requests"] for row in
              keys.get("/v1/usage", params={"group_by": "bot"}, headers=admin).json()["data"]["items"]}
    assert by_bot == {main: 4, other: 1}
    by_user = {row["user"]: row["requests"] for row in
               keys.get("/v1/usage", params={"group_by": "user"}, headers=admin).json()["data"]["items"]}
    assert by_user == {"-": 1, "u1": 2, "u2": 1, "u3": 1}
    # another owner's admin key sees none of it; the root key sees it
    assert keys.get("/v1/usage", headers=as_owner("bob", "admin")).json()["data"]["total"]["requests"] == 0
    assert keys.get("/v1/usage", headers=as_owner("ops", "root")).json()["data"]["total"]["requests"] == 5
    assert keys.get("/v1/usage", params={"owner_id": "alice"}, headers=as_owner("bob", "admin")).status_code == 403


def test_usage_lists_a_keys_last_requests_with_its_audit_fields(chat, keys, as_owner, two_bots):
    made = make_key(keys, as_owner)
    p = principal_of(made["api_key"])
    for text in ("a", "b"):
        assert chat.post("/v1/chat/completions", json=ask(text), headers=header_of(p, "198.51.100.7")).status_code == 200
    r = keys.get("/v1/usage", params={"key_id": made["id"], "requests": "true"}, headers=as_owner("alice", "admin"))
    rows = r.json()["data"]["requests"]
    assert len(rows) == 2 and rows[0]["time_ms"] >= rows[1]["time_ms"]
    assert {row["source_ip"] for row in rows} == {"198.51.100.7"} and {row["status"] for row in rows} == {200}
    assert all(row["key_id"] == made["id"] and row["owner_id"] == "alice" for row in rows)
    assert made["api_key"] not in r.text
    other = keys.get("/v1/usage", params={"key_id": made["id"], "requests": "true"}, headers=as_owner("bob", "admin"))
    assert other.status_code == 404


# ------------------------------------------------------------------------------------- rotation


def test_rotation_keeps_the_key_and_its_old_secret_works_until_the_grace_ends(keys, chat, as_owner, two_bots):
    admin = as_owner("alice", "admin")
    made = make_key(keys, as_owner, bot_ids=["main"], rate_limits={"rpm": 100}, scopes=["chat"])
    old = made["api_key"]
    r = keys.post(f"{PAT}/rotate_personal_access_token", json={"id": made["id"], "grace_ms": 1500}, headers=admin)
    assert r.status_code == 200, r.text
    new = r.json()["api_key"]
    assert new != old and r.json()["id"] == made["id"]
    for secret in (old, new):
        p = principal_of(secret)
        assert p.key_id == made["id"] and p.bot_ids == ("main",) and p.rpm == 100 and p.scopes == ("chat",)
    assert principal_of(old).expired_at > 0  # a cached allow of the old secret ends with its grace
    got = keys.get(f"{PAT}/get_personal_access_token_and_permission", params={"id": made["id"]}, headers=admin).json()
    assert [s["state"] for s in got["secrets"]] == ["active", "grace"]
    listed = keys.get(f"{PAT}/list_personal_access_tokens", headers=admin).json()
    assert listed["total"] == 1 and listed["api_keys"][0]["api_key"].endswith(new[-4:])
    time.sleep(1.6)
    assert authorizer.decide(f"Bearer {old}").reason == "api key rotated: its grace period is over, use the new key"
    assert authorizer.decide(f"Bearer {new}").allowed
    got = keys.get(f"{PAT}/get_personal_access_token_and_permission", params={"id": made["id"]}, headers=admin).json()
    assert [s["state"] for s in got["secrets"]] == ["active", "rotated"]
    # an update reaches the new secret; a delete ends both
    keys.post(f"{PAT}/update_personal_access_token_and_permission", json={"id": made["id"], "bot_ids": ["other"]},
              headers=admin)
    assert principal_of(new).bot_ids == ("other",)
    keys.post(f"{PAT}/delete_personal_access_token_and_permission", json={"id": made["id"]}, headers=admin)
    assert not authorizer.decide(f"Bearer {new}").allowed


def test_rotation_grace_is_bounded(keys, as_owner):
    made = make_key(keys, as_owner)
    r = keys.post(f"{PAT}/rotate_personal_access_token", json={"id": made["id"], "grace_ms": 8 * 86400 * 1000},
                  headers=as_owner("alice", "admin"))
    assert r.status_code == 422
    assert authorizer.decide(f"Bearer {made['api_key']}").allowed  # refused: nothing changed
    default = keys.post(f"{PAT}/rotate_personal_access_token", json={"id": made["id"]},
                        headers=as_owner("alice", "admin")).json()
    assert default["grace_ms"] == 86_400_000
    assert keys.post(f"{PAT}/rotate_personal_access_token", json={"id": made["id"]},
                     headers=as_owner("bob", "admin")).status_code == 404


def test_usage_history_survives_rotation(keys, chat, as_owner, two_bots):
    made = make_key(keys, as_owner)
    assert chat.post("/v1/chat/completions", json=ask("x"), headers=header_of(principal_of(made["api_key"]))).status_code == 200
    new = keys.post(f"{PAT}/rotate_personal_access_token", json={"id": made["id"], "grace_ms": 0},
                    headers=as_owner("alice", "admin")).json()["api_key"]
    assert chat.post("/v1/chat/completions", json=ask("y"), headers=header_of(principal_of(new))).status_code == 200
    usage = keys.get("/v1/usage", params={"key_id": made["id"]}, headers=as_owner("alice", "admin")).json()["data"]
    assert usage["total"]["requests"] == 2


# ------------------------------------------------------------------------------------- refusals and workflow runs

def test_a_rate_limit_refusal_is_metered_as_an_error_of_the_key(chat, keys, as_owner, two_bots, monkeypatch):
    monkeypatch.setenv("AGENTGATE_RATE_WINDOW_S", "3600")
    main, _ = two_bots
    made = make_key(keys, as_owner, scopes=["chat"], rate_limits={"rpm": 1})
    limited = header_of(principal_of(made["api_key"]))
    assert chat.post("/v1/chat/completions", json=ask("a", user="u1"), headers=limited).status_code == 200
    assert chat.post("/v1/chat/completions", json=ask("b", user="u1"), headers=limited).status_code == 429
    admin = as_owner("alice", "admin")
    usage = keys.get("/v1/usage", params={"key_id": made["id"], "group_by": "bot"}, headers=admin).json()["data"]
    assert usage["total"]["requests"] == 2 and usage["total"]["errors"] == 1
    assert [row["bot"] for row in usage["items"]] == [main]  # the refusal is the bot's too
    rows = keys.get("/v1/usage", params={"key_id": made["id"], "requests": "true"},
                    headers=admin).json()["data"]["requests"]
    assert sorted(row["status"] for row in rows) == [200, 429]


def test_workflow_runs_are_metered_with_their_tokens_and_limited(aws, keys, as_owner, monkeypatch):
    from agentgate.api.workflows import app as workflows_app

    from .test_workflows_api import create, example

    monkeypatch.setenv("AGENTGATE_ECHO_DELAY_MS", "0")
    monkeypatch.setenv("AGENTGATE_RATE_WINDOW_S", "3600")
    made = make_key(keys, as_owner, scopes=["admin"], rate_limits={"rpm": 3})
    key = header_of(principal_of(made["api_key"]))
    with TestClient(workflows_app) as wf:
        wid = create(wf, as_owner("alice", "admin"), example("hello"))
        sync = wf.post("/v1/workflow/run", json={"workflow_id": wid, "parameters": {"name": "Ada"}}, headers=key)
        assert sync.status_code == 200 and sync.json()["code"] == 0
        stream = wf.post("/v1/workflow/stream_run", json={"workflow_id": wid}, headers=key)
        assert stream.status_code == 200 and "event: Done" in stream.text
        started = wf.post("/v1/workflow/run", json={"workflow_id": wid, "is_async": True}, headers=key).json()
        for _ in range(100):
            history = wf.get(f"/v1/workflows/{wid}/run_histories/{started['execute_id']}", headers=key).json()
            if history["data"][0]["execute_status"] != "Running":
                break
            time.sleep(0.05)
        assert history["data"][0]["execute_status"] == "Success"
        refused = wf.post("/v1/workflow/run", json={"workflow_id": wid}, headers=key)
        assert refused.status_code == 429 and refused.json()["code"] == 429
        # the async run was metered by its background work; wait for its write
        for _ in range(50):
            usage = keys.get("/v1/usage", params={"key_id": made["id"]},
                             headers=as_owner("alice", "admin")).json()["data"]["total"]
            if usage["requests"] == 4:
                break
            time.sleep(0.05)
    # three runs and one refusal (the history reads are not metered)
    assert usage["requests"] == 4 and usage["errors"] == 1
    streamed = [json.loads(line[5:]) for line in stream.text.splitlines() if line.startswith("data:")]
    stream_usage = [d["usage"] for d in streamed if isinstance(d, dict) and d.get("usage")][-1]
    runs = [sync.json()["usage"], stream_usage, history["data"][0]["usage"]]
    assert all(run["token_count"] > 0 for run in runs)
    assert usage["input_tokens"] == sum(run["input_count"] for run in runs)
    assert usage["output_tokens"] == sum(run["output_count"] for run in runs)
