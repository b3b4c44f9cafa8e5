"""The server-side tool loop: a bot's own tools run here, between rounds of the model.

The model is offered the bot's server tools beside any tools the client sent. When it calls a
server tool, the call runs here (agentgate.tools: HTTP, MCP, workflow, built-in; each bounded in
time and size), its result goes back to the model and the model continues, for at most
`AGENTGATE_TOOL_MAX_ROUNDS` rounds (then a last round without tools makes it answer). A call of
a client tool ends the turn as without server tools (Finish("tool_calls")), so client tool loops
and Coze's requires_action work as before. Usage adds up over the rounds.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import AsyncIterator

from agentgate.config import settings
from agentgate.runner.events import Error, Event, Finish, ServerToolCall, ServerToolResult, TextDelta, ToolCall, Usage
from agentgate.runner.types import ChatMessage, TurnRequest


def _tool_name(tool: dict) -> str | None:
    fn = tool.get("function") if isinstance(tool, dict) else None
    return fn.get("name") if isinstance(fn, dict) else None


async def run_with_tools(req: TurnRequest, cancel: asyncio.Event | None, run_round) -> AsyncIterator[Event]:
    """`run_round(request, cancel)` runs one model round (runner.run_turn)."""
    from agentgate import tools as tool_kinds

    server = {t.name: t for t in req.server_tools}
    client_tools = list(req.params.get("tools") or [])
    client_names = {_tool_name(t) for t in client_tools}
    offered = client_tools + [t.as_openai_tool() for t in req.server_tools if t.name not in client_names]
    messages = list(req.messages)
    max_rounds = max(0, settings().tool_max_rounds)
    input_tokens = output_tokens = 0
    saw_usage = False

    for round_no in range(max_rounds + 1):
        last = round_no == max_rounds
        params = dict(req.params)
        if last:
            params.pop("tools", None)  # out of rounds: the model must answer now
            params.pop("tool_choice", None)
        else:
            params["tools"] = offered
        calls: list[ToolCall] = []
        finish = Finish("stop")
        async for event in run_round(dataclasses.replace(req, messages=messages, params=params, server_tools=[]), cancel):
            kind = type(event)
            if kind is ToolCall:
                calls.append(event)
            elif kind is Usage:
                saw_usage = True
                input_tokens += event.input_tokens
                output_tokens += event.output_tokens
            elif kind is Finish:
                finish = event
            elif kind is Error:
                yield event
            else:
                yield event  # TextDelta
        mine = [c for c in calls if c.name in server and c.name not in client_names]
        theirs = [c for c in calls if c not in mine]
        if finish.reason in ("error", "cancelled") or not mine:
            for call in theirs:
                yield call
            if saw_usage:
                yield Usage(input_tokens, output_tokens)
            yield finish
            return
        messages.append(ChatMessage(role="assistant", content="", tool_calls=[
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in mine]))
        for call in mine:
            if cancel is not None and cancel.is_set():
                break
            yield ServerToolCall(call.id, call.name, call.arguments)
            output, ok = await tool_kinds.call(server[call.name], call.arguments, req.tool_context)
            yield ServerToolResult(call.id, call.name, output, ok)
            messages.append(ChatMessage(role="tool", content=output, tool_call_id=call.id, name=call.name))
        if cancel is not None and cancel.is_set():
            if saw_usage:
                yield Usage(input_tokens, output_tokens)
            yield Finish("cancelled")
            return
        if theirs:  # the client's calls of the same round go back to the client
            for call in theirs:
                yield call
            if saw_usage:
                yield Usage(input_tokens, output_tokens)
            yield Finish("tool_calls")
            return
    yield Error("the tool loop ended without an answer", code="internal_error", status=500)  # unreachable
    yield Finish("error")
