"""One model turn for the llm and bot nodes, through the runner (agentgate.runner), streaming
its tokens as Delta events when the node streams."""

from __future__ import annotations

from agentgate.runner.events import Error, Finish, TextDelta, Usage
from agentgate.runner.types import BotSpec, ChatMessage, TurnRequest
from agentgate.workflows.errors import NodeFailed
from agentgate.workflows.events import Delta
from agentgate.workflows.nodes.base import Output


async def run_turn(node, rt, spec: BotSpec, prompt: str, variables: dict | None = None, params: dict | None = None):
    request = TurnRequest(bot=spec, messages=[ChatMessage(role="user", content=prompt)],
                          variables=dict(variables or {}), params=dict(params or {}))
    title = rt.stream_title(node.id)
    parts: list[str] = []
    error = None
    finish = "stop"
    async for event in rt.run_turn(request):
        kind = type(event)
        if kind is TextDelta:
            parts.append(event.text)
            if title is not None:
                yield Delta(node.id, title, event.text)
        elif kind is Usage:
            rt.add_usage(event.input_tokens, event.output_tokens)
        elif kind is Error:
            error = event
        elif kind is Finish:
            finish = event.reason
    if error is not None:
        raise NodeFailed(f"the model failed: {error.message}", int(error.status))
    if finish == "cancelled":
        raise NodeFailed("the run was cancelled", 499)
    yield Output({"text": "".join(parts)})
