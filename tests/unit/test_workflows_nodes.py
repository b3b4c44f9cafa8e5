"""Every node kind, the engine's branching and limits, and durable runs on moto (heartbeat,
deadline, resume by a second engine, cancel, large outputs in S3)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agentgate.store import bots as bot_store
from agentgate.store import workflows as store
from agentgate.workflows import definition, manage, runs
from agentgate.workflows.engine import Engine
from agentgate.workflows.errors import DefinitionError
from agentgate.workflows.events import Completed, Delta, Failed, Interrupted, NodeMessage


def wf(*nodes, edges=None, inputs=None, **extra) -> dict:
    doc = {"name": "t", "inputs": inputs or [], "nodes": [{"id": "start", "type": "start"}, *nodes], **extra}
    if edges is not None:
        doc["edges"] = edges
    return doc


def run(doc: dict, params=None, **kw) -> list:
    parsed = definition.parse(doc)

    async def go():
        engine = Engine(parsed, owner_id="alice", inputs=parsed.bind_inputs(params or {}), **kw)
        return [e async for e in engine.events()]

    return asyncio.run(go())


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    monkeypatch.setenv("AGENTGATE_ECHO_DELAY_MS", "0")


def test_condition_branches_and_skips_the_other_side():
    doc = wf({"id": "check", "type": "condition", "conditions": [{"left": "{{start.n}}", "op": "gt", "right": 10}]},
             {"id": "big", "type": "transform", "expressions": {"size": "'big'"}},
             {"id": "small", "type": "transform", "expressions": {"size": "'small'"}},
             {"id": "end", "type": "end", "outputs": {"big": "{{big.size}}", "small": "{{small.size}}"}},
             inputs=[{"name": "n", "dataType": "Number", "required": True}],
             edges=[["start", "check"], ["check", "big", "true"], ["check", "small", "false"],
                    ["big", "end"], ["small", "end"]])
    assert run(doc, {"n": 42})[-1].output == {"big": "big", "small": None}
    assert run(doc, {"n": "3"})[-1].output == {"big": None, "small": "small"}  # form text coerced


def test_transform_uses_jmespath_never_eval():
    doc = wf({"id": "t", "type": "transform",
              "expressions": {"names": "start.people[?age > `30`].name", "count": "length(start.people)",
                              "joined": "join(', ', start.people[*].name)"}},
             {"id": "end", "type": "end", "outputs": {"all": "{{t}}"}},
             inputs=[{"name": "people", "dataType": "Array<Object>", "required": True}])
    people = [{"name": "Ada", "age": 36}, {"name": "Bo", "age": 20}]
    assert run(doc, {"people": people})[-1].output == {"all": {"names": ["Ada"], "count": 2, "joined": "Ada, Bo"}}
    bad = wf({"id": "t", "type": "transform", "expressions": {"x": "__import__('os')"}},
             {"id": "end", "type": "end"})
    with pytest.raises(DefinitionError, match="invalid JMESPath"):
        definition.parse(bad)
    unknown = wf({"id": "t", "type": "transform", "expressions": {"x": "ghost.value"}}, {"id": "end", "type": "end"})
    with pytest.raises(DefinitionError, match="no node 'ghost'"):
        definition.parse(unknown)


def test_message_and_llm_streaming_events():
    doc = wf({"id": "note", "type": "message", "content": "looking up {{start.q}}"},
             {"id": "ask", "type": "llm", "prompt": "{{start.q}}", "stream": True, "title": "Ask"},
             {"id": "end", "type": "end", "outputs": {"a": "{{ask.text}}"}},
             inputs=[{"name": "q", "dataType": "String", "default": "why"}])
    events = run(doc)
    assert [e.content for e in events if isinstance(e, NodeMessage)][0] == "looking up why"
    deltas = [e.text for e in events if isinstance(e, Delta)]
    assert deltas == ["Echo: ", "why"] and all(e.title == "Ask" for e in events if isinstance(e, Delta))
    assert events[-1].output == {"a": "Echo: why"} and events[-1].usage.output_tokens == 2


def test_llm_on_the_stub_upstream_and_bot_node(aws, monkeypatch):
    from agentgate.local.stub_upstream import start_stub

    base_url, stop = start_stub()
    try:
        monkeypatch.setenv("AGENTGATE_PROVIDERS", json.dumps({"stub": {"type": "openai", "base_url": base_url,
                                                                        "api_key": "sk"}}))
        bot = bot_store.create_bot("alice", {"model": "echo", "name": "B", "prompt": "Be {{mood}}."},
                                   aliases=["helper"])
        bot_store.publish_bot("alice", bot.bot_id)
        doc = wf({"id": "up", "type": "llm", "model": "stub/any", "prompt": "hello {{start.q}}"},
                 {"id": "b", "type": "bot", "bot_id": "helper", "prompt": "{{up.text}}", "variables": {"mood": "calm"}},
                 {"id": "end", "type": "end", "outputs": {"up": "{{up.text}}", "bot": "{{b.text}}"},
                  "answer": "{{b.text}}"},
                 inputs=[{"name": "q", "dataType": "String", "default": "there"}])
        events = run(doc)
        out = events[-1].output
        assert out["up"] == "Stub reply to 1 messages: [user] hello there"
        assert out["bot"] == f'Echo: {out["up"]} | system: "Be calm."'
        assert "".join(e.text for e in events if isinstance(e, Delta)) == out["bot"]  # the answer streams
        other = wf({"id": "b", "type": "bot", "bot_id": "nobody", "prompt": "x"}, {"id": "end", "type": "end"})
        failed = run(other)[-1]
        assert isinstance(failed, Failed) and failed.code == 404 and "node 'b'" in failed.message
    finally:
        stop()


def test_loop_is_bounded():
    doc = wf({"id": "each", "type": "loop", "items": "{{start.xs}}", "max_iterations": 3,
              "body": {"nodes": [{"id": "double", "type": "transform", "expressions": {"v": "each.item"}},
                                 {"id": "say", "type": "llm", "prompt": "{{double.v}}"}]},
              "collect": "{{say.text}}"},
             {"id": "end", "type": "end", "outputs": {"r": "{{each.results}}", "n": "{{each.count}}"}},
             inputs=[{"name": "xs", "dataType": "Array<String>", "required": True}])
    assert run(doc, {"xs": ["a", "b"]})[-1].output == {"r": ["Echo: a", "Echo: b"], "n": 2}
    failed = run(doc, {"xs": ["a", "b", "c", "d"]})[-1]
    assert isinstance(failed, Failed) and "at most 3 times" in failed.message
    doc["nodes"][1]["max_iterations"] = 10_000
    with pytest.raises(DefinitionError, match="max_iterations"):
        definition.parse(doc)


def test_node_count_limit(monkeypatch):
    monkeypatch.setenv("AGENTGATE_WORKFLOW_MAX_NODES", "5")
    chain = [{"id": f"t{i}", "type": "transform", "expressions": {"v": "`1`"}} for i in range(5)]
    with pytest.raises(DefinitionError, match="more than 5 nodes"):
        definition.parse(wf(*chain, {"id": "end", "type": "end"}))


class _Json(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        big = self.path.startswith("/big")
        body = (b"x" * 5000) if big else json.dumps({"path": self.path, "auth": self.headers.get("Authorization")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain" if big else "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def local_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Json)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port
    server.shutdown()


def http_doc(url, **extra):
    return wf({"id": "h", "type": "http", "url": url, **extra},
              {"id": "end", "type": "end", "outputs": {"body": "{{h.body}}", "status": "{{h.status_code}}"}},
              inputs=[{"name": "q", "dataType": "String", "default": "a b/../c"}])


class _Secrets:
    async def secret(self, name):
        return {"TOKEN": "s3cret"}.get(name)

    def __init__(self):
        self.done = []

    async def node_done(self, **kw):
        self.done.append(kw)


def test_http_node_refuses_private_addresses_and_plain_http(local_server, monkeypatch):
    monkeypatch.delenv("AGENTGATE_HTTP_ALLOW_HOSTS", raising=False)
    for url in (f"http://127.0.0.1:{local_server}/x", f"https://127.0.0.1:{local_server}/x",
                "https://169.254.169.254/latest/meta-data", "https://localhost/x", "https://10.0.0.1/x",
                "https://2852039166/latest", "https://0x7f000001/x", "https://[::ffff:169.254.169.254]/x"):
        failed = run(http_doc(url))[-1]
        assert isinstance(failed, Failed), url
        assert "private or local" in failed.message or "only https" in failed.message, failed.message
    with pytest.raises(DefinitionError, match="host"):
        definition.parse(http_doc("https://{{start.q}}/x"))
    with pytest.raises(DefinitionError, match="https"):
        definition.parse(http_doc("file:///etc/passwd"))


def test_http_node_to_an_allowed_host_with_a_secret(local_server, monkeypatch):
    monkeypatch.setenv("AGENTGATE_HTTP_ALLOW_HOSTS", "127.0.0.1")
    recorder = _Secrets()
    doc = http_doc(f"http://127.0.0.1:{local_server}/ip/{{{{start.q}}}}",
                   headers={"Authorization": "Bearer {{secrets.TOKEN}}"})
    done = run(doc, recorder=recorder)[-1]
    assert done.output["status"] == 200
    assert done.output["body"] == {"path": "/ip/a%20b%2F..%2Fc", "auth": "Bearer s3cret"}  # values are URL-encoded
    (recorded,) = [d for d in recorder.done if d["node"].id == "h"]
    assert recorded["node_input"]["headers"] == {"Authorization": "Bearer ***"}  # never the secret
    monkeypatch.setenv("AGENTGATE_HTTP_MAX_RESPONSE_BYTES", "1000")
    failed = run(http_doc(f"http://127.0.0.1:{local_server}/big"))[-1]
    assert isinstance(failed, Failed) and failed.code == 413
    with pytest.raises(DefinitionError, match="secrets may only be used"):
        definition.parse(wf({"id": "m", "type": "message", "content": "{{secrets.TOKEN}}"}, {"id": "end", "type": "end"}))


# ----------------------------------------------------------------------------- durable runs


def publish(doc) -> str:
    return manage.create("alice", doc, publish=True).workflow_id


def test_a_run_whose_process_died_becomes_fail(aws, monkeypatch):
    monkeypatch.setenv("AGENTGATE_WORKFLOW_STALE_S", "0.2")
    wid = publish(wf({"id": "end", "type": "end"}))
    run_item = store.create_run("alice", wid, version=1, run_mode=2, inputs={}, deadline_ms=10**15)
    assert runs.refresh(store.get_run("alice", run_item.execute_id)).status == store.RUNNING
    time.sleep(0.3)  # no heartbeat since
    refreshed = runs.refresh(store.get_run("alice", run_item.execute_id))
    assert refreshed.status == store.FAIL and "no heartbeat" in refreshed.error_message
    late = store.create_run("alice", wid, version=1, run_mode=2, inputs={}, deadline_ms=1)
    monkeypatch.setenv("AGENTGATE_WORKFLOW_STALE_S", "60")
    assert "time limit" in runs.refresh(store.get_run("alice", late.execute_id)).error_message


def test_heartbeat_keeps_a_long_run_alive_and_a_second_engine_resumes(aws, monkeypatch):
    monkeypatch.setenv("AGENTGATE_WORKFLOW_HEARTBEAT_S", "0.05")
    monkeypatch.setenv("AGENTGATE_WORKFLOW_STALE_S", "0.5")
    doc = json.loads(open("examples/workflows/ask-name.json").read())
    wid = publish(doc)

    async def first():
        execution = await runs.start("alice", wid, {}, run_mode=1)
        return await execution.collect()

    interrupted = asyncio.run(first())
    assert isinstance(interrupted, Interrupted)
    execute_id = interrupted.event_id.split("/")[0]
    runs._cache.clear()  # a new process knows nothing

    async def second():
        execution = await runs.resume("alice", wid, interrupted.event_id, "Lin", 2)
        return await execution.collect()

    done = asyncio.run(second())
    assert isinstance(done, Completed) and done.output["name"] == "Lin"
    run_item = store.get_run("alice", execute_id)
    assert run_item.status == store.SUCCESS
    nodes = store.run_nodes(execute_id)
    assert [(n.node_id, n.status) for n in nodes] == [("start", "Success"), ("ask", "Interrupted"),
                                                     ("ask", "Success"), ("greet", "Success"), ("end", "Success")]


def test_cancel_stops_a_running_run(aws, monkeypatch):
    monkeypatch.setenv("AGENTGATE_WORKFLOW_HEARTBEAT_S", "0.05")
    wid = publish(wf({"id": "slow", "type": "llm", "model": "echo/stall", "prompt": "x"}, {"id": "end", "type": "end"}))

    async def go():
        execution = await runs.start("alice", wid, {}, run_mode=2)
        task = asyncio.ensure_future(execution.collect())
        await asyncio.sleep(0.2)
        await runs.request_cancel("alice", execution.execute_id)  # as another instance would: the flag
        return await asyncio.wait_for(task, 10), execution.execute_id

    final, execute_id = asyncio.run(go())
    assert isinstance(final, Failed) and final.code == 499
    assert store.get_run("alice", execute_id).status == store.CANCELLED


def test_a_large_output_goes_to_s3(aws, monkeypatch):
    monkeypatch.setenv("AGENTGATE_WORKFLOW_INLINE_OUTPUT_BYTES", "1000")
    wid = publish(wf({"id": "end", "type": "end", "outputs": {"text": "{{start.text}}"}},
                     inputs=[{"name": "text", "dataType": "String"}]))

    async def go():
        execution = await runs.start("alice", wid, {"text": "y" * 5000}, run_mode=0)
        return await execution.collect(), execution.execute_id

    final, execute_id = asyncio.run(go())
    item = store.get_run("alice", execute_id)
    assert item.output == "" and item.output_s3_key
    assert json.loads(runs.run_output(item)) == {"text": "y" * 5000}
    monkeypatch.setenv("AGENTGATE_WORKFLOW_MAX_OUTPUT_BYTES", "2000")
    final, execute_id = asyncio.run(go())
    assert isinstance(final, Failed) and final.code == 413
