"""knowledge: retrieval from the owner's knowledge bases (agentgate.knowledge), inside a workflow.

    {"id": "search", "type": "knowledge", "knowledge_ids": ["7412..."],
     "query": "{{start.question}}", "top_k": 5, "mode": "hybrid"}

Output: `chunks` (each {text, score, document_id, document_name, knowledge_id, chunk_id}) and
`context` (the passages numbered [1], [2] ... as one text, ready for an llm node's prompt).
An unknown or another owner's base fails the node with 404; an empty query with 400.
"""

from __future__ import annotations

import asyncio

from agentgate.workflows import refs
from agentgate.workflows.errors import DefinitionError, NodeFailed
from agentgate.workflows.nodes.base import NodeKind, Output
from agentgate.workflows.nodes.llm import check_number

MODES = ("hybrid", "lexical", "vector")


class Knowledge(NodeKind):
    kind = "knowledge"

    def validate(self, node, ctx):
        ctx.template(node, "query", required=True)
        ids = node.config.get("knowledge_ids")
        if isinstance(ids, str):
            ids = [ids]
        if not isinstance(ids, list) or not ids or not all(isinstance(i, (str, int)) and str(i).strip() for i in ids):
            raise DefinitionError("'knowledge_ids' must be a non-empty list of knowledge base ids", node.id)
        check_number(node, "top_k", 1, 50, integer=True)
        if node.config.get("mode", "hybrid") not in MODES:
            raise DefinitionError(f"'mode' must be one of {', '.join(MODES)}", node.id)

    def outputs(self, node, definition):
        return {"chunks", "context"}

    async def run(self, node, rt):
        from agentgate.knowledge import recall
        from agentgate.knowledge.errors import KnowledgeError

        cfg = node.config
        ids = cfg["knowledge_ids"] if isinstance(cfg["knowledge_ids"], list) else [cfg["knowledge_ids"]]
        query = refs.render(cfg["query"], rt.values)
        try:
            result = await asyncio.to_thread(recall, rt.engine.owner_id, [str(i) for i in ids], query,
                                             top_k=int(cfg.get("top_k") or 5), mode=cfg.get("mode", "hybrid"))
        except KnowledgeError as exc:
            raise NodeFailed(exc.message, exc.status) from None
        chunks = [h.to_dict() for h in result.hits]
        context = "\n\n".join(f"[{n}] {c['document_name']}\n{c['text']}" for n, c in enumerate(chunks, 1))
        yield Output({"chunks": chunks, "context": context})

    def recorded_input(self, node, rt):
        return {"knowledge_ids": node.config.get("knowledge_ids"), "query": refs.render(node.config["query"], rt.values)}
