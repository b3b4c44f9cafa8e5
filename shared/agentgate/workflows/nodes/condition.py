"""condition: branches on comparisons over earlier outputs. Its outgoing edges carry
`"branch": "true"` or `"false"`; nodes only reached through the branch not taken are skipped.

    {"id": "check", "type": "condition", "logic": "and",
     "conditions": [{"left": "{{start.lang}}", "op": "eq", "right": "zh"}]}

ops: eq, ne, gt, ge, lt, le (numbers, or strings), contains, not_contains (strings, lists),
empty, not_empty. `left` and `right` are value expressions (a lone placeholder keeps its type).
"""

from __future__ import annotations

from agentgate.workflows import refs
from agentgate.workflows.errors import DefinitionError, NodeFailed
from agentgate.workflows.nodes.base import NodeKind, Output

OPS = ("eq", "ne", "gt", "ge", "lt", "le", "contains", "not_contains", "empty", "not_empty")
_ALIASES = {"==": "eq", "!=": "ne", ">": "gt", ">=": "ge", "<": "lt", "<=": "le"}
_UNARY = ("empty", "not_empty")


def _op(raw):
    return _ALIASES.get(raw, raw)


def _number(v):
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def compare(left, op, right) -> bool:
    if op == "empty":
        return left is None or left == "" or left == [] or left == {}
    if op == "not_empty":
        return not compare(left, "empty", None)
    if op in ("contains", "not_contains"):
        if isinstance(left, str):
            found = refs.to_text(right) in left
        elif isinstance(left, list):
            found = right in left or refs.to_text(right) in [refs.to_text(x) for x in left]
        elif isinstance(left, dict):
            found = refs.to_text(right) in left
        else:
            found = False
        return found if op == "contains" else not found
    ln, rn = _number(left), _number(right)
    if op in ("eq", "ne"):
        same = (ln == rn) if (ln is not None and rn is not None) else (refs.to_text(left) == refs.to_text(right))
        return same if op == "eq" else not same
    if ln is not None and rn is not None:
        a, b = ln, rn
    elif isinstance(left, str) and isinstance(right, str):
        a, b = left, right
    else:
        raise NodeFailed(f"cannot compare {type(left).__name__} with {type(right).__name__} using {op}", 400)
    return {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op]


class Condition(NodeKind):
    kind = "condition"

    def validate(self, node, ctx):
        conditions = node.config.get("conditions")
        if not isinstance(conditions, list) or not conditions:
            raise DefinitionError("'conditions' must be a non-empty list of {left, op, right}", node.id)
        for i, c in enumerate(conditions):
            if not isinstance(c, dict) or "left" not in c:
                raise DefinitionError(f"conditions[{i}] needs 'left' and 'op'", node.id)
            op = _op(c.get("op"))
            if op not in OPS:
                raise DefinitionError(f"conditions[{i}].op must be one of {', '.join(OPS)}", node.id)
            if op not in _UNARY and "right" not in c:
                raise DefinitionError(f"conditions[{i}] needs 'right' for {op}", node.id)
            ctx.value_spec(node, f"conditions[{i}]", [c.get("left"), c.get("right")])
        if node.config.get("logic", "and") not in ("and", "or"):
            raise DefinitionError("'logic' must be \"and\" or \"or\"", node.id)
        branches = {e.branch for e in ctx.graph.outgoing[node.id]}
        if not branches:
            raise DefinitionError("a condition needs outgoing edges with branch \"true\" and/or \"false\"", node.id)

    def outputs(self, node, definition):
        return {"result"}

    async def run(self, node, rt):
        results = []
        for c in node.config["conditions"]:
            left = refs.value(c.get("left"), rt.values)
            right = refs.value(c.get("right"), rt.values)
            results.append(compare(left, _op(c["op"]), right))
        outcome = all(results) if node.config.get("logic", "and") == "and" else any(results)
        yield Output({"result": outcome})

    def recorded_input(self, node, rt):
        return node.config.get("conditions")
