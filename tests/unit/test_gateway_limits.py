"""The local gateway stays bounded (issue 7, point 5, the gateway's part): an LRU authorizer cache
with a size cap that never holds oversized headers, and the body cap enforced while reading on
every route (streaming ones too) before any parse, a lying Content-Length refused at once."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from agentgate.auth import cache as authorizer_cache
from agentgate.auth import management
from agentgate.local.gateway import PAYLOAD_LIMIT, AuthorizerCache, _CachedDecision, build

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def gateway(aws, monkeypatch):
    monkeypatch.setattr(authorizer_cache, "_local_hooks", [])
    return build(ROOT / "template.yaml")


def _call(gateway, method, path, **kwargs):
    async def go():
        transport = httpx.ASGITransport(app=gateway)
        async with httpx.AsyncClient(transport=transport, base_url="http://local") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


def _decision():
    return _CachedDecision(allowed=False, context={"reason": "api key invalid"}, principal_id="x", expires=1e18)


def test_the_cache_is_an_lru_with_a_cap():
    cache = AuthorizerCache(300, max_entries=3)
    for key in "abcd":
        cache.put(key, _decision())
    assert len(cache) == 3 and cache.get("a") is None  # the oldest went
    assert cache.get("b") is not None  # b is now the most recent
    cache.put("e", _decision())
    assert cache.get("c") is None and cache.get("b") is not None and len(cache) == 3


def test_oversized_identity_values_are_never_cached():
    cache = AuthorizerCache(300)
    cache.put("x" * (AuthorizerCache.MAX_KEY_CHARS + 1), _decision())
    assert len(cache) == 0


def test_junk_headers_leave_the_cache_bounded(gateway):
    gateway.auth_cache.max_entries = 10
    for i in range(25):
        r = _call(gateway, "GET", "/v1/bots", headers={"Authorization": f"Bearer junk-{i}"})
        assert r.status_code == 401
    assert len(gateway.auth_cache) == 10
    for i in range(5):
        r = _call(gateway, "GET", "/v1/bots", headers={"Authorization": f"Bearer {i}" + "j" * 20_000})
        assert r.status_code == 401 and r.json()["msg"] == "api key invalid"
    assert len(gateway.auth_cache) == 10
    assert all(len(k) < 100 for k in gateway.auth_cache._items)


def _raw(gateway, path: str, headers: list[tuple[bytes, bytes]], chunks):
    """Drive the gateway by hand: `chunks` is what receive() hands out, one body piece per call."""
    reads = {"n": 0, "bytes": 0}
    sent: dict = {"status": None, "headers": [], "body": b""}
    pieces = iter(chunks)

    async def receive():
        piece = next(pieces, None)
        if piece is None:
            await asyncio.sleep(3600)  # a client that never sends what it announced
        reads["n"] += 1
        reads["bytes"] += len(piece)
        return {"type": "http.request", "body": piece, "more_body": True}

    async def send(message):
        if message["type"] == "http.response.start":
            sent["status"], sent["headers"] = message["status"], message["headers"]
        else:
            sent["body"] += message.get("body", b"")

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "headers": headers,
             "client": ("127.0.0.1", 1), "server": ("local", 80), "root_path": ""}
    asyncio.run(asyncio.wait_for(gateway(scope, receive, send), 10))
    return sent, reads


def _key():
    _, key = management.create_key(management.CLI_ACTOR, "k", owner_id="o", scopes=["admin"])
    return key


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v3/chat", "/v1/bot/create"])
def test_a_lying_content_length_is_refused_at_once_unread(gateway, path):
    headers = [(b"authorization", f"Bearer {_key()}".encode()), (b"content-type", b"application/json"),
               (b"content-length", b"99999999999")]
    sent, reads = _raw(gateway, path, headers, [])
    assert sent["status"] == 413 and json.loads(sent["body"])["code"] == 413
    assert (b"connection", b"close") in sent["headers"]
    assert reads["n"] == 0


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v3/chat", "/api/v1/chat", "/v1/bot/create"])
def test_bodies_past_the_cap_stop_being_read_on_every_route(gateway, path):
    headers = [(b"authorization", f"Bearer {_key()}".encode()), (b"content-type", b"application/json")]
    chunk = b" " * (1024 * 1024)
    sent, reads = _raw(gateway, path, headers, [b"{"] + [chunk] * 200)  # 200 MB on offer, no Content-Length
    assert sent["status"] == 413
    assert reads["bytes"] <= PAYLOAD_LIMIT + len(chunk)  # stopped right past the cap, never 200 MB
