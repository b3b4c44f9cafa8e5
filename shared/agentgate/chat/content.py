"""Message content between the wire, the runner and the store.

Stored messages keep Coze's representation: `text`, or `object_string` (a JSON list of
{type: text|image|file, text|file_url|file_id}). The runner takes a string or OpenAI parts.
"""

from __future__ import annotations

import json
from typing import Any

from agentgate import jsonlimits
from agentgate.api.errors import ApiError
from agentgate.chat.attachments import resolve_parts
from agentgate.runner.types import ChatMessage


def text_length(content: Any) -> int:
    """Characters a content holds (text and URLs), for the input size cap."""
    if content is None:
        return 0
    if isinstance(content, str):
        return len(content)
    total = 0
    for part in content:
        if isinstance(part, dict):
            for value in part.values():
                if isinstance(value, str):
                    total += len(value)
                elif isinstance(value, dict):
                    total += sum(len(v) for v in value.values() if isinstance(v, str))
    return total


def to_runner(owner_id: str, content: Any) -> str | list[dict]:
    return content if isinstance(content, str) or content is None else resolve_parts(owner_id, content)


def to_stored(content: Any) -> tuple[str, str]:
    """Runner content -> (content, content_type) as a Coze message stores it."""
    if content is None:
        return "", "text"
    if isinstance(content, str):
        return content, "text"
    items = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            items.append({"type": "text", "text": part.get("text", "")})
        elif kind == "image_url":
            items.append({"type": "image", "file_url": (part.get("image_url") or {}).get("url", "")})
        else:
            items.append(dict(part))
    return json.dumps(items, ensure_ascii=False), "object_string"


def from_stored(owner_id: str, content: str, content_type: str) -> str | list[dict]:
    """A stored message's content as the runner takes it (never fails: history must load)."""
    if content_type != "object_string":
        return content
    try:
        items = jsonlimits.loads(content)
        if not isinstance(items, list):
            return content
        # Leniently: a file that cannot be used any more becomes a note, not a failed turn.
        return resolve_parts(owner_id, items, strict=False)
    except (ValueError, ApiError, AttributeError, TypeError):
        return content


def history_messages(owner_id: str, rows) -> list[ChatMessage]:
    """Stored messages (oldest first) -> the runner's history: questions and answers only."""
    out: list[ChatMessage] = []
    for row in rows:
        if row.type == "question" or (row.role == "user" and row.type not in ("answer",)):
            role = "user"
        elif row.type == "answer":
            role = "assistant"
        else:
            continue
        content = from_stored(owner_id, row.content, row.content_type)
        if role == "assistant" and getattr(row, "status", "complete") == "partial":
            content = _mark_partial(content, row)
        out.append(ChatMessage(role=role, content=content))
    return out


def _mark_partial(content, row):
    """Memory keeps a partial answer (the user saw it; "go on" must make sense) but tells the
    model it was cut off, so it is not taken as a whole answer."""
    meta = row.meta_data.as_dict() if hasattr(row.meta_data, "as_dict") else dict(row.meta_data or {})
    note = f"[this answer was interrupted ({meta.get('reason') or 'cancelled'}) and is incomplete]"
    if isinstance(content, str):
        return f"{content}\n{note}" if content else note
    return list(content) + [{"type": "text", "text": note}]
