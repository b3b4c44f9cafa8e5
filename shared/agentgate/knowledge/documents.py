"""Documents of a knowledge base: from an uploaded file (file_id or our file URL), from bytes
(Coze's file_base64) or from raw text; extracted, chunked, embedded and indexed.

Every source is checked before anything is stored (404 unknown file, 415 a type with no text,
413 too large, 400 a URL we will not fetch), so a refused request stores nothing. A small
document is indexed within the request; a large one (more than Settings.knowledge_sync_chars,
judged by its size) is stored as an uploaded file if it is not one already and indexed in the
background (agentgate.knowledge.background): its status is `processing` until it becomes
`completed` or `failed` with a reason. Deleting a document removes its chunks from the lexical
store and its vectors from the vector index.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass

from agentgate.config import settings
from agentgate.ids import is_id, new_id, now_s
from agentgate.knowledge import bases, chunking
from agentgate.knowledge.errors import KnowledgeError, not_found
from agentgate.store.knowledge import (
    COMPLETED,
    FAILED,
    PROCESSING,
    KnowledgeChunk,
    KnowledgeDocument,
    chunk_key,
)

log = logging.getLogger(__name__)

MAX_PER_REQUEST = 10  # Coze: at most 10 documents per create
MAX_DELETE = 100
EMBED_BATCH = 64
# Coze's DocumentSourceType
SOURCE_LOCAL_FILE = 0
SOURCE_CUSTOM = 2
SOURCE_FILE_ID = 5


@dataclass
class Source:
    """One document to add: exactly one of text, data, file_id, file_url."""

    name: str | None = None
    text: str | None = None
    data: bytes | None = None
    file_type: str | None = None  # extension given with data (Coze's file_type)
    file_id: str | None = None
    file_url: str | None = None


@dataclass
class _Resolved:
    name: str
    file_type: str
    size: int
    source_type: int
    text: str | None = None  # raw text, or the decoded bytes' text (small text files)
    data: bytes | None = None
    content_type: str | None = None
    file_id: str | None = None


def _extractable(content_type: str) -> bool:
    from agentgate.files import sniff

    return content_type in sniff.TEXT_TYPES or content_type in (sniff.PDF, sniff.DOCX)


def _unsupported(content_type: str) -> KnowledgeError:
    return KnowledgeError(415, f"no text can be indexed from a file of type {content_type}; "
                               "accepted: pdf, docx, txt, md, csv, json")


def decode_base64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as err:
        raise KnowledgeError(400, "file_base64 is not valid base64") from err


def _record_for_url(owner_id: str, url: str):
    from agentgate.files import service, storage

    key = storage.key_from_url(url.strip())
    if key is None:
        raise KnowledgeError(400, "file_url must be a URL this service returned for an upload "
                                  "(POST /api/v1/upload or /v1/files/upload); other URLs are not fetched")
    parsed = storage.parse_key(key)
    record = service.get_file(owner_id, parsed[1]) if parsed and parsed[0] == owner_id else None
    if record is None or record.s3_key != key:
        raise not_found("file", "for this file_url")
    return record


def _resolve(owner_id: str, src: Source) -> _Resolved:
    from agentgate.files import service, sniff

    s = settings()
    given = [x for x in (src.text, src.data, src.file_id, src.file_url) if x is not None]
    if len(given) != 1:
        raise KnowledgeError(400, "each document needs exactly one of text, file_base64, file_id and file_url")
    if src.text is not None:
        if not src.text.strip():
            raise KnowledgeError(400, "the document's text is empty")
        if len(src.text) > s.knowledge_max_text_chars:
            raise KnowledgeError(413, f"the text holds {len(src.text)} characters; at most "
                                      f"{s.knowledge_max_text_chars} are accepted")
        return _Resolved(name=src.name or "text", file_type="txt", size=len(src.text.encode()),
                         source_type=SOURCE_CUSTOM, text=src.text)
    if src.data is not None:
        if not src.data:
            raise KnowledgeError(400, "the file is empty")
        if len(src.data) > s.max_file_bytes:
            raise KnowledgeError(413, f"file too large: the limit is {s.max_file_bytes} bytes")
        ext = (src.file_type or "txt").lower().lstrip(".")
        name = src.name or f"document.{ext}"
        if not name.lower().endswith(f".{ext}"):
            name = f"{name}.{ext}"
        content_type = sniff.sniff(src.data, name)
        if not _extractable(content_type):
            raise _unsupported(content_type)
        return _Resolved(name=src.name or name, file_type=sniff.extension_for(content_type), size=len(src.data),
                         source_type=SOURCE_LOCAL_FILE, data=src.data, content_type=content_type)
    if src.file_id is not None:
        record = service.get_file(owner_id, str(src.file_id))
        if record is None:
            raise not_found("file", str(src.file_id))
    else:
        record = _record_for_url(owner_id, src.file_url)
    if not _extractable(record.content_type):
        raise _unsupported(record.content_type)
    return _Resolved(name=src.name or record.file_name, file_type=sniff.extension_for(record.content_type),
                     size=int(record.bytes), source_type=SOURCE_FILE_ID, content_type=record.content_type,
                     file_id=record.file_id)


def _text_of(owner_id: str, source: dict) -> str:
    """The whole text of a task's source: {"text"} or {"file_id"} (read from S3 and extracted)."""
    if "text" in source:
        return source["text"]
    from agentgate.files import service, storage
    from agentgate.files.extract import extract_text

    record = service.get_file(owner_id, source["file_id"])
    if record is None:
        raise KnowledgeError(404, "the uploaded file is gone")
    budget = settings().knowledge_max_text_chars
    text, truncated = extract_text(storage.get(record.s3_key), record.content_type, budget)
    if truncated:
        log.info("document text cut at %d characters", budget)
    return text


def add_documents(owner_id: str, knowledge_id: str, sources: list[Source], *,
                  chunk_size: int | None = None, chunk_overlap: int | None = None) -> list[KnowledgeDocument]:
    """Check every source, record the documents, and index them (now, or in the background)."""
    base = bases.get_base(owner_id, knowledge_id)
    if not sources:
        raise KnowledgeError(400, "no documents given")
    if len(sources) > MAX_PER_REQUEST:
        raise KnowledgeError(400, f"at most {MAX_PER_REQUEST} documents per request")
    cap = settings().knowledge_max_documents
    if int(base.doc_count) + len(sources) > cap:
        raise KnowledgeError(400, f"a knowledge base holds at most {cap} documents")
    if int(base.format_type) != 0:
        raise KnowledgeError(415, "only text knowledge bases (format_type 0) index documents here")
    spec = bases.spec_for(base) if chunk_size is None else bases.make_spec(chunk_size, chunk_overlap)
    resolved = [_resolve(owner_id, src) for src in sources]

    if chunk_size is not None and int(base.doc_count) == 0:
        # Coze: the chunk strategy is set with the first upload and kept for the base's life.
        base.update(actions=[bases.KnowledgeBase.chunk_size.set(spec.size),
                             bases.KnowledgeBase.chunk_overlap.set(spec.overlap)])

    from agentgate.knowledge import background

    s = settings()
    now = now_s()
    docs: list[KnowledgeDocument] = []
    jobs: list[tuple[KnowledgeDocument, dict, bool]] = []
    for r in resolved:
        large = r.size > s.knowledge_sync_chars
        doc = KnowledgeDocument(knowledge_id=base.knowledge_id, document_id=new_id(), owner_id=owner_id,
                                name=r.name[:255], file_type=r.file_type, source_type=r.source_type,
                                file_id=r.file_id, size=r.size, status=PROCESSING, created_at=now, updated_at=now)
        if r.file_id:
            source = {"file_id": r.file_id}
        elif large:
            # Kept as an uploaded file, so the background work can read it again.
            from agentgate.files import service

            raw = r.data if r.data is not None else r.text.encode()
            name = r.name if r.data is not None or r.name.endswith(".txt") else f"{r.name}.txt"
            record = service.store_upload(owner_id, name, raw)
            doc.file_id = record.file_id
            source = {"file_id": record.file_id}
        elif r.data is not None:
            from agentgate.files.extract import extract_text

            source = {"text": extract_text(r.data, r.content_type, s.knowledge_max_text_chars)[0]}
        else:
            source = {"text": r.text}
        docs.append(doc)
        jobs.append((doc, source, large))
    for doc in docs:
        doc.save()
    bases.touch(base, docs=len(docs))
    for doc, source, large in jobs:
        if large:
            background.submit({"kind": "knowledge.process", "owner_id": owner_id, "knowledge_id": base.knowledge_id,
                               "document_id": doc.document_id, "source": source})
        else:
            process(owner_id, base.knowledge_id, doc.document_id, source, doc=doc)
    return docs


def _fail(doc: KnowledgeDocument, reason: str) -> None:
    try:
        doc.update(actions=[KnowledgeDocument.status.set(FAILED), KnowledgeDocument.reason.set(reason[:1000]),
                            KnowledgeDocument.updated_at.set(now_s())],
                   condition=KnowledgeDocument.document_id.exists())
    except Exception:  # deleted meanwhile
        log.info("document %s vanished while failing", doc.document_id)


def process(owner_id: str, knowledge_id: str, document_id: str, source: dict, *,
            doc: KnowledgeDocument | None = None) -> None:
    """Extract, chunk, embed and index one document; its status ends completed or failed."""
    from agentgate.knowledge import embeddings, vectors

    if doc is None:
        try:
            doc = KnowledgeDocument.get(knowledge_id, document_id)
        except KnowledgeDocument.DoesNotExist:
            return  # deleted before its turn came
    base = bases.find_base(owner_id, knowledge_id)
    if base is None or doc.owner_id != owner_id:
        return
    written: list[str] = []
    try:
        text = _text_of(owner_id, source)
        pieces = chunking.chunk_text(text, bases.spec_for(base))
        if not pieces:
            raise KnowledgeError(422, "no text could be extracted from this document")
        emb = embeddings.for_base(base.embedding) if base.embedding else embeddings.embedder()
        vecs: list[list[float]] | None = None
        if emb is not None:
            vecs = []
            for i in range(0, len(pieces), EMBED_BATCH):
                vecs.extend(emb.embed(pieces[i:i + EMBED_BATCH]))
                if len(pieces) > EMBED_BATCH:
                    doc.update(actions=[KnowledgeDocument.progress.set(min(90, 100 * len(vecs) // len(pieces)))])
        remote = vectors.enabled() and vecs is not None
        with KnowledgeChunk.batch_write() as batch:
            for seq, piece in enumerate(pieces):
                key = chunk_key(doc.document_id, seq)
                written.append(key)
                batch.save(KnowledgeChunk(
                    knowledge_id=knowledge_id, chunk_id=key, owner_id=owner_id, document_id=doc.document_id,
                    seq=seq, text=piece, document_name=doc.name,
                    vector=vectors.pack(vecs[seq]) if vecs is not None and not remote else None))
        if remote:
            if not base.embedding:
                vectors.ensure_index(knowledge_id, emb.dims)
            vectors.put(knowledge_id, [
                {"key": key, "vector": vecs[i], "knowledge_id": knowledge_id, "document_id": doc.document_id,
                 "text": pieces[i], "document_name": doc.name} for i, key in enumerate(written)])
        doc.update(actions=[KnowledgeDocument.status.set(COMPLETED), KnowledgeDocument.progress.set(100),
                            KnowledgeDocument.char_count.set(len(text)),
                            KnowledgeDocument.chunk_count.set(len(pieces)),
                            KnowledgeDocument.reason.set(""), KnowledgeDocument.updated_at.set(now_s())],
                   condition=KnowledgeDocument.document_id.exists())
        bases.touch(base, chunks=len(pieces),
                    embedding=emb.name if emb is not None and not base.embedding else None)
    except Exception as err:
        reason = err.message if isinstance(err, KnowledgeError) else getattr(err, "message", None) or \
            f"indexing failed ({type(err).__name__})"
        if not isinstance(err, KnowledgeError) and not hasattr(err, "status"):
            log.exception("indexing document %s failed", document_id)
        _remove_chunks(knowledge_id, written)
        _fail(doc, str(reason))


def _remove_chunks(knowledge_id: str, keys: list[str]) -> None:
    if not keys:
        return
    with KnowledgeChunk.batch_write() as batch:
        for key in keys:
            batch.delete(KnowledgeChunk(knowledge_id=knowledge_id, chunk_id=key))


def find_document(owner_id: str, document_id: str) -> KnowledgeDocument | None:
    if not is_id(str(document_id)):
        return None
    for doc in KnowledgeDocument.document_index.query(str(document_id), limit=1):
        return doc if doc.owner_id == owner_id else None
    return None


def get_document(owner_id: str, document_id: str) -> KnowledgeDocument:
    doc = find_document(owner_id, document_id)
    if doc is None:
        raise not_found("document", str(document_id))
    return doc


def list_documents(owner_id: str, knowledge_id: str, *, page: int = 1, size: int = 10
                   ) -> tuple[list[KnowledgeDocument], int]:
    base = bases.get_base(owner_id, knowledge_id)
    docs = sorted(KnowledgeDocument.query(base.knowledge_id), key=lambda d: d.document_id, reverse=True)
    start = (page - 1) * size
    return docs[start:start + size], len(docs)


def documents_of(owner_id: str, knowledge_id: str, document_ids: list[str]) -> list[KnowledgeDocument]:
    base = bases.get_base(owner_id, knowledge_id)
    found = {d.document_id: d for d in KnowledgeDocument.batch_get(
        [(base.knowledge_id, str(i)) for i in dict.fromkeys(document_ids) if is_id(str(i))])}
    missing = [i for i in document_ids if str(i) not in found]
    if missing:
        raise not_found("document", str(missing[0]))
    return [found[str(i)] for i in document_ids]


def rename_document(owner_id: str, document_id: str, name: str) -> KnowledgeDocument:
    name = (name or "").strip()
    if not name or len(name) > 255:
        raise KnowledgeError(400, "document_name must be 1 to 255 characters", param="document_name")
    doc = get_document(owner_id, document_id)
    doc.update(actions=[KnowledgeDocument.name.set(name), KnowledgeDocument.updated_at.set(now_s())],
               condition=KnowledgeDocument.owner_id == owner_id)
    base = bases.find_base(owner_id, doc.knowledge_id)
    if base is not None:
        bases.touch(base)  # hits show the new name
    return doc


def delete_documents(owner_id: str, document_ids: list[str]) -> int:
    """Delete documents with their chunks and vectors. Every id is checked first (404 on any)."""
    from agentgate.knowledge import vectors

    ids_ = list(dict.fromkeys(str(i) for i in document_ids))
    if not ids_:
        raise KnowledgeError(400, "no document_ids given", param="document_ids")
    if len(ids_) > MAX_DELETE:
        raise KnowledgeError(400, f"at most {MAX_DELETE} documents per delete", param="document_ids")
    docs = [get_document(owner_id, i) for i in ids_]
    for doc in docs:
        keys = [c.chunk_id for c in KnowledgeChunk.query(
            doc.knowledge_id, KnowledgeChunk.chunk_id.startswith(f"{doc.document_id}#"),
            attributes_to_get=["knowledge_id", "chunk_id"])]
        doc.delete()
        _remove_chunks(doc.knowledge_id, keys)
        base = bases.find_base(owner_id, doc.knowledge_id)
        if base is None:
            continue
        if vectors.enabled() and base.embedding and keys:
            vectors.delete(doc.knowledge_id, keys)
        bases.touch(base, docs=-1, chunks=-len(keys))
    return len(docs)
