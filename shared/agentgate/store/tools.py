"""Tools an owner defined (seed 001's tool API plus what makes a tool callable).

Table: hash owner_id, range tool_id, so an owner's tools are one Query and a tool one GetItem;
nobody reads another owner's tools because the owner is half of every key. Built-in tools are
code (agentgate.tools.builtin), not items.
"""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model

from agentgate.ids import new_id, now_ms
from agentgate.store.base import register

MAX_TOOLS_PER_OWNER = 200


@register(lambda s: s.tools_table)
class Tool(Model):
    class Meta:
        table_name = "agentgate-tools"

    owner_id = UnicodeAttribute(hash_key=True)
    tool_id = UnicodeAttribute(range_key=True)
    zh_name = UnicodeAttribute(default="")
    en_name = UnicodeAttribute(default="")
    description = UnicodeAttribute(default="")
    logo_url = UnicodeAttribute(default="")
    function = JSONAttribute(default=dict)  # {name, description, parameters (JSON schema)}
    implementation = JSONAttribute(default=dict)  # {kind: http|mcp|workflow|builtin, ...}
    created_at = NumberAttribute()
    updated_at = NumberAttribute()


def create_tool(owner_id: str, values: dict) -> Tool:
    now = now_ms()
    tool = Tool(owner_id=owner_id, tool_id=new_id(), created_at=now, updated_at=now, **values)
    tool.save(condition=Tool.tool_id.does_not_exist())
    return tool


def get_tool(owner_id: str, tool_id: str) -> Tool | None:
    if not tool_id or not tool_id.isdigit() or len(tool_id) > 20:
        return None
    try:
        return Tool.get(owner_id, tool_id)
    except DoesNotExist:
        return None


def list_tools(owner_id: str) -> list[Tool]:
    return list(Tool.query(owner_id, scan_index_forward=False, limit=MAX_TOOLS_PER_OWNER))


def count_tools(owner_id: str) -> int:
    return Tool.count(owner_id)


def update_tool(tool: Tool, values: dict) -> Tool:
    actions = [getattr(Tool, name).set(value) for name, value in values.items()]
    actions.append(Tool.updated_at.set(now_ms()))
    tool.update(actions=actions, condition=Tool.tool_id.exists())
    return tool


def delete_tool(tool: Tool) -> None:
    tool.delete()
