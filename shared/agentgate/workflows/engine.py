"""The engine: runs a validated definition node by node and yields neutral workflow events.

Nodes run in topological order. A node runs when one of its incoming edges is active: its source
ran and, for a condition, the edge's branch matches the condition's result; other nodes are
skipped (so both branches may meet again downstream). Each finished node goes to the Recorder
(runs.py stores it) before the next one starts, so a run can resume from its last node: nodes
already `done` (from an earlier attempt) are not run again, and `answers` complete the question
node a run stopped at.

The engine knows no store, no HTTP and no protocol; its own cost per node is measured by
bench/workflows.py.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator, Callable

from agentgate.config import Settings, settings
from agentgate.ids import new_id, now_s
from agentgate.workflows.definition import Definition, Graph, NodeSpec
from agentgate.workflows.errors import NodeFailed
from agentgate.workflows.events import (
    Completed, Delta, Failed, Interrupted, NodeFinished, NodeMessage, NodeStarted, RunUsage,
)
from agentgate.workflows.nodes import kind_of
from agentgate.workflows.nodes.base import Output, Suspend

CANCELLED_CODE = 499


class Recorder:
    """Where finished nodes go. The default keeps nothing (benchmarks, previews)."""

    async def node_done(self, *, node_execute_uuid: str, node: NodeSpec, seq: int, status: str, node_input: Any,
                        output: Any, error: str | None, loop_index: int | None, started_at: int) -> None:
        return None

    async def secret(self, name: str) -> str | None:
        return None


def _default_run_turn(request, cancel):
    from agentgate.runner.runner import run_turn

    return run_turn(request, cancel)


class Runtime:
    """What a node kind sees while it runs: the outputs in scope and the engine's services."""

    __slots__ = ("engine", "values", "loop_index")

    def __init__(self, engine: "Engine", values: dict, loop_index: int | None):
        self.engine = engine
        self.values = values
        self.loop_index = loop_index

    @property
    def settings(self) -> Settings:
        return self.engine.settings

    @property
    def definition(self) -> Definition:
        return self.engine.definition

    @property
    def inputs(self) -> dict:
        return self.engine.inputs

    @property
    def answer(self):
        return self.engine.answer

    @answer.setter
    def answer(self, text):
        self.engine.answer = text

    def stream_title(self, node_id: str) -> str | None:
        return self.engine.definition.stream_titles.get(node_id)

    def streamed_into(self, title: str) -> bool:
        return title in self.engine.streamed_titles

    def resume_answer(self, node_id: str):
        return self.engine.answers.get(node_id)

    def add_usage(self, input_tokens: int, output_tokens: int) -> None:
        self.engine.usage = self.engine.usage.add(input_tokens, output_tokens)

    def run_turn(self, request):
        return self.engine.run_turn(request, self.engine.cancel)

    async def published_bot(self, ref: str):
        from agentgate.store import bot_cache
        from agentgate.store.bots import resolve_online_bot

        return await asyncio.to_thread(bot_cache.online_bot, self.engine.owner_id, ref, resolve_online_bot)

    def bot_spec(self, bot):
        from agentgate.chat.service import bot_spec

        return bot_spec(bot)

    async def secret(self, name: str) -> str | None:
        return await self.engine.recorder.secret(name)

    def run_body(self, graph: Graph, scope: dict, index: int) -> AsyncIterator[Any]:
        return self.engine._graph(graph, scope, index)


class _Suspended(Exception):
    def __init__(self, node: NodeSpec, suspend: Suspend, seq: int):
        self.node, self.suspend, self.seq = node, suspend, seq


class _NodeError(Exception):
    def __init__(self, node: NodeSpec, failure: NodeFailed):
        self.node, self.failure = node, failure


class _Cancelled(Exception):
    pass


def _branch(output: Any) -> str:
    return "true" if isinstance(output, dict) and output.get("result") else "false"


class Engine:
    def __init__(self, definition: Definition, *, owner_id: str, inputs: dict, done: dict | None = None,
                 answers: dict | None = None, recorder: Recorder | None = None, cancel: asyncio.Event | None = None,
                 seq_start: int = 0, event_id: Callable[[str, int], str] | None = None,
                 run_turn: Callable | None = None, config: Settings | None = None):
        self.definition = definition
        self.owner_id = owner_id
        self.inputs = inputs
        self.done = dict(done or {})
        self.answers = dict(answers or {})
        self.recorder = recorder or Recorder()
        self.cancel = cancel or asyncio.Event()
        self.seq = seq_start
        self.event_id = event_id or (lambda node_id, seq: f"{node_id}/{seq}")
        self.run_turn = run_turn or _default_run_turn
        self.settings = config or settings()
        self.usage = RunUsage()
        self.answer: str | None = None
        self.result: dict | None = None
        self.streamed_titles: set[str] = set()
        self.values: dict = {}

    async def events(self) -> AsyncIterator[Any]:
        """Node events, then exactly one Completed, Interrupted or Failed."""
        try:
            async for event in self._graph(self.definition.graph, self.values, None):
                yield event
        except _Suspended as s:
            yield Interrupted(event_id=self.event_id(s.node.id, s.seq), type=s.suspend.type, node_id=s.node.id,
                              title=s.node.title, question=s.suspend.question, usage=self.usage)
            return
        except _NodeError as e:
            yield Failed(code=e.failure.code, message=f"node '{e.node.id}' ({e.node.kind}) failed: {e.failure.message}",
                         usage=self.usage)
            return
        except _Cancelled:
            yield Failed(code=CANCELLED_CODE, message="the run was cancelled", usage=self.usage)
            return
        yield Completed(output=self.result if self.result is not None else {}, usage=self.usage, answer=self.answer)

    async def _graph(self, graph: Graph, values: dict, loop_index: int | None) -> AsyncIterator[Any]:
        rt = Runtime(self, values, loop_index)
        ran: set[str] = set()
        nodes, incoming = graph.nodes, graph.incoming
        for node_id in graph.order:
            edges = incoming[node_id]
            if edges:
                for e in edges:
                    if e.source in ran and (e.branch is None or e.branch == _branch(values[e.source])):
                        break
                else:
                    continue  # skipped: no active edge leads here
            if loop_index is None and node_id in self.done:
                values[node_id] = self.done[node_id]
                ran.add(node_id)
                continue
            if self.cancel.is_set():
                raise _Cancelled()
            node = nodes[node_id]
            kind = kind_of(node.kind)
            self.seq += 1
            seq = self.seq
            started = now_s()
            yield NodeStarted(node_id, node.title, node.kind)
            output = None
            streamed = False
            try:
                async for item in kind.run(node, rt):
                    t = type(item)
                    if t is Output:
                        output = item.value
                    elif t is Suspend:
                        await self.recorder.node_done(
                            node_execute_uuid=new_id(), node=node, seq=seq, status="Interrupted",
                            node_input=kind.recorded_input(node, rt), output=None, error=None,
                            loop_index=loop_index, started_at=started)
                        raise _Suspended(node, item, seq)
                    else:
                        if t is Delta:
                            streamed = True
                            self.streamed_titles.add(item.title)
                        yield item
            except NodeFailed as exc:
                await self.recorder.node_done(
                    node_execute_uuid=new_id(), node=node, seq=seq, status="Fail",
                    node_input=_safe_input(kind, node, rt), output=None, error=exc.message, loop_index=loop_index,
                    started_at=started)
                if self.cancel.is_set():
                    raise _Cancelled() from None
                raise _NodeError(node, exc) from None
            if output is None:
                output = {}
            values[node_id] = output
            ran.add(node_id)
            await self.recorder.node_done(
                node_execute_uuid=new_id(), node=node, seq=seq, status="Success",
                node_input=kind.recorded_input(node, rt), output=output, error=None, loop_index=loop_index,
                started_at=started)
            if node.kind == "end" and loop_index is None:
                self.result = output
            yield NodeFinished(node_id, node.title, node.kind, output, streamed=streamed,
                               stream_title=self.definition.stream_titles.get(node_id, ""))


def _safe_input(kind, node, rt):
    try:
        return kind.recorded_input(node, rt)
    except Exception:  # noqa: BLE001 - a failed node's input is best effort
        return None


def output_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


__all__ = ["Engine", "Recorder", "Runtime", "Completed", "Failed", "Interrupted", "NodeMessage", "output_json"]
