"""The neutral event stream of a workflow run; protocols/coze_workflow.py and protocols/aiflowy.py
render it, the engine never knows which.

A run yields NodeStarted / Delta / NodeMessage / NodeFinished for its nodes, then exactly one of
Completed, Interrupted or Failed. protocols.sse.KEEPALIVE may appear anywhere during silences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class NodeStarted:
    node_id: str
    title: str
    kind: str


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of streamed text (an llm or bot node's tokens), shown under `title`."""

    node_id: str
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class NodeMessage:
    """A whole message of a node (message node, end node); `finished`: the node's last one."""

    node_id: str
    title: str
    content: str
    finished: bool = True


@dataclass(frozen=True, slots=True)
class NodeFinished:
    node_id: str
    title: str
    kind: str
    output: Any
    streamed: bool = False  # its text went out as Delta events (a renderer may close them)
    stream_title: str = ""


@dataclass(frozen=True, slots=True)
class RunUsage:
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add(self, input_tokens: int, output_tokens: int) -> "RunUsage":
        return RunUsage(self.input_tokens + input_tokens, self.output_tokens + output_tokens)


@dataclass(frozen=True, slots=True)
class Completed:
    output: dict
    usage: RunUsage = field(default_factory=RunUsage)
    answer: str | None = None  # the end node's answer text, if it has one


@dataclass(frozen=True, slots=True)
class Interrupted:
    event_id: str
    type: int  # Coze's interrupt type (2: a question)
    node_id: str
    title: str
    question: str
    usage: RunUsage = field(default_factory=RunUsage)


@dataclass(frozen=True, slots=True)
class Failed:
    code: int
    message: str
    usage: RunUsage = field(default_factory=RunUsage)


FINAL_EVENTS = (Completed, Interrupted, Failed)
