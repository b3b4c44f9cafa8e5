"""end: maps values into the run's result (`outputs`), and may answer a text (`answer`).

    {"id": "end", "type": "end", "outputs": {"result": "{{llm.text}}"}, "answer": "{{llm.text}}"}

A value that is exactly one `{{node.field}}` keeps its type; other strings are filled in. When
`answer` is exactly an llm or bot node's `{{node.text}}`, that node's tokens stream as the end's
answer; otherwise the answer (or, without one, the outputs as JSON) is one message.
"""

from __future__ import annotations

import json

from agentgate.workflows import refs
from agentgate.workflows.errors import DefinitionError
from agentgate.workflows.events import NodeMessage
from agentgate.workflows.nodes.base import NodeKind, Output


class End(NodeKind):
    kind = "end"
    allowed_in_loop = False

    def validate(self, node, ctx):
        outputs = node.config.get("outputs", {})
        if not isinstance(outputs, dict):
            raise DefinitionError("'outputs' must be an object of name -> value", node.id)
        for name in outputs:
            if not isinstance(name, str) or not name:
                raise DefinitionError("output names must be non-empty strings", node.id)
        ctx.value_spec(node, "outputs", outputs)
        ctx.template(node, "answer")

    def outputs(self, node, definition):
        return set(node.config.get("outputs") or {}) | {"answer"}

    async def run(self, node, rt):
        outputs = refs.value(node.config.get("outputs") or {}, rt.values)
        answer_spec = node.config.get("answer")
        answer = refs.render(answer_spec, rt.values) if isinstance(answer_spec, str) else None
        streamed = rt.streamed_into(node.title)
        if answer is not None and streamed:
            yield NodeMessage(node.id, node.title, "", finished=True)  # its tokens went out already
        else:
            content = answer if answer is not None else json.dumps(outputs, ensure_ascii=False)
            yield NodeMessage(node.id, node.title, content, finished=True)
        result = dict(outputs)
        if answer is not None:
            rt.answer = answer
        yield Output(result)

    def recorded_input(self, node, rt):
        return node.config.get("outputs") or {}
