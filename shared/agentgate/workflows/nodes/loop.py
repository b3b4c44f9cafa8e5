"""loop: runs its `body` (nodes and edges, like a small workflow) once per item of a list, bounded.

    {"id": "each", "type": "loop", "items": "{{start.cities}}", "max_iterations": 10,
     "body": {"nodes": [{"id": "describe", "type": "llm", "prompt": "One line on {{each.item}}"}]},
     "collect": "{{describe.text}}"}

Inside the body, `{{each.item}}` and `{{each.index}}` are the current item and its index, and
earlier nodes' outputs are visible. `collect` (a value expression over the body's outputs) is
gathered per iteration into the output `results` (with `count`). A list longer than
`max_iterations` (at most AGENTGATE_WORKFLOW_MAX_LOOP_ITERATIONS) fails the run.
"""

from __future__ import annotations

from agentgate.workflows import refs
from agentgate.workflows.errors import DefinitionError, NodeFailed
from agentgate.workflows.nodes.base import NodeKind, Output


class Loop(NodeKind):
    kind = "loop"
    allowed_in_loop = False

    def validate(self, node, ctx):
        cfg = node.config
        items = cfg.get("items")
        if "over" in cfg:
            ctx.expression(node, "over", cfg["over"])
        elif isinstance(items, str) and refs.lone_ref(items):
            ctx.value_spec(node, "items", items)
        elif isinstance(items, list):
            ctx.value_spec(node, "items", items)
        else:
            raise DefinitionError("'items' must be one {{node.field}} holding a list (or a list), or 'over' a "
                                  "JMESPath expression", node.id)
        limit = ctx.settings.workflow_max_loop_iterations
        cap = cfg.get("max_iterations", limit)
        if not isinstance(cap, int) or isinstance(cap, bool) or not 1 <= cap <= limit:
            raise DefinitionError(f"'max_iterations' must be an integer from 1 to {limit} "
                                  "(AGENTGATE_WORKFLOW_MAX_LOOP_ITERATIONS)", node.id)
        body = ctx.subgraph(node, cfg.get("body"), extra_visible={node.id: {"item", "index"}})
        ctx.definition.bodies[node.id] = body
        collect = cfg.get("collect")
        if collect is None:
            raise DefinitionError("'collect' is required: what each iteration adds to results", node.id)
        body_visible = dict(ctx.visible(node.id))
        body_visible[node.id] = {"item", "index"}
        from agentgate.workflows.nodes import kind_of

        for n in body.order:
            body_visible[n] = kind_of(body.nodes[n].kind).outputs(body.nodes[n], ctx.definition)
        for ref_node, path in refs.value_refs(collect):
            fields = body_visible.get(ref_node, "missing")
            if fields == "missing":
                raise DefinitionError(f"'collect': there is no node '{ref_node}' here", node.id)
            if fields is not None and path and path[0] not in fields:
                raise DefinitionError(f"'collect': node '{ref_node}' has no output '{path[0]}'", node.id)

    def outputs(self, node, definition):
        return {"results", "count", "item", "index"}

    async def run(self, node, rt):
        cfg = node.config
        if "over" in cfg:
            try:
                items = refs.search(cfg["over"], rt.values)
            except refs.BadReference as exc:
                raise NodeFailed(str(exc), 400) from None
        else:
            items = refs.value(cfg["items"], rt.values)
        if items is None:
            items = []
        if not isinstance(items, list):
            raise NodeFailed(f"the loop needs a list, not {type(items).__name__}", 400)
        cap = min(int(cfg.get("max_iterations", rt.settings.workflow_max_loop_iterations)),
                  rt.settings.workflow_max_loop_iterations)
        if len(items) > cap:
            raise NodeFailed(f"the list holds {len(items)} items; this loop runs at most {cap} times", 400)
        results = []
        for index, item in enumerate(items):
            scope = dict(rt.values)
            scope[node.id] = {"item": item, "index": index}
            async for event in rt.run_body(rt.definition.bodies[node.id], scope, index):
                yield event
            results.append(refs.value(cfg["collect"], scope))
        yield Output({"results": results, "count": len(results)})

    def recorded_input(self, node, rt):
        return {"items": cfg_items(node, rt)}


def cfg_items(node, rt):
    cfg = node.config
    try:
        return refs.search(cfg["over"], rt.values) if "over" in cfg else refs.value(cfg["items"], rt.values)
    except refs.BadReference:
        return None
