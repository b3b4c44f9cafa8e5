"""template.yaml: valid SAM, and its tables match the PynamoDB models the code uses."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agentgate.local.template import load

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


def _sam() -> str:
    found = shutil.which("sam") or str(Path(sys.executable).parent / "sam")
    assert Path(found).exists(), "aws-sam-cli is required for the tests: pip install -e '.[test]'"
    return found


def test_sam_validate_lint_passes():
    result = subprocess.run(
        [_sam(), "validate", "--lint", "--template", str(TEMPLATE), "--region", "us-east-1"],
        capture_output=True, text=True, env={**os.environ, "SAM_CLI_TELEMETRY": "0"}, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def _template_tables():
    import yaml

    from agentgate.local.template import _CfnLoader

    doc = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)  # noqa: S506
    env = doc["Globals"]["Function"]["Environment"]["Variables"]
    tables = {}
    for var, ref in env.items():
        if var.endswith("_TABLE"):
            tables[var] = doc["Resources"][ref["Ref"]]["Properties"]
    return tables


@pytest.mark.parametrize("model_path", [
    "agentgate.store.keys:ApiKey",
    "agentgate.store.conversations:Conversation",
    "agentgate.store.conversations:Message",
    "agentgate.store.conversations:Chat",
    "agentgate.store.files:FileRecord",
    "agentgate.store.bots:Bot",
    "agentgate.store.workflows:Workflow",
    "agentgate.store.workflows:WorkflowRun",
    "agentgate.store.knowledge:KnowledgeBase",
    "agentgate.store.knowledge:KnowledgeDocument",
    "agentgate.store.knowledge:KnowledgeChunk",
])
def test_table_schemas_match_the_models(model_path):
    import importlib

    from agentgate.store.base import _REGISTRY

    module, name = model_path.split(":")
    model = getattr(importlib.import_module(module), name)
    # Which template table backs this model: the env var whose default name the model uses.
    from agentgate.config import Settings

    table_field = _REGISTRY[model]
    var = {
        "keys_table": "AGENTGATE_KEYS_TABLE", "bots_table": "AGENTGATE_BOTS_TABLE",
        "conversations_table": "AGENTGATE_CONVERSATIONS_TABLE", "messages_table": "AGENTGATE_MESSAGES_TABLE",
        "chats_table": "AGENTGATE_CHATS_TABLE", "files_table": "AGENTGATE_FILES_TABLE",
        "workflows_table": "AGENTGATE_WORKFLOWS_TABLE", "workflow_runs_table": "AGENTGATE_WORKFLOW_RUNS_TABLE",
        "knowledge_table": "AGENTGATE_KNOWLEDGE_TABLE",
        "knowledge_documents_table": "AGENTGATE_KNOWLEDGE_DOCUMENTS_TABLE",
        "knowledge_chunks_table": "AGENTGATE_KNOWLEDGE_CHUNKS_TABLE",
    }
    field = next(f for f in var if table_field(Settings()) == getattr(Settings(), f))
    props = _template_tables()[var[field]]

    schema = model._get_schema()
    assert {(k["AttributeName"], k["KeyType"]) for k in props["KeySchema"]} == \
        {(k["AttributeName"], k["KeyType"]) for k in schema["key_schema"]}
    template_gsis = {g["IndexName"]: {(k["AttributeName"], k["KeyType"]) for k in g["KeySchema"]}
                     for g in props.get("GlobalSecondaryIndexes", [])}
    model_gsis = {g["index_name"]: {(k["AttributeName"], k["KeyType"]) for k in g["key_schema"]}
                  for g in schema.get("global_secondary_indexes", [])}
    assert template_gsis == model_gsis
    template_attrs = {(a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"]}
    model_attrs = {(a["AttributeName"], a["AttributeType"]) for a in schema["attribute_definitions"]}
    assert template_attrs == model_attrs
    assert props["BillingMode"] == "PAY_PER_REQUEST"


def test_local_gateway_reads_every_route_and_the_authorizer():
    api = load(TEMPLATE)
    assert api.authorizer is not None and api.authorizer.identity_headers == ["Authorization"]
    public = {(r.method, r.path) for r in api.routes if not r.authorized}
    # Public: health, the description, and AgentChat's sign-up and sign-in (they mint the JWTs).
    assert public == {("GET", "/health"), ("GET", "/"), ("POST", "/api/v1/user/register"),
                      ("POST", "/api/v1/user/login"), ("POST", "/api/v1/user/refresh")}
    route, params = api.find("GET", "/v1/bots/1234")
    assert route.function.logical_id == "BotsFunction" and params == {"bot_id": "1234"}
    route, params = api.find("PUT", "/v1/datasets/1234")
    assert route.function.logical_id == "KnowledgeFunction" and params == {"dataset_id": "1234"}
    route, _ = api.find("POST", "/v1/datasets/retrieve")
    assert route.function.logical_id == "KnowledgeFunction" and not route.streaming
    route, _ = api.find("POST", "/v3/chat/cancel")
    assert route.function.logical_id == "ChatFunction" and route.streaming
    assert api.find("GET", "/v1/nowhere") == (None, None)
    assert {"UNAUTHORIZED", "ACCESS_DENIED", "MISSING_AUTHENTICATION_TOKEN"} <= set(api.responses)
    assert api.responses["UNAUTHORIZED"].headers == {"x-tt-logid": "context.requestId",
                                                     "Access-Control-Allow-Origin": "'*'"}
    assert api.cors is not None and api.cors.allow_origin == "*"
