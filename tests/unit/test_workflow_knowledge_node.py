"""The workflow node kind `knowledge`: retrieval from the owner's bases inside a run, its output
feeding an llm node; validation and another owner's base."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from agentgate.api.workflows import app
from agentgate.knowledge import bases, documents, retrieval

TEXT = "The staff parking is on level B2.\n\n员工停车场位于地下二层。"


def definition(kid: str) -> dict:
    return {
        "name": "ask the handbook",
        "inputs": [{"name": "question", "dataType": "String", "required": True}],
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "search", "type": "knowledge", "title": "Search", "knowledge_ids": [kid],
             "query": "{{start.question}}", "top_k": 1},
            {"id": "answer", "type": "llm", "model": "echo", "prompt": "Context: {{search.context}}"},
            {"id": "end", "type": "end", "outputs": {"answer": "{{answer.text}}"}},
        ],
        "edges": [{"from": "start", "to": "search"}, {"from": "search", "to": "answer"},
                  {"from": "answer", "to": "end"}],
    }


@pytest.fixture
def client(aws, monkeypatch):
    monkeypatch.setenv("AGENTGATE_ECHO_DELAY_MS", "0")
    retrieval.clear_cache()
    with TestClient(app) as c:
        yield c


def _base(owner: str) -> str:
    base = bases.create_base(owner, "handbook")
    documents.add_documents(owner, base.knowledge_id, [documents.Source(name="handbook", text=TEXT)])
    return base.knowledge_id


def _run(client, headers, document, question):
    r = client.post("/v1/workflows?publish=true", json=document, headers=headers)
    assert r.status_code == 200, r.text
    wid = r.json()["data"]["workflow_id"]
    return client.post("/v1/workflow/run", json={"workflow_id": wid, "parameters": {"question": question}},
                       headers=headers)


def test_a_knowledge_node_feeds_the_llm(client, as_owner):
    kid = _base("alice")
    r = _run(client, as_owner("alice", "admin"), definition(kid), "员工停车场在哪里")
    assert r.status_code == 200, r.text
    answer = json.loads(r.json()["data"])["answer"]
    assert answer.startswith("Echo: Context: [1] handbook\n") and "员工停车场位于地下二层" in answer


def test_validation_and_another_owners_base(client, as_owner):
    admin = as_owner("alice", "admin")
    bad = definition("1")
    bad["nodes"][1]["knowledge_ids"] = []
    r = client.post("/v1/workflows", json=bad, headers=admin)
    assert r.status_code in (400, 422) and "knowledge_ids" in r.json()["msg"]
    kid = _base("bob")
    r = _run(client, admin, definition(kid), "parking")
    assert r.status_code == 404 and r.json()["code"] == 404
    assert f"knowledge base not found: {kid}" in r.json()["msg"]
