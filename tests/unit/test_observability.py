"""What the functions write to stdout in Lambda: JSON log lines (Powertools Logger) with the
request's identifiers and never the key, one access line per request, and EMF metrics with the
bot as the only dimension beyond the service (the key id as a property)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest

from agentgate import observability
from agentgate.auth import management
from agentgate.local.gateway import FunctionLoader
from agentgate.local.template import load

ROOT = Path(__file__).resolve().parents[2]
API = load(ROOT / "template.yaml")
LOADER = FunctionLoader()


class Context:
    function_name = "agentgate-keys"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    aws_request_id = "lambda-req-7"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:agentgate-keys"

    @staticmethod
    def get_remaining_time_in_millis():
        return 10_000


@pytest.fixture
def log_lines(monkeypatch):
    """Every JSON line the Powertools Logger writes, parsed."""
    buf = io.StringIO()
    monkeypatch.setattr(observability.logger.logger_handler, "stream", buf)
    level = observability.logger.log_level
    observability.logger.setLevel("INFO")  # as the template's POWERTOOLS_LOG_LEVEL

    def read() -> list[dict]:
        return [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]

    yield read
    observability.logger.setLevel(level)


def _emf(out: str) -> list[dict]:
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in lines if "_aws" in line]


def _event(name: str) -> dict:
    return json.loads((ROOT / "events" / name).read_text())


def test_a_buffered_function_logs_its_access_line_and_metrics(aws, log_lines, capsys):
    handler = LOADER.handler(API.functions["KeysFunction"])
    capsys.readouterr()
    result = handler(_event("keys-list.json"), Context())
    assert result["statusCode"] == 200
    lines = log_lines()
    (access,) = [line for line in lines if line["message"] == "access"]
    assert access["level"] == "INFO" and access["service"] == "agentgate"
    assert access["method"] == "GET" and access["status"] == 200 and access["latency_ms"] >= 0
    assert access["route"] == "/api/permission_api/pat/list_personal_access_tokens"
    request_context = _event("keys-list.json")["requestContext"]
    assert access["request_id"] == request_context["requestId"]
    assert access["key_id"] == request_context["authorizer"]["key_id"]
    assert access["owner_id"] == request_context["authorizer"]["owner_id"]
    assert access["function_request_id"] == "lambda-req-7"  # the Lambda context on every line
    assert "cold_start" in access

    (emf,) = _emf(capsys.readouterr().out)
    (directive,) = emf["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "agentgate"
    assert directive["Dimensions"] == [["service"]]  # no bot here; never the key
    names = {m["Name"] for m in directive["Metrics"]}
    assert {"requests", "errors", "client_errors", "latency"} <= names
    assert emf["requests"] == [1.0] or emf["requests"] == 1.0
    assert emf["key_id"] == request_context["authorizer"]["key_id"]  # a property, not a dimension


def test_the_authorizer_logs_its_decision_but_never_the_key(aws, log_lines):
    handler = LOADER.handler(API.functions["AuthorizerFunction"])
    item, key = management.create_key(management.CLI_ACTOR, "k", owner_id="acme", scopes=["admin"])
    event = _event("authorizer-request.json")
    event["headers"]["Authorization"] = f"Bearer {key}"
    assert handler(event, Context())["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    event["headers"]["Authorization"] = "Bearer pat_not_a_key_of_anyone_here_0123456789abcdef"
    handler(event, Context())

    lines = log_lines()
    decisions = [line for line in lines if line["message"] == "authorizer decision"]
    assert [d["allowed"] for d in decisions] == [True, False]
    assert decisions[0]["key_id"] == item.id and decisions[1]["reason"] == "api key invalid"
    text = json.dumps(lines)
    assert key not in text and "pat_not_a_key" not in text and item.key_hash not in text


async def _chat(app, body: dict, principal: dict) -> httpx.Response:
    context = json.dumps({"requestId": "req-chat-1", "resourcePath": "/v1/chat/completions",
                          "authorizer": principal})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://lambda") as client:
        return await client.post("/v1/chat/completions", json=body,
                                 headers={"x-amzn-request-context": context})


@pytest.mark.anyio
async def test_a_streamed_chat_reports_bot_ttft_and_tokens(aws, log_lines, capsys):
    from agentgate.api.chat import app
    from agentgate.store import bots as bot_store

    bot = bot_store.create_bot("acme", {"model": "echo", "name": "helper"}, aliases=[])
    bot_store.publish_bot("acme", bot.bot_id)
    principal = {"key_id": "k-77", "owner_id": "acme", "scopes": "chat read"}
    capsys.readouterr()
    r = await _chat(app, {"model": bot.bot_id, "stream": True,
                          "messages": [{"role": "user", "content": "hello there"}]}, principal)
    assert r.status_code == 200 and "[DONE]" in r.text

    (access,) = [line for line in log_lines() if line["message"] == "access"]
    assert access["bot_id"] == bot.bot_id and access["key_id"] == "k-77" and access["owner_id"] == "acme"
    assert access["status"] == 200 and access["request_id"] == "req-chat-1"
    assert 0 <= access["ttft_ms"] <= access["latency_ms"]
    assert access["input_tokens"] > 0 and access["output_tokens"] > 0
    assert access["tokens"] == access["input_tokens"] + access["output_tokens"]

    (emf,) = _emf(capsys.readouterr().out)
    (directive,) = emf["_aws"]["CloudWatchMetrics"]
    assert [sorted(d) for d in directive["Dimensions"]] == [["bot", "service"]] and emf["bot"] == bot.bot_id
    names = {m["Name"] for m in directive["Metrics"]}
    assert {"requests", "latency", "ttft", "input_tokens", "output_tokens"} <= names
    assert "key_id" not in directive["Dimensions"][0] and emf["key_id"] == "k-77"


def test_log_lines_of_a_request_carry_its_identifiers(log_lines):
    token = observability.begin(request_id="r-1", key_id="k-1", owner_id="o-1", method="GET", path="/x")
    try:
        observability.annotate(bot_id="b-1")
        import logging

        logging.getLogger("agentgate.store.bots").info("something happened")  # a module logger
    finally:
        observability.finish(token, 404)
    logging.getLogger("agentgate.store.bots").info("after the request")
    lines = {line["message"]: line for line in log_lines()}
    inside = lines["something happened"]
    assert (inside["request_id"], inside["key_id"], inside["owner_id"], inside["bot_id"]) == ("r-1", "k-1", "o-1", "b-1")
    assert lines["access"]["status"] == 404
    assert "request_id" not in lines["after the request"] and "bot_id" not in lines["after the request"]


def test_metrics_can_be_switched_off(monkeypatch, capsys, log_lines):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    observability.finish(observability.begin(request_id="r-2", method="GET", path="/"), 200)
    assert _emf(capsys.readouterr().out) == []
    assert [line["status"] for line in log_lines() if line["message"] == "access"] == [200]
