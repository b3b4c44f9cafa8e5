"""Tool kinds the runner may call for a model: one module per kind, registered here.

A kind module provides:
- `validate(implementation: dict) -> dict`: the implementation as stored, or ToolConfigError;
- `async call(tool: ToolSpec, arguments: dict, ctx: ToolContext) -> str`: the result text the
  model reads, or ToolCallError (its message is fed to the model, so it can recover).
Adding a kind is one new module plus one line in KINDS.
"""

from __future__ import annotations

import asyncio
import importlib
import json
from dataclasses import dataclass, field
from typing import Any

from agentgate.config import settings

KINDS = {
    "builtin": "agentgate.tools.builtin",
    "http": "agentgate.tools.http",
    "mcp": "agentgate.tools.mcp",
    "workflow": "agentgate.tools.workflow",
}
FUNCTION_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"


class ToolConfigError(ValueError):
    """A tool definition that cannot work (bad kind, URL, schema ...)."""


class ToolCallError(Exception):
    """A call that failed; the message goes back to the model as the tool's result."""


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the runner offers it to the model and calls it."""

    tool_id: str
    name: str  # the function name the model calls
    description: str
    parameters: dict
    implementation: dict  # {kind, ...}

    def as_openai_tool(self) -> dict:
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                  "parameters": self.parameters or {"type": "object", "properties": {}}}}


@dataclass
class ToolContext:
    owner_id: str
    secrets: dict[str, str] = field(default_factory=dict)


def kind_module(kind: str):
    module = KINDS.get(kind)
    if module is None:
        raise ToolConfigError(f"unknown tool kind {kind!r}; known kinds: {', '.join(sorted(KINDS))}")
    return importlib.import_module(module)


def validate_implementation(implementation: dict) -> dict:
    if not isinstance(implementation, dict) or not isinstance(implementation.get("kind"), str):
        raise ToolConfigError("implementation.kind is required (one of: " + ", ".join(sorted(KINDS)) + ")")
    return {"kind": implementation["kind"], **kind_module(implementation["kind"]).validate(implementation)}


async def call(tool: ToolSpec, arguments_json: str, ctx: ToolContext) -> tuple[str, bool]:
    """Run one call, bounded in time and size. Returns (result text, ok)."""
    s = settings()
    try:
        arguments = json.loads(arguments_json or "{}")
        if not isinstance(arguments, dict):
            raise ValueError
    except ValueError:
        return "error: the arguments are not a JSON object", False
    try:
        async with asyncio.timeout(s.tool_timeout_s):
            result = await kind_module(tool.implementation.get("kind", "")).call(tool, arguments, ctx)
        ok = True
    except ToolCallError as exc:
        result, ok = f"error: {exc}", False
    except TimeoutError:
        result, ok = f"error: the tool did not answer within {s.tool_timeout_s} s", False
    except ToolConfigError as exc:
        result, ok = f"error: {exc}", False
    except Exception as exc:  # noqa: BLE001 - a tool's bug is the model's information, not a 500
        result, ok = f"error: the tool failed ({type(exc).__name__})", False
    if not isinstance(result, str):
        result = json.dumps(result, ensure_ascii=False)
    limit = s.tool_result_max_bytes
    encoded = result.encode("utf-8")
    if len(encoded) > limit:
        result = encoded[:limit].decode("utf-8", errors="ignore") + f"\n[truncated at {limit} bytes]"
    return result, ok


def secret_ref(value: Any, ctx: ToolContext) -> Any:
    """`{"secret": "NAME"}` -> the owner's secret NAME (never stored in the tool itself)."""
    if isinstance(value, dict) and set(value) == {"secret"}:
        name = value["secret"]
        if name not in ctx.secrets:
            raise ToolCallError(f"secret {name!r} is not configured")
        return ctx.secrets[name]
    return value
