"""transform: new values from earlier ones with JMESPath (https://jmespath.org), a safe query
language: no user code is evaluated. Each expression runs against {node_id: output}.

    {"id": "shape", "type": "transform",
     "expressions": {"country": "lookup.body.country", "city": "lookup.body.city",
                     "names": "start.people[*].name", "count": "length(start.people)"}}
"""

from __future__ import annotations

from agentgate.workflows import refs
from agentgate.workflows.errors import DefinitionError, NodeFailed
from agentgate.workflows.nodes.base import NodeKind, Output


class Transform(NodeKind):
    kind = "transform"

    def validate(self, node, ctx):
        expressions = node.config.get("expressions")
        if not isinstance(expressions, dict) or not expressions:
            raise DefinitionError("'expressions' must be a non-empty object of name -> JMESPath", node.id)
        for name, expression in expressions.items():
            if not name:
                raise DefinitionError("expression names must be non-empty", node.id)
            ctx.expression(node, f"expressions.{name}", expression)

    def outputs(self, node, definition):
        return set(node.config.get("expressions") or {})

    async def run(self, node, rt):
        out = {}
        for name, expression in node.config["expressions"].items():
            try:
                out[name] = refs.search(expression, rt.values)
            except refs.BadReference as exc:
                raise NodeFailed(str(exc), 400) from None
        yield Output(out)

    def recorded_input(self, node, rt):
        return node.config.get("expressions")
