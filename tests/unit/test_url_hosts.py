"""Image URLs in chat may not name a private or local address in any spelling an HTTP client
accepts (issue 7, point 7): decimal, octal, hex, shortened IPv4, IPv4 inside IPv6, trailing dots."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from agentgate.api.chat import app
from agentgate.files import FileUnusable, attachment_parts
from agentgate.net import hosts
from agentgate.store import bots as bot_store

METADATA = [
    "2852039166",  # 169.254.169.254 as one decimal number
    "0xa9fea9fe",  # hex
    "0xA9.0xFE.0xA9.0xFE",  # hex per part
    "0251.0376.0251.0376",  # octal
    "169.254.43518",  # shortened
    "169.254.169.254.",  # trailing dot
    "[::ffff:169.254.169.254]",  # IPv4-mapped IPv6
    "[::ffff:a9fe:a9fe]",
    "[::169.254.169.254]",  # IPv4-compatible
    "[64:ff9b::a9fe:a9fe]",  # NAT64
]
LOOPBACK = ["127.1", "017700000001", "0x7f000001", "0", "localhost.", "LocalHost", "[::1]", "api.localhost."]
PUBLIC = ["images.example.com", "8.8.8.8", "134744072", "[2606:4700::1111]", "cafe.be"]


@pytest.mark.parametrize("host", METADATA + LOOPBACK)
def test_every_spelling_of_an_internal_address_is_refused(files, host):
    with pytest.raises(FileUnusable) as err:
        attachment_parts("alice", file_url=f"http://{host}/x.png")
    assert err.value.status == 400 and "private or local" in err.value.message


@pytest.mark.parametrize("host", PUBLIC)
def test_public_hosts_pass(files, host):
    url = f"https://{host}/x.png"
    assert attachment_parts("alice", file_url=url) == [{"type": "image_url", "image_url": {"url": url}}]


def test_normalisation():
    assert str(hosts.normalize("2852039166")) == "169.254.169.254"
    assert str(hosts.normalize("[::ffff:a9fe:a9fe]")) == "169.254.169.254"
    assert hosts.normalize("Example.COM.") == "example.com"
    assert str(hosts.normalize("134744072")) == "8.8.8.8"


def test_a_broken_url_is_a_400_not_a_crash(files):
    with pytest.raises(FileUnusable) as err:
        attachment_parts("alice", file_url="http://[::1/x.png")
    assert err.value.status == 400


@pytest.fixture
def files(aws):
    return None


@pytest.mark.parametrize("url", ["http://2852039166/x.png", "http://[::ffff:127.0.0.1]/x.png", "http://[::1/x.png"])
def test_openai_image_url_parts_are_checked_too(aws, as_owner, url):
    bot = bot_store.create_bot("alice", {"name": "b", "model": "echo"}, aliases=["main"])
    bot_store.publish_bot("alice", bot.bot_id)
    r = TestClient(app).post("/v1/chat/completions", headers=as_owner("alice", "chat"), json={
        "model": "main", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": url}}]}]})
    assert r.status_code == 400, r.text
    if "[::1/" not in url:
        assert "private or local" in r.json()["error"]["message"]
