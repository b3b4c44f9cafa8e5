"""Prompt assembly: system prompt with variables, the memory window, then the new messages."""

from __future__ import annotations

import re
from typing import Any

from agentgate.runner.types import ChatMessage, TurnRequest

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w.-]*)\s*\}\}")
_SYSTEM_ROLES = ("system", "developer")


def fill_variables(template: str, variables: dict[str, Any]) -> str:
    """Replace `{{name}}` with its value: the request's, else the default the bot declares in its
    `variables`.

    A placeholder with neither is left as it is, visible (never silently blanked: "You are , a
    helpful assistant." hides the mistake, `{{name}}` shows it). Text that is not a placeholder
    (e.g. JSON such as `{{"a": 1}}`) is left alone.
    """
    if "{{" not in template:
        return template

    def value(m: re.Match) -> str:
        name = m.group(1)
        return str(variables[name]) if name in variables else m.group(0)

    return _PLACEHOLDER.sub(value, template)


def trim_history(history: list[ChatMessage], window: int) -> list[ChatMessage]:
    """The last `window` messages (0 or less: none), never starting with an orphan tool result,
    which upstreams reject without the assistant tool call it answers."""
    if window <= 0 or not history:
        return []
    kept = history[-window:]
    start = 0
    while start < len(kept) and kept[start].role == "tool":
        start += 1
    return kept[start:]


def build_messages(req: TurnRequest) -> list[dict[str, Any]]:
    """OpenAI-style message dicts for one turn.

    Order: the bot's system prompt; the caller's own system messages (kept, right after it, so the
    model sees every instruction before the conversation); the trimmed history; the new messages.
    """
    out: list[dict[str, Any]] = []
    system = fill_variables(req.bot.system_prompt or "", {**req.bot.variables, **req.variables})
    if system.strip():
        out.append({"role": "system", "content": system})
    out.extend(m.to_dict() for m in req.messages if m.role in _SYSTEM_ROLES)
    out.extend(m.to_dict() for m in trim_history(req.history, req.bot.memory_window))
    out.extend(m.to_dict() for m in req.messages if m.role not in _SYSTEM_ROLES)
    return out


def text_of(content: Any) -> str:
    """The text of a message's content (string or list of parts); images become "[image]"."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for part in content:
        if not isinstance(part, dict):
            parts.append(str(part))
        elif part.get("type") == "text":
            parts.append(str(part.get("text", "")))
        elif part.get("type") == "image_url":
            parts.append("[image]")
    return " ".join(p for p in parts if p)
