"""The server-side tools of a bot, as the runner offers them: built-ins and the owner's tools.

A bot lists tool ids (`tool_ids`, and `mcp_ids` for MCP tools, as seed 001's agents do). Only
bots with tools pay for this: one Query of the owner's tools partition, cached per process for a
few seconds like bot configs (tool writes in this process forget the cache at once).
"""

from __future__ import annotations

import threading
import time

from agentgate.tools import ToolSpec

_TTL_S = 5.0
_lock = threading.Lock()
_cache: dict[str, tuple[float, dict[str, ToolSpec]]] = {}


def spec_from_item(item) -> ToolSpec:
    fn = dict(item.function or {})
    return ToolSpec(tool_id=item.tool_id, name=fn.get("name") or f"tool_{item.tool_id}",
                    description=fn.get("description") or item.description or "",
                    parameters=fn.get("parameters") or {"type": "object", "properties": {}},
                    implementation=dict(item.implementation or {}))


def _owner_specs(owner_id: str) -> dict[str, ToolSpec]:
    now = time.monotonic()
    with _lock:
        hit = _cache.get(owner_id)
        if hit and now - hit[0] < _TTL_S:
            return hit[1]
    from agentgate.store import tools as store

    specs = {item.tool_id: spec_from_item(item) for item in store.list_tools(owner_id)
             if (item.implementation or {}).get("kind")}
    with _lock:
        _cache[owner_id] = (now, specs)
    return specs


def forget(owner_id: str) -> None:
    with _lock:
        _cache.pop(owner_id, None)


def specs_for(owner_id: str, tool_ids: list[str]) -> list[ToolSpec]:
    """The callable tools among `tool_ids` (unknown or deleted ids are skipped)."""
    from agentgate.tools import builtin

    out: list[ToolSpec] = []
    owned = None
    for tool_id in dict.fromkeys(str(t) for t in tool_ids):
        if builtin.is_builtin(tool_id):
            out.append(builtin.builtin_spec(tool_id))
            continue
        if owned is None:
            owned = _owner_specs(owner_id)
        if tool_id in owned:
            out.append(owned[tool_id])
    return out
