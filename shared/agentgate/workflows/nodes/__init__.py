"""Node kinds: one module each, registered here. Adding a kind = one module + one line below."""

from __future__ import annotations

from agentgate.workflows.nodes import (bot, condition, end, http, knowledge, llm, loop, message, question, start,
                                      transform)
from agentgate.workflows.nodes.base import NodeKind

KINDS: dict[str, NodeKind] = {
    "start": start.Start(),
    "end": end.End(),
    "llm": llm.Llm(),
    "bot": bot.Bot(),
    "condition": condition.Condition(),
    "transform": transform.Transform(),
    "http": http.Http(),
    "question": question.Question(),
    "message": message.Message(),
    "loop": loop.Loop(),
    "knowledge": knowledge.Knowledge(),
}


def kind_of(name: str) -> NodeKind:
    return KINDS[name]
