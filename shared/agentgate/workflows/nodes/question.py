"""question: asks the caller and pauses the run (Coze's Interrupt); stream_resume continues it
with the answer, which is this node's output `answer`.

    {"id": "ask", "type": "question", "question": "What is your name?"}
"""

from __future__ import annotations

from agentgate.workflows import refs
from agentgate.workflows.nodes.base import NodeKind, Output, Suspend


class Question(NodeKind):
    kind = "question"
    allowed_in_loop = False

    def validate(self, node, ctx):
        ctx.template(node, "question", required=True)

    def outputs(self, node, definition):
        return {"answer"}

    async def run(self, node, rt):
        answer = rt.resume_answer(node.id)
        if answer is None:
            yield Suspend(refs.render(node.config["question"], rt.values))
            return
        yield Output({"answer": answer})

    def recorded_input(self, node, rt):
        return {"question": refs.render(node.config["question"], rt.values)}
