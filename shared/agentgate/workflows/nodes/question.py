"""question: asks the caller and pauses the run (Coze's Interrupt); stream_resume continues it
with the answer, which is this node's output `answer`.

    {"id": "ask", "type": "question", "question": "What is your name?"}
"""

from __future__ import annotations

from agentgate.workflows import refs
from agentgate.workflows.events import NodeMessage
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
            question = refs.render(node.config["question"], rt.values)
            yield NodeMessage(node.id, node.title, question, finished=True)  # the question, as Coze shows it
            yield Suspend(question)
            return
        yield Output({"answer": answer})

    def recorded_input(self, node, rt):
        return {"question": refs.render(node.config["question"], rt.values)}
