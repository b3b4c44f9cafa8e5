"""A whole turn at once, for the buffered (non-stream) answers of every protocol."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from agentgate.runner.events import Error, Finish, TextDelta, ToolCall, Usage
from agentgate.runner.runner import run_turn
from agentgate.runner.types import TurnRequest


@dataclass(slots=True)
class TurnResult:
    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage | None = None
    finish: str = "stop"  # stop | length | tool_calls | cancelled | error
    error: Error | None = None  # set when finish == "error"


async def collect_turn(req: TurnRequest, cancel: asyncio.Event | None = None) -> TurnResult:
    """Run the turn and gather its events; never raises for model failures (see .error)."""
    result = TurnResult()
    parts: list[str] = []
    async for event in run_turn(req, cancel):
        if isinstance(event, TextDelta):
            parts.append(event.text)
        elif isinstance(event, ToolCall):
            result.tool_calls.append(event)
        elif isinstance(event, Usage):
            result.usage = event
        elif isinstance(event, Error):
            result.error = event
        elif isinstance(event, Finish):
            result.finish = event.reason
    result.text = "".join(parts)
    return result
