"""start: the run's inputs (declared in the definition's `inputs`) are its output."""

from __future__ import annotations

from agentgate.workflows.nodes.base import NodeKind, Output


class Start(NodeKind):
    kind = "start"
    allowed_in_loop = False

    def outputs(self, node, definition):
        return {i.name for i in definition.inputs}

    async def run(self, node, rt):
        yield Output(dict(rt.inputs))

    def recorded_input(self, node, rt):
        return rt.inputs
