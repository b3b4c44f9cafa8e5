"""Shared fixtures.

Unit tests run every AWS call against moto (`mock_aws`); the principal a route sees is given in
the `x-amzn-request-context` header, exactly as the Lambda Web Adapter passes it.
Integration tests (tests/integration) start the real local gateway (`agentgate dev`) in a
subprocess and talk to it over HTTP.
"""

from __future__ import annotations

import json
import os

import pytest

# Before any agentgate model is imported: a region and fake credentials, no real endpoint.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_REGION", "us-east-1")
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ.pop("AWS_PROFILE", None)
# Unit tests read the non-stream Coze chat's answer in its response: let it wait for the turn
# (the default, 0, answers in_progress at once; tests/unit/test_chat_background.py covers that).
os.environ.setdefault("AGENTGATE_COZE_CHAT_WAIT_MS", "30000")
# Password hashing stays argon2id, with cheap parameters: the suite hashes hundreds of passwords.
os.environ.setdefault("AGENTGATE_ARGON2_MEMORY_KIB", "1024")
os.environ.setdefault("AGENTGATE_ARGON2_TIME_COST", "1")
for _name in ("AGENTGATE_DYNAMODB_ENDPOINT", "AGENTGATE_S3_ENDPOINT", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
    os.environ.pop(_name, None)


@pytest.fixture(scope="session")
def _aws_session():
    """One moto backend for the whole run: creating seven tables per test costs about a second."""
    from moto import mock_aws

    from agentgate.config import settings
    from agentgate.store import base

    with mock_aws():
        base.configure_models()
        _import_all_models()
        base.create_tables()
        import boto3

        boto3.client("s3", region_name=settings().region).create_bucket(Bucket=settings().files_bucket)
        yield


@pytest.fixture
def aws(_aws_session):
    """moto for every AWS service, with agentgate's tables and bucket, empty at the start of each test."""
    empty_tables()
    yield


def empty_tables() -> None:
    """agentgate's tables and bucket, emptied (created where missing), and the bot cache cleared."""
    import boto3

    from agentgate.config import settings
    from agentgate.store import base

    base.configure_models()
    for model in base.all_models():
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
            continue
        with model.batch_write() as batch:
            for item in model.scan():
                batch.delete(item)
    bucket = boto3.resource("s3", region_name=settings().region).Bucket(settings().files_bucket)
    bucket.objects.all().delete()
    from agentgate.store import bot_cache

    bot_cache.clear()  # a bot cached by an earlier test must not outlive its table


def _import_all_models() -> None:
    import importlib
    import pkgutil

    import agentgate.store as store_pkg

    for mod in pkgutil.iter_modules(store_pkg.__path__):
        importlib.import_module(f"agentgate.store.{mod.name}")


def principal_header(owner_id: str = "owner-a", scopes: str = "admin", key_id: str = "1000000000000000001",
                     expired_at: int | str | None = None, source_ip: str | None = None, **policy) -> dict:
    """The header a streaming function (and, in tests, any app) reads its caller from. `policy`:
    more authorizer context (bot_ids="a b", allowed_ips=..., rpm=..., as auth.principal writes it)."""
    authorizer = {"key_id": key_id, "owner_id": owner_id, "scopes": scopes, **policy}
    if expired_at is not None:
        authorizer["expired_at"] = expired_at
    ctx = {"requestId": "test-request", "apiId": "local", "stage": "test", "authorizer": authorizer}
    if source_ip is not None:
        ctx["identity"] = {"sourceIp": source_ip}
    return {"x-amzn-request-context": json.dumps(ctx)}


@pytest.fixture
def as_owner():
    """as_owner("alice", "chat") -> headers that make a TestClient request act as that principal."""
    return principal_header


@pytest.fixture(scope="module")
def http_tool():
    """A plain HTTP tool server (tests/tool_servers.py): (its base URL, the calls it received)."""
    from tool_servers import start_http_tool

    base, calls, stop = start_http_tool()
    yield base, calls
    stop()


@pytest.fixture(scope="module")
def mcp_url():
    """An MCP server with one tool, `forecast(city)` (tests/tool_servers.py): its URL."""
    from tool_servers import start_mcp_server

    url, stop = start_mcp_server()
    yield url
    stop()
