"""The real Lambda entry points (functions/*/app.py) with the sample events in events/."""

import json
from pathlib import Path

from agentgate.auth import management
from agentgate.local.gateway import FunctionLoader
from agentgate.local.template import load

ROOT = Path(__file__).resolve().parents[2]
API = load(ROOT / "template.yaml")
LOADER = FunctionLoader()


class Context:
    function_name = "test"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    aws_request_id = "req-1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"

    @staticmethod
    def get_remaining_time_in_millis():
        return 10_000


def _event(name: str) -> dict:
    return json.loads((ROOT / "events" / name).read_text())


def test_authorizer_entrypoint_with_the_sample_event(aws):
    handler = LOADER.handler(API.functions["AuthorizerFunction"])
    _, key = management.create_key(management.CLI_ACTOR, "k", owner_id="acme", scopes=["admin"])
    event = _event("authorizer-request.json")
    event["headers"]["Authorization"] = f"Bearer {key}"
    policy = handler(event, Context())
    assert policy["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert policy["context"]["owner_id"] == "acme"

    event["headers"]["Authorization"] = "Bearer pat_replace_with_a_real_key"
    assert handler(event, Context())["context"] == {"reason": "api key invalid"}


def test_keys_entrypoint_with_the_sample_events(aws):
    handler = LOADER.handler(API.functions["KeysFunction"])
    created = handler(_event("keys-create.json"), Context())
    assert created["statusCode"] == 200
    body = json.loads(created["body"])
    assert body["api_key"].startswith("pat_") and body["user_id"] == "acme"
    assert body["expired_at"] - body["created_at"] == 7776000000

    listed = handler(_event("keys-list.json"), Context())
    assert listed["statusCode"] == 200 and json.loads(listed["body"])["total"] == 1
    assert created["headers"]["x-tt-logid"] == "7b3f3d57-0c2a-4a3c-9a41-93e8deadbeef"  # API Gateway's requestId

    missing = handler(_event("keys-delete.json"), Context())  # the sample id belongs to nobody here
    assert missing["statusCode"] == 404 and json.loads(missing["body"])["code"] == 404

    health = handler(_event("health.json"), Context())
    assert json.loads(health["body"]) == {"status": "healthy"}
