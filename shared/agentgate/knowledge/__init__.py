"""Knowledge bases: documents, chunking, indexes (lexical BM25 everywhere, vectors in S3 Vectors on
AWS), retrieval, and the recall a chat turn or a workflow node uses.

Nothing heavy is imported here: numpy, rank_bm25, boto3 and the extractors load on first use.
The entry points other parts call:
- `recall(owner_id, knowledge_ids, query, ...)` -> retrieval.Hit list (chat, workflows, the API)
- `knowledge.context.for_turn(...)` -> the system message a chat turn prepends
"""

from agentgate.knowledge.errors import KnowledgeError

__all__ = ["KnowledgeError", "recall"]


def recall(owner_id: str, knowledge_ids: list[str], query: str, **kwargs):
    """See agentgate.knowledge.retrieval.retrieve (imported on first call)."""
    from agentgate.knowledge.retrieval import retrieve

    return retrieve(owner_id, knowledge_ids, query, **kwargs)
