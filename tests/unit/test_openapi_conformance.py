"""Every app's OpenAPI document is true: a bounded, derandomized schemathesis run per app.

In-process (schemathesis' ASGI transport, moto-backed tables as in every unit test), as a root
key (the authorizer's context header), 25 generated requests per operation (positive and negative
data), derandomized, no shrinking. Each operation acts for an owner of its own, who holds a
published bot, a conversation, a knowledge base, a workflow, a file and a key (what the app's
routes can name); every other request names those instead of the generated ids, so it gets past
"not found" into the route. Any 5xx fails, and so does a status, content type or body the
operation's document does not declare, and (but where NOT_SCHEMA_CHECKED says why) a request valid
by the document that is refused as invalid. The run prints the operations, requests and 5xx.
"""

from __future__ import annotations

import importlib
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, positive_data_acceptance,
                                               response_schema_conformance, status_code_conformance)

from conftest import empty_tables, principal_header

# Every FastAPI app a function serves (functions/*/app.py import these).
APPS = ("agentchat", "bots", "chat", "conversations", "files", "keys", "knowledge", "workflows")
EXAMPLES = 25

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          positive_data_acceptance]

# Which generated fields name a seeded resource, per app: every other request names a real one
# (the other half keeps the generated value), so requests get past "not found" into the routes.
TARGETS = {
    "agentchat": {"agent_id": "bot"},
    "bots": {"bot_id": "bot"},
    "chat": {"model": "bot", "bot_id": "bot", "botId": "bot", "agentId": "bot", "conversation_id": "conversation",
             "dialog_id": "conversation"},
    "conversations": {"conversation_id": "conversation", "message_id": "message", "bot_id": "bot"},
    "files": {"file_id": "file"},
    "keys": {"id": "key", "key_id": "key"},
    "knowledge": {"knowledge_id": "knowledge", "dataset_id": "knowledge", "file_id": "file"},
    "workflows": {"workflow_id": "workflow", "id": "workflow", "conversation_id": "conversation", "bot_id": "bot"},
}

# positive_data_acceptance (a request valid by the schema is not refused with 400/413/415/422) holds
# everywhere but where the code checks a body further than JSON Schema can say. Each reason:
CONTENT = ("message content is checked part by part (agentgate.chat.attachments): an image URL must be a "
           "public http(s) one, file data valid base64 of an accepted type, object_string a JSON array of parts")
NOT_SCHEMA_CHECKED = {
    **dict.fromkeys(["POST /v1/chat/completions", "POST /api/v1/chat/completions", "POST /v1/responses",
                     "POST /api/v1/responses", "POST /v3/chat", "POST /api/v1/aiBot/externalChat",
                     "POST /v1/conversation/create", "POST /v1/conversation/message/create",
                     "POST /v1/conversation/message/modify", "POST /api/v1/chat"], CONTENT),
    **dict.fromkeys(["POST /v1/files/upload", "POST /api/v1/upload"],
                    "an upload's type is read from its name and first bytes, which JSON Schema cannot state"),
    **dict.fromkeys(["POST /api/v1/knowledge_file/create", "POST /open_api/knowledge/document/create"],
                    "a document's source is checked beyond its shape: exactly one source, a file_url this "
                    "service issued, base64 data of a readable type, no web pages"),
    **dict.fromkeys(["POST /v1/workflows", "PUT /v1/workflows/{workflow_id}", "POST /api/v1/tool/create",
                     "PUT /api/v1/tool/update"],
                    "a workflow graph (its nodes' references, one start, an end) and a tool's implementation "
                    "(per kind: a URL, an MCP server, the owner's workflow) are validated as a whole"),
    "GET /v1/usage": "from and to must form a range of at most 366 days, and requests=true needs key_id: "
                     "relations between query parameters, which OpenAPI cannot state",
}

_stats = {"operations": 0, "requests": 0, "server_errors": 0, "started": None}


@pytest.fixture(scope="module")
def _report(request):
    _stats["started"] = time.monotonic()
    yield
    elapsed = time.monotonic() - _stats["started"]
    line = (f"openapi conformance: {_stats['operations']} operations, {_stats['requests']} requests, "
            f"{_stats['server_errors']} 5xx, {elapsed:.1f} s")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("\n" + line)


@pytest.fixture(scope="module")
def _tables(_aws_session):
    """The tables, emptied once for the run (each operation has an owner of its own) and after it."""
    empty_tables()
    yield
    empty_tables()


def _seed(owner: str, kinds: set[str]) -> dict[str, str]:
    """The owner's resources of these kinds: a published bot (alias `fuzz`) on the echo model, a
    conversation with a message, a knowledge base, a published workflow, a file, a key."""
    import json
    from pathlib import Path

    from agentgate.auth import management
    from agentgate.files import service as files
    from agentgate.knowledge import bases
    from agentgate.store import bots, conversations
    from agentgate.workflows import manage

    seeded: dict[str, str] = {}
    bot = bots.create_bot(owner, {"name": "fuzz", "model": "echo"}, ["fuzz"])
    bots.publish_bot(owner, bot.bot_id)
    seeded["bot"] = bot.bot_id
    if kinds & {"conversation", "message"}:
        conversation = conversations.create_conversation(owner, bot.bot_id)
        seeded["conversation"] = conversation.conversation_id
        seeded["message"] = conversations.add_message(owner, conversation.conversation_id, role="user",
                                                      content="hi", type="question", bot_id=bot.bot_id).message_id
    if "knowledge" in kinds:
        seeded["knowledge"] = bases.create_base(owner, "fuzz").knowledge_id
    if "workflow" in kinds:
        document = json.loads((Path(__file__).resolve().parents[2] / "examples" / "workflows" / "hello.json")
                              .read_text())
        seeded["workflow"] = manage.create(owner, document, True).workflow_id
    if "file" in kinds:
        seeded["file"] = files.store_upload(owner, "fuzz.txt", b"hello", None).file_id
    if "key" in kinds:
        seeded["key"] = management.create_key(management.CLI_ACTOR, "fuzz", owner_id=owner, scopes=["chat"])[0].id
    return seeded


def _aim(case, targets: dict[str, str], seeded: dict[str, str]) -> None:
    """Point the case's id fields (path, query, top-level body) at the seeded resources."""
    for container in (case.path_parameters, case.query, case.body):
        if isinstance(container, dict):
            for name, kind in targets.items():
                if name in container:
                    container[name] = seeded[kind]


def _schema(name: str):
    app = importlib.import_module(f"agentgate.api.{name}").app
    schema = schemathesis.openapi.from_dict(app.openapi())
    schema.app = app
    schema.config.seed = 7
    # The schema's examples and generated data; the coverage phase (boundary values of every
    # keyword, hundreds of requests per operation) and stateful links are left out to bound the run.
    schema.config.phases.update(phases=["examples", "fuzzing"])
    # Generation from the schema and the seed alone, the same on every run: no steering by earlier
    # answers (their ids and times differ from run to run).
    schema.config.phases.fuzzing.error_feedback.is_enabled = False
    schema.config.phases.fuzzing.extra_data_sources.responses = False
    return schema


def _conformance_test(name: str):
    schema = _schema(name)
    counts: dict[str, int] = {}
    owners: dict[str, tuple[dict, dict]] = {}  # operation -> (its root key's header, its seeded ids)
    targets = TARGETS[name]

    @schema.parametrize()
    # No shrinking: a failure is reported as found (the bound on run time holds when one fails too).
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def test(case, _tables, _report, monkeypatch):
        monkeypatch.setenv("AGENTGATE_ECHO_DELAY_MS", "0")
        label = case.operation.label
        if label not in owners:
            _stats["operations"] += 1
            owner = f"owner-fuzz-{_stats['operations']}"
            owners[label] = (principal_header(owner, "root", key_id=f"{10**18 + _stats['operations']}"),
                             _seed(owner, set(targets.values())))
        root, seeded = owners[label]
        counts[label] = counts.get(label, 0) + 1
        if counts[label] % 2 == 0:
            _aim(case, targets, seeded)
        response = case.call(headers=root)
        _stats["requests"] += 1
        if response.status_code >= 500:
            _stats["server_errors"] += 1
        excluded = [positive_data_acceptance] if label in NOT_SCHEMA_CHECKED else []
        case.validate_response(response, checks=CHECKS, excluded_checks=excluded)

    test.__name__ = f"test_{name}_conforms"
    return test


for _name in APPS:
    globals()[f"test_{_name}_conforms"] = _conformance_test(_name)


@pytest.mark.parametrize("name", APPS)
def test_documents_give_every_error_the_protocols_body_and_unique_operation_ids(name):
    import warnings

    from agentgate.api.errors import shape_for_path
    from agentgate.api.openapi import ERROR_SCHEMAS, build

    app = importlib.import_module(f"agentgate.api.{name}").app
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # FastAPI warns of a duplicate operation id
        doc = build(app)
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    assert "HTTPValidationError" not in doc.get("components", {}).get("schemas", {})
    for path, item in doc["paths"].items():
        error = {"$ref": f"#/components/schemas/{ERROR_SCHEMAS[shape_for_path(path)][0]}"}
        for method, op in item.items():
            statuses = {int(s) for s in op["responses"]}
            if "requestBody" in op:
                assert 400 in statuses, (method, path)
            for status, response in op["responses"].items():
                if status >= "400":
                    assert response["content"] == {"application/json": {"schema": error}}, (method, path, status)


def test_whole_number_floats_are_integers_in_bodies(aws, as_owner):
    """JSON Schema's integer holds 22.0 (and a JavaScript client cannot send 22 otherwise than as
    it likes): body integers take it; 22.5 stays refused."""
    from fastapi.testclient import TestClient

    from agentgate.api.bots import app

    client = TestClient(app)
    admin = as_owner("alice", "admin")
    r = client.post("/v1/bot/create", json={"name": "b", "memory_window": 22.0, "max_tokens": 1e3}, headers=admin)
    assert r.status_code == 200, r.text
    bot = client.get(f"/v1/bots/{r.json()['data']['bot_id']}", params={"is_published": "false"}, headers=admin)
    assert (bot.json()["data"]["memory_window"], bot.json()["data"]["max_tokens"]) == (22, 1000)
    r = client.post("/v1/bot/create", json={"name": "b", "memory_window": 22.5}, headers=admin)
    assert r.status_code == 422 and "memory_window" in r.json()["msg"]
