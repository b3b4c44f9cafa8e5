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


def test_question_interrupts_and_resume_continues(live, admin):
    wid = create(live, admin, example("ask-name"))
    coze = coze_as(live, admin)
    events = list(coze.workflows.runs.stream(workflow_id=wid))
    interrupts = [e for e in events if e.event == WorkflowEventType.INTERRUPT]
    assert len(interrupts) == 1 and interrupts[0].interrupt.node_title == "Ask name"
    data = interrupts[0].interrupt.interrupt_data
    execute_id = data.event_id.split("/")[0]
    history = coze.workflows.runs.run_histories.retrieve(workflow_id=wid, execute_id=execute_id)
    assert history.execute_status == WorkflowExecuteStatus.RUNNING  # waiting for the answer

    resumed = list(coze.workflows.runs.resume(workflow_id=wid, event_id=data.event_id, resume_data="Ada",
                                              interrupt_type=data.type))
    text = "".join(e.message.content for e in resumed if e.event == WorkflowEventType.MESSAGE)
    assert text == "Echo: Nice to meet you, Ada!"
    history = coze.workflows.runs.run_histories.retrieve(workflow_id=wid, execute_id=execute_id)
    assert history.execute_status == WorkflowExecuteStatus.SUCCESS
    assert json.loads(history.output) == {"name": "Ada", "greeting": "Echo: Nice to meet you, Ada!"}
    # Every node shows, the question once, with its answer.
    assert {s.node_id for s in history.node_execute_status.values()} == {"start", "ask", "greet", "end"}

    with pytest.raises(CozeAPIError) as err:  # not interrupted any more
        list(coze.workflows.runs.resume(workflow_id=wid, event_id=data.event_id, resume_data="Bo",
                                        interrupt_type=data.type))
    assert err.value.code == 400
    r = live.post("/v1/workflow/stream_resume", headers=admin,
                  json={"workflow_id": wid, "event_id": "123/4", "resume_data": "x", "interrupt_type": 2})
    assert r.status_code == 404 and r.json()["msg"].startswith("unknown event_id")


@pytest.mark.parametrize("mutate, node, words", [
    (lambda d: (d["nodes"].pop(0), d.pop("edges")), None, "exactly one start"),
    (lambda d: (d["nodes"].pop(), d.pop("edges")), None, "needs an end"),
    (lambda d: d["edges"].pop(), "end", "not reachable from the start"),
    (lambda d: d["nodes"][1].update(prompt="Hi {{nobody.text}}"), "translate", "no node 'nobody'"),
    (lambda d: d["nodes"][1].update(prompt="Hi {{start.missing}}"), "translate", "no output 'missing'"),
    (lambda d: d["nodes"][1].update(prompt="Hi {{end.result}}"), "translate", "does not run before"),
    (lambda d: (d["nodes"].append({"id": "after", "type": "message", "content": "x"}),
                d["edges"].append({"from": "end", "to": "after"})), "end", "cannot lead anywhere"),
    (lambda d: d["edges"].append({"from": "translate", "to": "start"}), None, "cycle"),
    (lambda d: d["nodes"][1].update(type="teleport"), "translate", "unknown type"),
    (lambda d: d["inputs"][0].update(dataType="Blob"), None, "unknown dataType"),
])
def test_invalid_definitions_are_refused_naming_the_node(live, admin, mutate, node, words):
    document = example("translate")
    mutate(document)
    r = live.post("/v1/workflows", json=document, headers=admin)
    assert r.status_code == 400, r.text
    msg = r.json()["msg"]
    assert words in msg
    if node:
        assert f"node '{node}'" in msg
    assert live.get("/v1/workflows", headers=admin).json()["data"]["items"] == []  # nothing half-stored


def test_inputs_are_checked(live, admin):
    wid = create(live, admin, example("translate"))
    r = live.post("/v1/workflow/run", json={"workflow_id": wid, "parameters": {}}, headers=admin)
    assert r.status_code == 400 and "missing required input 'text'" in r.json()["msg"]
    r = live.post("/v1/workflow/run", json={"workflow_id": wid, "parameters": {"text": ["a"]}}, headers=admin)
    assert r.status_code == 400 and "input 'text' must be String" in r.json()["msg"]
    r = live.post("/v1/workflow/run", json={"workflow_id": int(wid), "parameters": {"text": "hola"}}, headers=admin)
    assert r.status_code == 200 and "hola" in json.loads(r.json()["data"])["result"]


def test_unknown_unpublished_and_other_owners_workflows_are_404(live, admin, as_owner):
    draft = create(live, admin, example("hello"), publish=False)
    published = create(live, admin, example("hello"))
    bob = as_owner("bob", "admin")
    for wid, headers in ((draft, admin), ("123456", admin), (published, bob)):
        r = live.post("/v1/workflow/run", json={"workflow_id": wid}, headers=headers)
        assert r.status_code == 404, (wid, r.text)
        assert r.json()["code"] == 404
    assert live.get(f"/v1/workflows/{published}", headers=bob).status_code == 404
    assert live.get("/v1/workflows", headers=bob).json()["data"]["items"] == []
    r = live.post("/v1/workflow/run", json={"workflow_id": published}, headers=admin)
    execute_id = r.json()["execute_id"]
    assert live.get(f"/v1/workflows/{published}/run_histories/{execute_id}", headers=bob).status_code == 404
    # chat scope runs, but does not write
    chat = as_owner("alice", "chat")
    assert live.post("/v1/workflows", json=example("hello"), headers=chat).status_code == 403
    assert live.post("/v1/workflow/run", json={"workflow_id": published}, headers=chat).status_code == 200
    read = as_owner("alice", "read")
    assert live.post("/v1/workflow/run", json={"workflow_id": published}, headers=read).status_code == 403
    assert live.get(f"/v1/workflows/{published}", headers=read).status_code == 200


def test_versions_drafts_and_listing(live, admin):
    coze = coze_as(live, admin)
    wid = create(live, admin, example("hello"))
    changed = example("hello")
    changed["nodes"][1]["prompt"] = "Goodbye, {{start.name}}!"
    r = live.put(f"/v1/workflows/{wid}", json=changed, headers=admin)
    assert r.status_code == 200
    # A draft changes nothing until it is published.
    assert "Hello" in coze.workflows.runs.create(workflow_id=wid).data
    r = live.post(f"/v1/workflows/{wid}/publish", json={"description": "bye"}, headers=admin)
    assert r.json()["data"]["version"] == "2"
    assert "Goodbye" in coze.workflows.runs.create(workflow_id=wid).data
    r = live.post("/v1/workflow/run", json={"workflow_id": wid, "version": "1"}, headers=admin)
    assert "Hello" in r.json()["data"]
    versions = list(coze.workflows.versions.list(workflow_id=wid))
    assert [v.version for v in versions] == ["2", "1"] and versions[0].description == "bye"
    items = list(coze.workflows.list())
    assert [w.workflow_id for w in items] == [wid] and items[0].workflow_name == "hello"
    info = coze.workflows.retrieve(workflow_id=wid)
    assert info.workflow_detail.workflow_id == wid


def test_aiflowy_running_params_and_run(live, as_owner, admin):
    doc = example("translate")
    wid = create(live, admin, doc)
    bare = {k: v for k, v in as_owner("alice", "chat").items()}
    r = live.post("/api/v1/aiWorkflow/external/getRunningParams", data={"id": wid}, headers=bare)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["errorCode"] == 0 and body["title"] == "translate"
    assert body["parameters"][0] == {"id": "text", "name": "text", "dataType": "String",
                                     "description": "the text to translate", "required": True, "refType": "INPUT"}
    r = live.post("/api/v1/aiWorkflow/external/run", json={"id": wid, "variables": {"text": "hola"}}, headers=bare)
    assert r.status_code == 200 and r.json()["errorCode"] == 0 and "hola" in r.json()["result"]["result"]
    r = live.post("/api/v1/aiWorkflow/external/run", json={"id": wid, "variables": {}}, headers=bare)
    assert r.status_code == 400 and r.json()["errorCode"] == 400 and "text" in r.json()["message"]
