"""Knowledge bases: create, list, read, update, delete; owner-scoped, with a per-owner cap.

Another owner's base is "not found" (404), never "forbidden": its existence is not disclosed.
Deleting a base deletes its documents, its chunks and its vector index.
"""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist

from agentgate.config import settings
from agentgate.ids import is_id, new_id, now_s
from agentgate.knowledge import chunking
from agentgate.knowledge.errors import KnowledgeError, not_found
from agentgate.store.knowledge import KnowledgeBase, KnowledgeChunk, KnowledgeDocument

NAME_MAX = 100
DESCRIPTION_MAX = 2000


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise KnowledgeError(400, "the knowledge base needs a name", param="name")
    if len(name) > NAME_MAX:
        raise KnowledgeError(400, f"the name is longer than {NAME_MAX} characters", param="name")
    return name


def _check_description(description: str | None) -> str:
    description = description or ""
    if len(description) > DESCRIPTION_MAX:
        raise KnowledgeError(400, f"the description is longer than {DESCRIPTION_MAX} characters", param="description")
    return description


def spec_for(base: KnowledgeBase) -> chunking.ChunkSpec:
    strategy = base.chunk_strategy or {}
    return chunking.ChunkSpec(size=int(base.chunk_size), overlap=int(base.chunk_overlap),
                              separator=strategy.get("separator") or None,
                              remove_extra_spaces=bool(strategy.get("remove_extra_spaces")),
                              remove_urls_emails=bool(strategy.get("remove_urls_emails")))


def make_spec(chunk_size: int | None, chunk_overlap: int | None) -> chunking.ChunkSpec:
    s = settings()
    size = int(chunk_size or s.knowledge_chunk_size)
    overlap = int(s.knowledge_chunk_overlap if chunk_overlap is None else chunk_overlap)
    overlap = min(overlap, size // 2)
    try:
        return chunking.ChunkSpec(size=size, overlap=overlap)
    except ValueError as err:
        raise KnowledgeError(400, str(err), param="chunk_size") from err


def count_bases(owner_id: str) -> int:
    return KnowledgeBase.owner_index.count(owner_id)


def create_base(owner_id: str, name: str, description: str | None = None, *, format_type: int = 0,
                icon_file_id: str | None = None, chunk_size: int | None = None,
                chunk_overlap: int | None = None) -> KnowledgeBase:
    name = _check_name(name)
    description = _check_description(description)
    if format_type not in (0, 1, 2):
        raise KnowledgeError(400, "format_type must be 0 (text), 1 (table) or 2 (image)", param="format_type")
    spec = make_spec(chunk_size, chunk_overlap)
    cap = settings().knowledge_max_bases
    if count_bases(owner_id) >= cap:
        raise KnowledgeError(400, f"at most {cap} knowledge bases per owner; delete one first")
    now = now_s()
    base = KnowledgeBase(knowledge_id=new_id(), owner_id=owner_id, name=name, description=description,
                         format_type=format_type, icon_file_id=icon_file_id or "", chunk_size=spec.size,
                         chunk_overlap=spec.overlap, created_at=now, updated_at=now)
    base.save(condition=KnowledgeBase.knowledge_id.does_not_exist())
    return base


def find_base(owner_id: str, knowledge_id: str) -> KnowledgeBase | None:
    if not is_id(str(knowledge_id)):
        return None
    try:
        base = KnowledgeBase.get(str(knowledge_id))
    except DoesNotExist:
        return None
    return base if base.owner_id == owner_id else None


def get_base(owner_id: str, knowledge_id: str) -> KnowledgeBase:
    base = find_base(owner_id, knowledge_id)
    if base is None:
        raise not_found("knowledge base", str(knowledge_id))
    return base


def get_bases(owner_id: str, knowledge_ids: list[str]) -> list[KnowledgeBase]:
    """The owner's bases for these ids, in order, with one BatchGetItem. 404 names the first unknown."""
    wanted = list(dict.fromkeys(str(k) for k in knowledge_ids))
    for k in wanted:
        if not is_id(k):
            raise not_found("knowledge base", k)
    found = {b.knowledge_id: b for b in KnowledgeBase.batch_get(wanted) if b.owner_id == owner_id}
    for k in wanted:
        if k not in found:
            raise not_found("knowledge base", k)
    return [found[k] for k in wanted]


def list_bases(owner_id: str, *, name: str | None = None, page: int = 1, size: int = 50,
               format_type: int | None = None) -> tuple[list[KnowledgeBase], int]:
    """A page of the owner's bases, newest first, optionally filtered by a name fragment."""
    items = list(KnowledgeBase.owner_index.query(owner_id, scan_index_forward=False))
    if name:
        needle = name.lower()
        items = [b for b in items if needle in b.name.lower()]
    if format_type is not None:
        items = [b for b in items if int(b.format_type) == int(format_type)]
    start = (page - 1) * size
    return items[start:start + size], len(items)


def update_base(owner_id: str, knowledge_id: str, *, name: str | None = None, description: str | None = None,
                icon_file_id: str | None = None) -> KnowledgeBase:
    base = get_base(owner_id, knowledge_id)
    actions = [KnowledgeBase.updated_at.set(now_s())]
    if name is not None:
        actions.append(KnowledgeBase.name.set(_check_name(name)))
    if description is not None:
        actions.append(KnowledgeBase.description.set(_check_description(description)))
    if icon_file_id is not None:
        actions.append(KnowledgeBase.icon_file_id.set(icon_file_id))
    base.update(actions=actions, condition=KnowledgeBase.owner_id == owner_id)
    return base


def delete_base(owner_id: str, knowledge_id: str) -> None:
    base = get_base(owner_id, knowledge_id)
    from agentgate.knowledge import vectors

    # The base goes first: from then on nothing can retrieve from it or add to it.
    base.delete(condition=KnowledgeBase.owner_id == owner_id)
    with KnowledgeChunk.batch_write() as batch:
        for chunk in KnowledgeChunk.query(base.knowledge_id, attributes_to_get=["knowledge_id", "chunk_id"]):
            batch.delete(chunk)
    with KnowledgeDocument.batch_write() as batch:
        for doc in KnowledgeDocument.query(base.knowledge_id):
            batch.delete(doc)
    if vectors.enabled() and base.embedding:
        vectors.drop_index(base.knowledge_id)


def touch(base: KnowledgeBase, *, docs: int = 0, chunks: int = 0, embedding: str | None = None) -> None:
    """Count a document change on the base and bump its version (cached indexes go stale)."""
    actions = [KnowledgeBase.version.add(1), KnowledgeBase.updated_at.set(now_s())]
    if docs:
        actions.append(KnowledgeBase.doc_count.add(docs))
    if chunks:
        actions.append(KnowledgeBase.chunk_count.add(chunks))
    if embedding is not None:
        actions.append(KnowledgeBase.embedding.set(embedding))
    try:
        base.update(actions=actions, condition=KnowledgeBase.knowledge_id.exists())
    except Exception as err:  # the base was deleted meanwhile: nothing left to count
        if getattr(err, "cause_response_code", None) != "ConditionalCheckFailedException":
            raise
