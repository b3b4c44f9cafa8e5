"""Knowledge for a chat turn: retrieve for the user's latest question, within a budget, and
put the passages before the model as a system message that asks it to cite them as [n].

One call from chat.service.prepare(); a bound base that was deleted since is skipped, and a
retrieval that fails (an embeddings provider down) leaves the turn without knowledge rather
than failing it (logged).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from agentgate.config import settings
from agentgate.runner.events import Recall
from agentgate.runner.types import ChatMessage

log = logging.getLogger(__name__)

INSTRUCTION = ("Answer using the knowledge below when it is relevant. Cite the passages you use as [n]. "
               "If the knowledge does not contain the answer, say so instead of guessing.")


@dataclass
class TurnKnowledge:
    hits: list[dict]
    message: ChatMessage  # the system message with the passages

    @property
    def event(self) -> Recall:
        return Recall(tuple(self.hits))

    def apply(self, messages: list[ChatMessage]) -> list[ChatMessage]:
        """The turn's messages with the knowledge just before the last user message."""
        at = max((i for i, m in enumerate(messages) if m.role == "user"), default=len(messages))
        return messages[:at] + [self.message] + messages[at:]


def question_of(messages: list[ChatMessage]) -> str:
    for m in reversed(messages):
        if m.role != "user":
            continue
        if isinstance(m.content, str):
            return m.content
        if isinstance(m.content, list):
            return " ".join(p.get("text", "") for p in m.content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def for_turn(owner_id: str, knowledge_ids: list[str], messages: list[ChatMessage]) -> TurnKnowledge | None:
    from agentgate.knowledge import retrieval
    from agentgate.store.knowledge import KnowledgeBase

    query = question_of(messages).strip()[: retrieval.QUERY_MAX_CHARS]
    if not query or not knowledge_ids:
        return None
    s = settings()
    ids = [str(k) for k in knowledge_ids][: s.knowledge_max_per_query]
    try:
        found = [b for b in KnowledgeBase.batch_get(ids) if b.owner_id == owner_id]
        if not found:
            return None
        order = {k: i for i, k in enumerate(ids)}
        found.sort(key=lambda b: order.get(b.knowledge_id, 0))
        result = retrieval.search(found, query, top_k=max(1, s.knowledge_top_k), mode="hybrid",
                                  alpha=retrieval.DEFAULT_ALPHA)
    except Exception:
        log.warning("knowledge retrieval for a chat turn failed; answering without it", exc_info=True)
        return None
    hits, used, lines = [], 0, [INSTRUCTION, ""]
    budget = max(200, s.knowledge_context_chars)
    for h in result.hits:
        text = h.text
        if used + len(text) > budget:
            text = text[: max(0, budget - used)]
            if len(text) < 100:
                break
        used += len(text)
        n = len(hits) + 1
        hits.append({**h.to_dict(), "text": text, "index": n})
        lines.append(f"[{n}] {h.document_name}\n{text}\n")
    if not hits:
        return None
    return TurnKnowledge(hits=hits, message=ChatMessage(role="system", content="\n".join(lines).strip()))
