"""The workflows endpoint group in-process: cozepy's workflows client (unchanged) and plain HTTP
against the app, on moto and the echo provider."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from cozepy import Coze, CozeAPIError, SyncHTTPClient, TokenAuth, WorkflowEventType, WorkflowExecuteStatus
from fastapi.testclient import TestClient

from agentgate.api.workflows import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "workflows"


def example(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


class LiveTransport(httpx.BaseTransport):
    """Like tests/cozepy_asgi.py, but on one TestClient kept open (one event loop), so background
    tasks started by a request keep running after it answered."""

    def __init__(self, client: TestClient, principal: dict):
        self._client = client
        self._principal = principal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in ("host", "content-length")]
        headers += list(self._principal.items())
        answer = self._client.request(request.method, str(request.url), content=request.read(), headers=headers)
        return httpx.Response(answer.status_code, headers=answer.headers.multi_items(), content=answer.content,
                              request=request)


@pytest.fixture
def live(aws, monkeypatch):
    monkeypatch.setenv("AGENTGATE_ECHO_DELAY_MS", "0")
    with TestClient(app) as client:
        yield client


def coze_as(client: TestClient, headers: dict) -> Coze:
    transport = LiveTransport(client, headers)
    return Coze(auth=TokenAuth("pat_test"), base_url="http://testserver",
                http_client=SyncHTTPClient(transport=transport))


def create(client, headers, document, publish=True) -> str:
    r = client.post("/v1/workflows" + ("?publish=true" if publish else ""), json=document, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]["workflow_id"]


@pytest.fixture
def admin(as_owner):
    return as_owner("alice", "admin")


def test_hello_runs_through_cozepy(live, admin):
    wid = create(live, admin, example("hello"))
    coze = coze_as(live, admin)
    result = coze.workflows.runs.create(workflow_id=wid)
    assert json.loads(result.data) == {"greeting": "Echo: Hello, world!"}
    assert result.execute_id.isdigit()
    result = coze.workflows.runs.create(workflow_id=wid, parameters={"name": "Ada"})
    assert json.loads(result.data)["greeting"] == "Echo: Hello, Ada!"

    events = list(coze.workflows.runs.stream(workflow_id=wid, parameters={"name": "Bo"}))
    messages = [e.message for e in events if e.event == WorkflowEventType.MESSAGE]
    assert "".join(m.content for m in messages) == "Echo: Hello, Bo!"
    assert len(messages) >= 3 and not messages[0].node_is_finish and messages[-1].node_is_finish
    assert {m.node_title for m in messages} == {"End"}


def test_async_run_is_polled_to_success(live, admin):
    wid = create(live, admin, example("hello"))
    coze = coze_as(live, admin)
    started = coze.workflows.runs.create(workflow_id=wid, is_async=True)
    assert started.data == ""
    for _ in range(100):
        history = coze.workflows.runs.run_histories.retrieve(workflow_id=wid, execute_id=started.execute_id)
        if history.execute_status != WorkflowExecuteStatus.RUNNING:
            break
        time.sleep(0.05)
    assert history.execute_status == WorkflowExecuteStatus.SUCCESS
    assert json.loads(history.output) == {"greeting": "Echo: Hello, world!"}
    assert history.run_mode == 2
    uuids = {s.node_id: s.node_execute_uuid for s in history.node_execute_status.values()}
    assert set(uuids) == {"start", "greet", "end"}
    node = coze.workflows.runs.run_histories.execute_nodes.retrieve(
        workflow_id=wid, execute_id=started.execute_id, node_execute_uuid=uuids["greet"])
    assert node.is_finish and json.loads(node.node_output) == {"text": "Echo: Hello, world!"}
