"""Issue 11 through the real local gateway: seed 000's two YAML examples applied with
`agentgate config apply` and used exactly as seed 000 calls them (curl, the openai SDK), an IP
allow-list from another source address, a rate limit hammered from two processes at once, and
the 429 each real client raises."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from .conftest import launch

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def gw(tmp_path_factory, stub_upstream):
    """A gateway of its own: seed 000's keys (your-api-key ...) must not meet other tests' keys."""
    running = launch(tmp_path_factory.mktemp("policy-gateway"), stub_upstream)
    gateway = running.gateway
    with gateway.client(gateway.admin_key) as c:  # seed 000's agent "main", the root key's owner's
        bot_id = c.post("/v1/bot/create", json={"name": "main", "model": "echo", "aliases": ["main"]}).json()["data"]["bot_id"]
        assert c.post("/v1/bot/publish", json={"bot_id": bot_id}).status_code == 200
        other = c.post("/v1/bot/create", json={"name": "other", "model": "echo", "aliases": ["other"]}).json()["data"]["bot_id"]
        assert c.post("/v1/bot/publish", json={"bot_id": other}).status_code == 200
    try:
        yield gateway
    finally:
        running.stop()


def _apply(gw, name: str, *extra: str) -> subprocess.CompletedProcess:
    done = gw.cli("config", "apply", str(FIXTURES / name), *extra)
    assert done.returncode == 0, done.stderr
    assert "dev.json" in done.stderr  # found the running gateway by itself
    return done


def _seed_stream_loop(base_url: str, key: str) -> str:
    """Seed 000's Python SDK example, its loop verbatim; what it prints."""
    client = openai.OpenAI(api_key=key, base_url=f"{base_url}/api/v1")
    response = client.chat.completions.create(model="main", messages=[{"role": "user", "content": "你好"}], stream=True)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for chunk in response:
            print(chunk.choices[0].delta.content, end="")
    return printed.getvalue()


def test_seed_000_single_account_yaml_applies_and_the_seeds_calls_work(gw):
    dry = _apply(gw, "seed000_single.yaml", "--dry-run")
    assert "would change 1" in dry.stderr and "create account account01" in dry.stderr
    done = _apply(gw, "seed000_single.yaml")
    assert "warning:" in done.stderr and "fewer than 16" in done.stderr  # the seed's short key, accepted
    assert json.loads(done.stdout)["changed"] == 1
    assert json.loads(_apply(gw, "seed000_single.yaml").stdout)["changed"] == 0  # idempotent

    # curl -X POST http://localhost:9527/api/v1/chat/completions -H "Authorization: Bearer your-api-key" ...
    with httpx.stream("POST", f"{gw.base_url}/api/v1/chat/completions",
                      headers={"Authorization": "Bearer your-api-key", "Content-Type": "application/json"},
                      json={"model": "main", "messages": [{"role": "user", "content": "你好"}], "stream": True}) as r:
        assert r.status_code == 200
        frames = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert frames[-1] == "[DONE]" and json.loads(frames[-2])["choices"][0]["finish_reason"] == "stop"
    # the session example: two turns with sessionId, then its clear call
    for text in ("我叫张三", "我叫什么名字?"):
        r = httpx.post(f"{gw.base_url}/api/v1/chat/completions", headers={"Authorization": "Bearer your-api-key"},
                       json={"model": "main", "messages": [{"role": "user", "content": text}], "sessionId": "session-001"})
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["role"] == "assistant"
    cleared = httpx.post(f"{gw.base_url}/api/v1/sessions/clear", headers={"Authorization": "Bearer your-api-key"},
                         json={"agentId": "main", "sessionKey": "session-001"})
    assert cleared.status_code == 200 and cleared.json()["success"] is True
    assert _seed_stream_loop(gw.base_url, "your-api-key") == "Echo: 你好"
    # the binding: account01 is bound to main; another bot does not exist for it, and no model means main
    client = openai.OpenAI(api_key="your-api-key", base_url=f"{gw.base_url}/api/v1", max_retries=0)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="other", messages=[{"role": "user", "content": "hi"}])
    assert [m.id for m in client.models.list()] == ["main"] or "other" not in [m.id for m in client.models.list()]
    r = httpx.post(f"{gw.base_url}/api/v1/chat/completions", headers={"Authorization": "Bearer your-api-key"},
                   json={"model": "default", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200


def test_seed_000_accounts_yaml_admin_and_readonly(gw):
    _apply(gw, "seed000_single.yaml")
    done = _apply(gw, "seed000_accounts.yaml")
    actions = {c["account_id"]: c["action"] for c in json.loads(done.stdout)["changes"]}
    assert actions == {"admin": "create", "readonly": "create", "account01": "disable"}
    for key in ("admin-secret-key", "readonly-key"):
        assert _seed_stream_loop(gw.base_url, key) == "Echo: 你好"
    # the readonly account (group_policy: disabled) may not post into a conversation another user started
    admin = openai.OpenAI(api_key="admin-secret-key", base_url=f"{gw.base_url}/api/v1", max_retries=0)
    readonly = openai.OpenAI(api_key="readonly-key", base_url=f"{gw.base_url}/api/v1", max_retries=0)
    admin.chat.completions.create(model="main", messages=[{"role": "user", "content": "hi"}], user="zhang",
                                  extra_body={"sessionId": "shared-1"})
    with pytest.raises(openai.PermissionDeniedError) as refused:
        readonly.chat.completions.create(model="main", messages=[{"role": "user", "content": "me too"}], user="li",
                                         extra_body={"sessionId": "shared-1"})
    assert "group" in str(refused.value)
    readonly.chat.completions.create(model="main", messages=[{"role": "user", "content": "hi"}], user="li",
                                     extra_body={"sessionId": "mine-1"})
    # account01 left the file: disabled
    r = httpx.post(f"{gw.base_url}/api/v1/chat/completions", headers={"Authorization": "Bearer your-api-key"},
                   json={"model": "main", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 401 and r.json()["error"]["message"] == "api key disabled"


def _create_key(gw, **body) -> dict:
    with gw.client(gw.admin_key) as c:
        r = c.post("/api/permission_api/pat/create_personal_access_token_and_permission",
                   json={"name": "policy test", "scopes": ["chat"], **body})
        assert r.status_code == 200, r.text
        return r.json()


def test_an_ip_allow_list_through_the_gateway_from_another_source_address(gw):
    key = _create_key(gw, allowed_ips=["127.0.0.1/32"])["api_key"]
    ask = {"model": "main", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": f"Bearer {key}"}
    here = httpx.Client(base_url=gw.base_url, transport=httpx.HTTPTransport(local_address="127.0.0.1"))
    there = httpx.Client(base_url=gw.base_url, transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    with here, there:
        assert here.post("/v1/chat/completions", json=ask, headers=headers).status_code == 200
        # the authorizer's allow is cached now; the other address is still refused, in each shape
        r = there.post("/v1/chat/completions", json=ask, headers=headers)
        assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error"
        r = there.post("/v3/chat", json={"bot_id": "main", "user_id": "u", "additional_messages": [
            {"role": "user", "content": "hi", "content_type": "text"}]}, headers=headers)
        assert r.status_code == 403 and r.json()["code"] == 403
        assert here.post("/v1/chat/completions", json=ask, headers=headers).status_code == 200
    log = Path(gw.info["log"]).read_text()
    assert " 127.0.0.2 POST /v1/chat/completions 403 " in log  # the access line names the source address
    assert key not in log


HAMMER = r"""
import json, sys, threading, httpx
base, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
codes = []
def one():
    r = httpx.post(base + "/v1/chat/completions", headers={"Authorization": "Bearer " + key}, timeout=60,
                   json={"model": "main", "messages": [{"role": "user", "content": "x"}]})
    codes.append(r.status_code)
threads = [threading.Thread(target=one) for _ in range(n)]
[t.start() for t in threads]; [t.join() for t in threads]
print(json.dumps(codes))
"""


def test_a_rate_limit_hammered_from_two_processes_overshoots_by_at_most_5_percent(gw):
    limit, per_process = 30, 40
    made = _create_key(gw, rate_limits={"rpm": limit})
    # Both processes inside one 60 s window: start early in one.
    while time.time() % 60 > 25:
        time.sleep(0.5)
    procs = [subprocess.Popen([sys.executable, "-c", HAMMER, gw.base_url, made["api_key"], str(per_process)],
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    codes = [c for p in procs for c in json.loads(p.communicate(timeout=120)[0])]
    admitted, refused = codes.count(200), codes.count(429)
    overshoot = (admitted - limit) / limit
    print(f"rate limit {limit}/min, {len(codes)} requests from 2 processes: {admitted} admitted, "
          f"{refused} refused, overshoot {overshoot:.1%}")
    assert admitted + refused == len(codes)  # nothing else: no 5xx under the race
    assert limit * 0.95 <= admitted <= limit * 1.05
    # the metering counted every request, the refusals as errors
    with gw.client(gw.admin_key) as c:
        usage = c.get("/v1/usage", params={"key_id": made["id"]}).json()["data"]
    assert (usage["total"]["requests"], usage["total"]["errors"]) == (admitted + refused, refused)


def test_real_clients_raise_their_rate_limit_errors(gw):
    from cozepy import COZE_CN_BASE_URL, Coze, CozeAPIError, Message, TokenAuth  # noqa: F401

    made = _create_key(gw, rate_limits={"rpm": 1})
    key = made["api_key"]
    client = openai.OpenAI(api_key=key, base_url=f"{gw.base_url}/v1", max_retries=0)
    client.chat.completions.create(model="main", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="main", messages=[{"role": "user", "content": "hi"}])
    assert int(refused.value.response.headers["retry-after"]) >= 1
    assert refused.value.response.headers["x-ratelimit-limit-requests"] == "1"
    coze = Coze(auth=TokenAuth(token=key), base_url=gw.base_url)
    with pytest.raises(CozeAPIError) as coze_refused:
        coze.chat.create_and_poll(bot_id="main", user_id="u", additional_messages=[Message.build_user_question_text("hi")])
    assert coze_refused.value.code == 429
