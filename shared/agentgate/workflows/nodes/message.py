"""message: sends an intermediate message to the stream (a template over earlier outputs).

    {"id": "note", "type": "message", "content": "Looking up {{start.ipAddress}} ..."}
"""

from __future__ import annotations

from agentgate.workflows import refs
from agentgate.workflows.events import NodeMessage
from agentgate.workflows.nodes.base import NodeKind, Output


class Message(NodeKind):
    kind = "message"

    def validate(self, node, ctx):
        ctx.template(node, "content", required=True)

    def outputs(self, node, definition):
        return {"content"}

    async def run(self, node, rt):
        content = refs.render(node.config["content"], rt.values)
        yield NodeMessage(node.id, node.title, content, finished=True)
        yield Output({"content": content})
