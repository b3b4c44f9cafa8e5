"""`echo`: the offline, deterministic provider (the local default, and the fault-test model).

The reply shows what reached the model:
  Echo: <last user text>
  [+ " | memory: N earlier messages, first: "<first earlier user text>""]
  [+ " | system: "<system prompt>""]
It streams one word per delta. Tokens are counted as whitespace-separated words, for both input
(every message's text) and output (the words sent).

Model names select test behaviours:
  echo, echo/<anything else>  reply at once (AGENTGATE_ECHO_DELAY_MS between deltas, default 0)
  echo/slow                   AGENTGATE_ECHO_DELAY_MS between deltas, default 50
  echo/fail                   one delta, then Error(upstream_error, 502)
  echo/stall                  one delta, then silence (for idle-timeout and cancellation tests)
Tools: with `tools` given, echo calls a tool when tool_choice forces one ("required" or
{"type": "function", "function": {"name": ...}}) or when a tool's name appears in the last user
text; it then finishes with "tool_calls". A last message from a tool is echoed as its result.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from typing import Any, AsyncIterator

from agentgate.runner.events import Error, Event, Finish, TextDelta, ToolCall, Usage
from agentgate.runner.prompt import text_of
from agentgate.runner.providers.config import ProviderConfig

_WORD = re.compile(r"\S+\s*")
_STALL_S = 3600.0


def count_tokens(text: str) -> int:
    return len(text.split())


def _delay_s(model: str) -> float:
    raw = os.environ.get("AGENTGATE_ECHO_DELAY_MS", "")
    try:
        ms = float(raw) if raw else (50.0 if model == "slow" else 0.0)
    except ValueError:
        ms = 0.0
    return max(ms, 0.0) / 1000.0


def compose_reply(messages: list[dict[str, Any]]) -> str:
    """The deterministic reply for these messages (see the module docstring)."""
    system = " ".join(text_of(m.get("content")) for m in messages if m.get("role") in ("system", "developer"))
    convo = [m for m in messages if m.get("role") not in ("system", "developer")]
    last_idx = max((i for i, m in enumerate(convo) if m.get("role") in ("user", "tool")), default=-1)
    if last_idx < 0:
        reply = "Echo: (no user message)"
        earlier: list[dict[str, Any]] = convo
    else:
        last = convo[last_idx]
        text = text_of(last.get("content"))
        reply = f"Echo: tool result: {text}" if last.get("role") == "tool" else f"Echo: {text}"
        earlier = convo[:last_idx]
    if earlier:
        first_user = next((text_of(m.get("content")) for m in earlier if m.get("role") == "user"), "")
        reply += f' | memory: {len(earlier)} earlier messages, first: "{first_user}"'
    if system.strip():
        reply += f' | system: "{system.strip()}"'
    return reply


def _tool_to_call(messages: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any] | None:
    tools = [t.get("function", t) for t in params.get("tools") or [] if isinstance(t, dict)]
    names = [str(t.get("name")) for t in tools if t.get("name")]
    if not names or not messages or messages[-1].get("role") == "tool":
        return None
    choice = params.get("tool_choice")
    if choice == "none":
        return None
    if isinstance(choice, dict):
        forced = (choice.get("function") or {}).get("name")
        if forced in names:
            return next(t for t in tools if t.get("name") == forced)
    if choice == "required":
        return tools[0]
    last_user = next((text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    for tool in tools:
        if re.search(rf"\b{re.escape(str(tool.get('name')))}\b", last_user):
            return tool
    return None


class EchoProvider:
    def __init__(self, config: ProviderConfig | None = None) -> None:
        self.config = config

    async def stream(self, messages: list[dict[str, Any]], model: str, params: dict[str, Any]) -> AsyncIterator[Event]:
        input_tokens = sum(count_tokens(text_of(m.get("content"))) for m in messages)
        tool = _tool_to_call(messages, params)
        if tool is not None:
            last_user = next((text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
            yield ToolCall(id="call_echo_0", name=str(tool["name"]), arguments=json.dumps({"input": last_user}))
            yield Usage(input_tokens, 1)
            yield Finish("tool_calls")
            return

        words = _WORD.findall(compose_reply(messages))
        max_tokens = params.get("max_tokens")
        truncated = isinstance(max_tokens, int) and 0 <= max_tokens < len(words)
        if truncated:
            words = words[:max_tokens]
        delay = _delay_s(model)
        sent = 0
        for i, word in enumerate(words):
            if i and delay:
                await asyncio.sleep(delay)
            yield TextDelta(word)
            sent += 1
            if model == "fail":
                yield Error("echo/fail: simulated upstream failure", code="upstream_error", status=502)
                yield Finish("error")
                return
            if model == "stall":
                await asyncio.sleep(_STALL_S)
        yield Usage(input_tokens, sent)
        yield Finish("length" if truncated else "stop")
