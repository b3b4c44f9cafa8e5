"""Workflows against the running local gateway: cozepy's own workflow examples run unchanged
(base URL, token and ids from the environment, or in place of their placeholder ids), the
operator's `agentgate workflows apply`, seed 002's and seed 004's requests over httpx, the
ip-info example against a local stub, and an interrupted run resumed by a second gateway process
on the same store."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agentgate.local.devserver import wait_until_ready

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "workflows"
COZE_EXAMPLES = Path(__file__).resolve().parent / "cozepy_examples"  # verbatim copies, see SOURCE.md
OWNER = "local"  # the dev root key's owner: `agentgate workflows apply` uses that key


def _example_source(name: str) -> str:
    """A cozepy example, unchanged (tests/integration/cozepy_examples/SOURCE.md)."""
    return (COZE_EXAMPLES / f"{name}.py").read_text()


def _run_example(gateway, name: str, *, replace: dict | None = None, **env) -> str:
    source = _example_source(name)
    for old, new in (replace or {}).items():
        assert old in source, f"{name}: placeholder {old!r} not found"
        source = source.replace(old, new)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTGATE_", "COZE_"))}
    full_env.update(COZE_API_BASE=gateway.base_url, COZE_API_TOKEN=gateway.admin_key, **env)
    done = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, env=full_env, timeout=120)
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _apply(gateway, path: Path, publish: bool = True) -> dict:
    args = [sys.executable, "-m", "agentgate.local.cli", "workflows", "apply", str(path)]
    if publish:
        args.append("--publish")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTGATE_")}
    done = subprocess.run(args, capture_output=True, text=True, cwd=gateway.info["workdir"], env=env, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def workflows(gateway, tmp_path_factory):
    out = {}
    for name in ("hello", "translate", "ask-name"):
        out[name] = _apply(gateway, EXAMPLES / f"{name}.json")["workflow_id"]
    return out


def test_apply_creates_then_updates_by_name(gateway, workflows):
    again = _apply(gateway, EXAMPLES / "hello.json")
    assert again["workflow_id"] == workflows["hello"] and again["created"] is False
    assert int(again["version"]) >= 2


def test_cozepy_workflow_no_stream(gateway, workflows):
    out = _run_example(gateway, "workflow_no_stream", replace={'"workflow id"': repr(workflows["hello"])})
    assert 'workflow.data {"greeting": "Echo: Hello, world!"}' in out


def test_cozepy_workflow_stream_with_interrupt_and_resume(gateway, workflows):
    out = _run_example(gateway, "workflow_stream", COZE_WORKFLOW_ID=workflows["ask-name"])
    assert "content='What is your name?'" in out
    assert "content='hey!'" in out  # the example resumes with "hey" (tokens arrive one by one)
    out = _run_example(gateway, "workflow_stream", COZE_WORKFLOW_ID=workflows["translate"],
                       COZE_PARAMETERS=json.dumps({"text": "bonjour"}))
    assert "got message" in out and "bonjour" in out and "got error" not in out


def test_cozepy_workflow_async_and_run_history(gateway, workflows):
    out = _run_example(gateway, "workflow_async", COZE_WORKFLOW_ID=workflows["hello"])
    assert "Start async workflow run:" in out and "Workflow run success:" in out
    execute_id = out.split("Start async workflow run:", 1)[1].split()[0]
    out = _run_example(gateway, "workflow_run_history", COZE_WORKFLOW_ID=workflows["hello"],
                       COZE_EXECUTE_ID=execute_id)
    assert "execute_status=<WorkflowExecuteStatus.SUCCESS: 'Success'>" in out and f"logid: " in out


def test_cozepy_workflow_retrieve_and_version_list(gateway, workflows):
    out = _run_example(gateway, "workflow_retrieve", COZE_WORKFLOW_ID=workflows["hello"])
    assert f"workflow_id='{workflows['hello']}'" in out and "workflow_name='hello'" in out
    out = _run_example(gateway, "workflow_version_list", COZE_WORKFLOW_ID=workflows["translate"])
    assert "Version: 1" in out and f"Creator: {OWNER} ({OWNER})" in out


def test_cozepy_workflow_chat_stream(gateway, workflows):
    out = _run_example(gateway, "workflow_chat_stream", COZE_WORKFLOW_ID=workflows["hello"])
    assert "Echo: Hello, world!" in out and "token usage:" in out


def test_seed_002_workflow_requests(gateway, workflows):
    wid = workflows["translate"]
    with gateway.client(gateway.admin_key) as c:
        r = c.post("/v1/workflow/run", json={"workflow_id": int(wid), "parameters": {"text": "测试输入"}})
        assert r.status_code == 200 and r.json()["code"] == 0
        assert "测试输入" in json.loads(r.json()["data"])["result"]
        with c.stream("POST", "/v1/workflow/stream_run", json={"workflow_id": int(wid),
                                                                "parameters": {"text": "测试输入"}}) as s:
            body = "".join(s.iter_text())
        assert s.headers["content-type"].startswith("text/event-stream")
        assert "event: Message" in body and "event: Done" in body
        r = c.get("/v1/workflow/get_run_history", params={"workflow_id": wid})
        assert r.status_code == 200 and len(r.json()["data"]) >= 2
        assert r.json()["data"][0]["execute_status"] == "Success"
        r = c.post("/v1/workflow/conversation/create", json={"workflow_id": wid})
        cid = r.json()["data"]["id"]
        with c.stream("POST", "/v1/workflows/chat", json={"workflow_id": int(wid), "conversation_id": cid,
                                                           "query": "用户输入", "parameters": {"text": "用户输入"}}) as s:
            body = "".join(s.iter_text())
        assert "conversation.message.delta" in body and "conversation.chat.completed" in body
        r = c.post("/v1/conversation/message/list", params={"conversation_id": cid}, json={})
        roles = [(m["role"], m["type"]) for m in r.json()["data"]]
        assert ("user", "question") in roles and ("assistant", "answer") in roles


class _IpInfo(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        ip = self.path.strip("/").split("/")[0]
        body = json.dumps({"ip": ip, "city": "Xiamen", "region": "Fujian", "country": "CN",
                           "org": "AS4134 CHINANET"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_seed_004_ip_info_against_a_local_stub(gateway, tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _IpInfo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        document = json.loads((EXAMPLES / "ip-info.json").read_text())
        node = next(n for n in document["nodes"] if n["type"] == "http")
        node["url"] = node["url"].replace("https://ipinfo.io", f"http://127.0.0.1:{server.server_port}")
        path = tmp_path / "ip-info.json"
        path.write_text(json.dumps(document, ensure_ascii=False))
        wid = _apply(gateway, path)["workflow_id"]
        with gateway.client(gateway.admin_key, bare=True) as c:
            r = c.post("/api/v1/aiWorkflow/external/getRunningParams", data={"id": wid})
            assert r.json() == {"errorCode": 0, "title": "获取IP信息", "description": "根据输入的IP地址,获取详细的IP信息。",
                                "parameters": [{"dataType": "String", "description": "IP地址", "id": "3BE5GftyH8y7CUfF",
                                                "name": "ipAddress", "refType": "INPUT", "required": True}]}
            r = c.post("/api/v1/aiWorkflow/external/run", json={"id": wid, "variables": {"ipAddress": "218.86.179.185"}})
            assert r.status_code == 200, r.text
            assert r.json()["errorCode"] == 0
            assert r.json()["result"] == {"ip": "218.86.179.185", "city": "Xiamen", "region": "Fujian", "country": "CN",
                                          "org": "AS4134 CHINANET"}
    finally:
        server.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_interrupted_run_resumes_in_another_gateway_process(gateway, workflows, tmp_path):
    """The question is asked by one gateway; a second process on the same store continues it."""
    from cozepy import Coze, TokenAuth, WorkflowEventType

    wid = workflows["ask-name"]
    first = Coze(auth=TokenAuth(gateway.admin_key), base_url=gateway.base_url)
    interrupt = next(e for e in first.workflows.runs.stream(workflow_id=wid)
                     if e.event == WorkflowEventType.INTERRUPT).interrupt.interrupt_data

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTGATE_", "AWS_"))}
    env.update(AGENTGATE_DYNAMODB_ENDPOINT=gateway.info["dynamodb_endpoint"],
               AGENTGATE_S3_ENDPOINT=gateway.info["s3_endpoint"], AWS_ACCESS_KEY_ID="agentgate-local",
               AWS_SECRET_ACCESS_KEY="agentgate-local", AWS_DEFAULT_REGION="us-east-1",
               AGENTGATE_ECHO_DELAY_MS="0", PYTHONUNBUFFERED="1")
    (tmp_path / ".agentgate").mkdir()
    (tmp_path / ".agentgate" / "dev.json").write_text(json.dumps({"admin_key": gateway.admin_key}))
    log = open(tmp_path / "second.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "agentgate.local.cli", "dev", "--port", str(_free_port()),
                             "--store", "aws", "--template", str(ROOT / "template.yaml")],
                            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        info = wait_until_ready(proc, tmp_path, tmp_path / "second.log", timeout_s=60)
        second = Coze(auth=TokenAuth(gateway.admin_key), base_url=info["base_url"])
        events = list(second.workflows.runs.resume(workflow_id=wid, event_id=interrupt.event_id,
                                                   resume_data="Grace", interrupt_type=interrupt.type))
        text = "".join(e.message.content for e in events if e.event == WorkflowEventType.MESSAGE)
        assert text == "Echo: Nice to meet you, Grace!"
        history = first.workflows.runs.run_histories.retrieve(workflow_id=wid,
                                                              execute_id=interrupt.event_id.split("/")[0])
        assert history.execute_status.value == "Success"
        assert json.loads(history.output)["name"] == "Grace"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
