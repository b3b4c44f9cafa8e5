"""Knowledge bases, their documents and their chunks (agentgate.knowledge owns the rules).

Tables (every request path a GetItem or a Query):
- knowledge: pk knowledge_id. GSI owner_index (owner_id, knowledge_id) lists an owner's bases.
  `version` grows with every document change, so a process may cache a base's lexical index.
- knowledge documents: pk knowledge_id, sk document_id; GSI document_index (document_id) finds a
  document by id alone (cozepy's document update and delete name no base).
- knowledge chunks: pk knowledge_id, sk chunk_id "<document_id>#<seq>": one Query reads a whole
  base (the lexical index is built from it), a begins_with Query one document's chunks. A chunk
  carries its text (a hit needs no second read) and, without an S3 Vectors bucket, its vector.
Every item carries owner_id; reads check it, so another owner's base is "not found".
"""

from __future__ import annotations

from pynamodb.attributes import BinaryAttribute, JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from agentgate.store.base import register

# document status (Coze's DocumentStatus numbers in the API)
PROCESSING = "processing"
COMPLETED = "completed"
FAILED = "failed"


class KnowledgeOwnerIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "owner_index"
        projection = AllProjection()

    owner_id = UnicodeAttribute(hash_key=True)
    knowledge_id = UnicodeAttribute(range_key=True)


@register(lambda s: s.knowledge_table)
class KnowledgeBase(Model):
    class Meta:
        table_name = "agentgate-knowledge"

    knowledge_id = UnicodeAttribute(hash_key=True)
    owner_id = UnicodeAttribute()
    name = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    format_type = NumberAttribute(default=0)  # Coze: 0 text, 1 table, 2 image (only 0 is indexed)
    icon_file_id = UnicodeAttribute(default="")
    chunk_size = NumberAttribute()
    chunk_overlap = NumberAttribute()
    chunk_strategy = JSONAttribute(default=dict)  # Coze's chunk_strategy as first given
    embedding = UnicodeAttribute(default="")  # the embedder its vectors came from ("" = lexical only)
    doc_count = NumberAttribute(default=0)
    chunk_count = NumberAttribute(default=0)
    version = NumberAttribute(default=0)
    created_at = NumberAttribute()  # seconds
    updated_at = NumberAttribute()

    owner_index = KnowledgeOwnerIndex()


class DocumentIdIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "document_index"
        projection = AllProjection()

    document_id = UnicodeAttribute(hash_key=True)


@register(lambda s: s.knowledge_documents_table)
class KnowledgeDocument(Model):
    class Meta:
        table_name = "agentgate-knowledge-documents"

    knowledge_id = UnicodeAttribute(hash_key=True)
    document_id = UnicodeAttribute(range_key=True)
    owner_id = UnicodeAttribute()
    name = UnicodeAttribute()
    file_type = UnicodeAttribute(default="txt")  # extension: pdf, docx, txt, md, csv, json
    source_type = NumberAttribute(default=0)  # Coze's DocumentSourceType
    file_id = UnicodeAttribute(null=True)  # the uploaded file it came from
    size = NumberAttribute(default=0)  # bytes
    char_count = NumberAttribute(default=0)
    chunk_count = NumberAttribute(default=0)
    status = UnicodeAttribute(default=PROCESSING)  # processing | completed | failed
    reason = UnicodeAttribute(default="")  # why it failed
    progress = NumberAttribute(default=0)  # percent
    created_at = NumberAttribute()
    updated_at = NumberAttribute()

    document_index = DocumentIdIndex()


@register(lambda s: s.knowledge_chunks_table)
class KnowledgeChunk(Model):
    class Meta:
        table_name = "agentgate-knowledge-chunks"

    knowledge_id = UnicodeAttribute(hash_key=True)
    chunk_id = UnicodeAttribute(range_key=True)  # "<document_id>#<seq, 6 digits>"
    owner_id = UnicodeAttribute()
    document_id = UnicodeAttribute()
    seq = NumberAttribute()
    text = UnicodeAttribute()
    document_name = UnicodeAttribute(default="")  # as indexed (a rename bumps the base's version)
    vector = BinaryAttribute(null=True, legacy_encoding=False)  # float32 little-endian (local vectors)


def chunk_key(document_id: str, seq: int) -> str:
    return f"{document_id}#{seq:06d}"
