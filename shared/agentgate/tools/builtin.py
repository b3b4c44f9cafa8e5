"""Built-in tools that work offline: the current time and arithmetic.

They are code, not items: every owner sees them (GET /api/v1/tool/all) under fixed small ids that
never collide with generated ids.
"""

from __future__ import annotations

import ast
import datetime as dt
import math
import operator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agentgate.tools import ToolCallError, ToolConfigError

BUILTINS = {
    "1": {
        "zh_name": "当前时间", "en_name": "current_time", "description": "The current date and time.",
        "function": {"name": "current_time", "description": "Get the current date and time (ISO 8601).",
                     "parameters": {"type": "object", "properties": {
                         "timezone": {"type": "string", "description": "IANA time zone, e.g. Asia/Shanghai (default UTC)"}}}},
    },
    "2": {
        "zh_name": "计算器", "en_name": "calculator", "description": "Evaluate an arithmetic expression.",
        "function": {"name": "calculator", "description": "Evaluate an arithmetic expression: + - * / // % ** and parentheses.",
                     "parameters": {"type": "object", "required": ["expression"], "properties": {
                         "expression": {"type": "string", "description": "e.g. (3 + 4) * 2.5"}}}},
    },
}
_NAMES = {spec["function"]["name"]: tool_id for tool_id, spec in BUILTINS.items()}
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
        ast.USub: operator.neg, ast.UAdd: operator.pos}
_MAX_EXPRESSION = 200
_MAX_POWER = 1000


def is_builtin(tool_id: str) -> bool:
    return tool_id in BUILTINS


def validate(implementation: dict) -> dict:
    name = implementation.get("name")
    if name not in _NAMES:
        raise ToolConfigError(f"unknown built-in tool {name!r}; built-ins: {', '.join(sorted(_NAMES))}")
    return {"name": name}


def _arith(node):
    """Numbers and arithmetic operators only: no names, calls or attributes can be reached."""
    if isinstance(node, ast.Expression):
        return _arith(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_arith(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _arith(node.left), _arith(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_POWER:
            raise ToolCallError("exponent too large")
        return _OPS[type(node.op)](left, right)
    raise ToolCallError("only numbers, + - * / // % ** and parentheses are allowed")


def calculate(expression: str) -> str:
    if not isinstance(expression, str) or not expression.strip() or len(expression) > _MAX_EXPRESSION:
        raise ToolCallError(f"expression must be a non-empty string of at most {_MAX_EXPRESSION} characters")
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise ToolCallError("the expression is not valid arithmetic") from exc
    try:
        value = _arith(tree)
    except ZeroDivisionError as exc:
        raise ToolCallError("division by zero") from exc
    except OverflowError as exc:
        raise ToolCallError("the result is too large") from exc
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise ToolCallError("the result is not a finite number")
    return str(value)


def current_time(timezone: str | None = None) -> str:
    try:
        zone = ZoneInfo(timezone) if timezone else dt.timezone.utc
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ToolCallError(f"unknown time zone {timezone!r}") from exc
    return dt.datetime.now(zone).isoformat(timespec="seconds")


async def call(tool, arguments: dict, ctx) -> str:
    name = tool.implementation.get("name")
    if name == "calculator":
        return calculate(arguments.get("expression"))
    if name == "current_time":
        return current_time(arguments.get("timezone"))
    raise ToolCallError(f"unknown built-in tool {name!r}")


def builtin_spec(tool_id: str):
    from agentgate.tools import ToolSpec

    spec = BUILTINS[tool_id]
    fn = spec["function"]
    return ToolSpec(tool_id=tool_id, name=fn["name"], description=fn["description"], parameters=fn["parameters"],
                    implementation={"kind": "builtin", "name": fn["name"]})
