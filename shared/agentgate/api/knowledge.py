"""The knowledge endpoint group: seed 001's knowledge routes (AgentChat envelope) and their file
routes, cozepy's datasets and documents (Coze envelope), and retrieval for both.

Thin routes: validation of shapes here, every rule in agentgate.knowledge.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator
from starlette.concurrency import run_in_threadpool

from agentgate.api.app import create_app
from agentgate.api.deps import requires
from agentgate.api.errors import error_response, request_id_of
from agentgate.api.openapi import NOT_BLANK, errors
from agentgate.auth.principal import Principal
from agentgate.auth.scopes import CHAT, READ
from agentgate.config import settings
from agentgate.ids import coerce_id
from agentgate.knowledge import bases, documents, retrieval
from agentgate.knowledge.errors import KnowledgeError
from agentgate.store.knowledge import COMPLETED, FAILED

app = create_app("knowledge")

Writer = Annotated[Principal, Depends(requires(CHAT))]
Reader = Annotated[Principal, Depends(requires(READ))]

_COZE_STATUS = {"processing": 0, COMPLETED: 1, FAILED: 9}


@app.exception_handler(KnowledgeError)
async def _knowledge_error(request: Request, exc: KnowledgeError):
    return error_response(request.url.path, exc.status, exc.message, request_id_of(request), param=exc.param)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


Id = Annotated[StrictStr, Field(min_length=1, max_length=64)]
# As agentgate.knowledge.bases checks them (a 400 there): a name that is not blank, and their lengths.
KnowledgeName = Annotated[StrictStr, Field(max_length=200, json_schema_extra={"maxLength": bases.NAME_MAX,
                                                                            "pattern": NOT_BLANK})]
Description = Annotated[StrictStr, Field(max_length=5000, json_schema_extra={"maxLength": bases.DESCRIPTION_MAX})]


def _ids(v):
    if isinstance(v, list):
        return [coerce_id(x) for x in v]
    return coerce_id(v)


# ============================================================================ AgentChat (seed 001)


def _ok(data: Any = None) -> dict:
    return {"status_code": 200, "status_message": "SUCCESS", "data": data}


def agentchat_knowledge(b) -> dict:
    return {"knowledge_id": b.knowledge_id, "knowledge_name": b.name, "knowledge_desc": b.description,
            "user_id": b.owner_id, "doc_count": int(b.doc_count), "chunk_count": int(b.chunk_count),
            "chunk_size": int(b.chunk_size), "chunk_overlap": int(b.chunk_overlap),
            "create_time": int(b.created_at), "update_time": int(b.updated_at)}


def agentchat_file(d) -> dict:
    return {"knowledge_file_id": d.document_id, "knowledge_id": d.knowledge_id, "file_name": d.name,
            "file_id": d.file_id, "file_type": d.file_type, "file_size": int(d.size), "status": d.status,
            "reason": d.reason, "progress": int(d.progress), "chunk_count": int(d.chunk_count),
            "create_time": int(d.created_at), "update_time": int(d.updated_at)}


class CreateKnowledge(_Body):
    knowledge_name: KnowledgeName
    knowledge_desc: Description | None = None
    chunk_size: Annotated[StrictInt, Field(ge=50, le=8000)] | None = None  # agentgate extensions
    chunk_overlap: Annotated[StrictInt, Field(ge=0, le=4000)] | None = None


class UpdateKnowledge(_Body):
    knowledge_id: Id
    knowledge_name: KnowledgeName | None = None
    knowledge_desc: Description | None = None

    _id = field_validator("knowledge_id", mode="before")(coerce_id)


class DeleteKnowledge(_Body):
    knowledge_id: Id

    _id = field_validator("knowledge_id", mode="before")(coerce_id)


def _retrieval_schema(ids: str):
    # What retrieval.retrieve checks (400): a query, one or more base ids, a known mode.
    one = {"anyOf": [{"type": "string", "pattern": NOT_BLANK}, {"type": "integer"}]}

    def update(schema: dict) -> None:
        schema["required"] = ["query", ids]
        schema["properties"].update({
            "query": {"type": "string", "pattern": NOT_BLANK, "maxLength": retrieval.QUERY_MAX_CHARS},
            ids: {"anyOf": [one, {"type": "array", "items": one, "minItems": 1,
                                  "maxItems": settings().knowledge_max_per_query}]},
            "mode": {"type": "string", "enum": list(retrieval.MODES), "default": "hybrid"}})

    return update


class Retrieval(_Body):
    model_config = ConfigDict(extra="ignore", json_schema_extra=_retrieval_schema("knowledge_id"))
    query: Any = None
    knowledge_id: Any = None  # an id or a list of ids (validated by agentgate.knowledge)
    top_k: Annotated[StrictInt, Field(ge=1, le=retrieval.MAX_TOP_K)] = 5
    mode: StrictStr = "hybrid"
    alpha: Annotated[float, Field(ge=0, le=1)] = retrieval.DEFAULT_ALPHA

    _id = field_validator("knowledge_id", mode="before")(_ids)


@app.post("/api/v1/knowledge/create")
def agentchat_create(body: CreateKnowledge, principal: Writer):
    base = bases.create_base(principal.owner_id, body.knowledge_name, body.knowledge_desc,
                             chunk_size=body.chunk_size, chunk_overlap=body.chunk_overlap)
    return _ok(agentchat_knowledge(base))


@app.get("/api/v1/knowledge/select")
def agentchat_select(principal: Reader):
    items, _ = bases.list_bases(principal.owner_id, page=1, size=10_000)
    return _ok([agentchat_knowledge(b) for b in items])


@app.put("/api/v1/knowledge/update", responses=errors(404))
def agentchat_update(body: UpdateKnowledge, principal: Writer):
    base = bases.update_base(principal.owner_id, body.knowledge_id, name=body.knowledge_name,
                             description=body.knowledge_desc)
    return _ok(agentchat_knowledge(base))


@app.delete("/api/v1/knowledge/delete", responses=errors(404))
def agentchat_delete(body: DeleteKnowledge, principal: Writer):
    bases.delete_base(principal.owner_id, body.knowledge_id)
    return _ok({"knowledge_id": body.knowledge_id})


@app.post("/api/v1/knowledge/retrieval", responses=errors(404, 409))
def agentchat_retrieval(body: Retrieval, principal: Reader):
    result = retrieval.retrieve(principal.owner_id, body.knowledge_id, body.query, top_k=body.top_k,
                                mode=body.mode, alpha=body.alpha)
    return _ok([dict(h.to_dict(), content=h.text) for h in result.hits])


class CreateKnowledgeFile(_Body):
    knowledge_id: Id
    file_url: Annotated[StrictStr, Field(max_length=4096)] | None = None
    file_id: Id | None = None
    text: StrictStr | None = None
    file_name: Annotated[StrictStr, Field(max_length=255)] | None = None

    _id = field_validator("knowledge_id", "file_id", mode="before")(coerce_id)


class DeleteKnowledgeFile(_Body):
    knowledge_file_id: Id

    _id = field_validator("knowledge_file_id", mode="before")(coerce_id)


@app.post("/api/v1/knowledge_file/create", responses=errors(404, 413, 415))
def agentchat_file_create(body: CreateKnowledgeFile, principal: Writer):
    src = documents.Source(name=body.file_name, text=body.text, file_id=body.file_id, file_url=body.file_url)
    docs = documents.add_documents(principal.owner_id, body.knowledge_id, [src])
    return _ok(agentchat_file(docs[0]))


@app.get("/api/v1/knowledge_file/select", responses=errors(404))
def agentchat_file_select(principal: Reader, knowledge_id: Annotated[str, Query(min_length=1, max_length=64)]):
    docs, _ = documents.list_documents(principal.owner_id, knowledge_id.strip(), page=1, size=10_000)
    return _ok([agentchat_file(d) for d in docs])


@app.delete("/api/v1/knowledge_file/delete", responses=errors(404))
def agentchat_file_delete(body: DeleteKnowledgeFile, principal: Writer):
    documents.delete_documents(principal.owner_id, [body.knowledge_file_id])
    return _ok({"knowledge_file_id": body.knowledge_file_id})


# ============================================================================ Coze (cozepy)


def _coze(data: Any = None, **top) -> dict:
    return {"code": 0, "msg": "", "data": data, **top}


def _chunk_strategy(b) -> dict:
    strategy = b.chunk_strategy or {}
    return {"chunk_type": 1, "max_tokens": int(b.chunk_size), "separator": strategy.get("separator") or "\n",
            "remove_extra_spaces": bool(strategy.get("remove_extra_spaces")),
            "remove_urls_emails": bool(strategy.get("remove_urls_emails"))}


def coze_dataset(b) -> dict:
    return {"dataset_id": b.knowledge_id, "name": b.name, "description": b.description, "space_id": "0",
            "status": 1, "format_type": int(b.format_type), "can_edit": True, "icon_url": "",
            "doc_count": int(b.doc_count), "file_list": [], "hit_count": 0, "bot_used_count": 0,
            "slice_count": int(b.chunk_count), "all_file_size": 0, "chunk_strategy": _chunk_strategy(b),
            "failed_file_list": [], "processing_file_list": [], "processing_file_id_list": [],
            "avatar_url": "", "creator_id": b.owner_id, "creator_name": "", "create_time": int(b.created_at),
            "update_time": int(b.updated_at), "chunk_overlap": int(b.chunk_overlap)}


def coze_document(d, chunk_strategy: dict | None = None) -> dict:
    return {"document_id": d.document_id, "char_count": int(d.char_count), "chunk_strategy": chunk_strategy,
            "format_type": 0, "hit_count": 0, "name": d.name, "size": int(d.size),
            "slice_count": int(d.chunk_count), "source_type": int(d.source_type),
            "status": _COZE_STATUS.get(d.status, 0), "status_descript": d.reason, "type": d.file_type,
            "update_interval": 0, "update_type": 0, "create_time": int(d.created_at),
            "update_time": int(d.updated_at), "dataset_id": d.knowledge_id, "file_id": d.file_id}


def coze_progress(d) -> dict:
    return {"document_id": d.document_id, "url": "", "size": int(d.size), "type": d.file_type,
            "status": _COZE_STATUS.get(d.status, 0), "progress": int(d.progress), "update_type": 0,
            "document_name": d.name, "remaining_time": 0, "status_descript": d.reason, "update_interval": 0}


class CreateDataset(_Body):
    name: KnowledgeName
    space_id: Id | None = None  # one space per owner: accepted, not used
    format_type: Annotated[StrictInt, Field(json_schema_extra={"enum": [0, 1, 2]})] = 0  # text, table, image
    description: Description | None = None
    file_id: Id | None = None  # the icon

    _ids = field_validator("space_id", "file_id", mode="before")(coerce_id)


class UpdateDataset(_Body):
    name: KnowledgeName
    description: Description | None = None
    file_id: Id | None = None

    _ids = field_validator("file_id", mode="before")(coerce_id)


class ProcessBody(_Body):
    document_ids: Annotated[list[Id], Field(min_length=1, max_length=100)]

    _ids = field_validator("document_ids", mode="before")(_ids)


class SourceInfo(_Body):
    file_base64: StrictStr | None = None
    file_type: Annotated[StrictStr, Field(max_length=16)] | None = None
    web_url: StrictStr | None = None
    source_file_id: Id | None = None
    document_source: StrictInt | None = None
    text: StrictStr | None = None  # agentgate: raw text
    file_url: StrictStr | None = None  # agentgate: one of our file URLs

    _ids = field_validator("source_file_id", mode="before")(coerce_id)


class DocumentBase(_Body):
    name: Annotated[StrictStr, Field(max_length=255)] | None = None
    source_info: SourceInfo


class ChunkStrategy(_Body):
    chunk_type: StrictInt | None = None
    max_tokens: Annotated[StrictInt, Field(ge=50, le=8000)] | None = None
    separator: Annotated[StrictStr, Field(max_length=20)] | None = None
    remove_extra_spaces: bool | None = None
    remove_urls_emails: bool | None = None
    overlap: Annotated[StrictInt, Field(ge=0, le=4000)] | None = None  # agentgate extension


class CreateDocuments(_Body):
    dataset_id: Id
    document_bases: Annotated[list[DocumentBase], Field(min_length=1, max_length=documents.MAX_PER_REQUEST)]
    chunk_strategy: ChunkStrategy | None = None
    format_type: StrictInt | None = 0

    _id = field_validator("dataset_id", mode="before")(coerce_id)


class UpdateDocument(_Body):
    document_id: Id
    document_name: Annotated[StrictStr, Field(max_length=255, json_schema_extra={"pattern": NOT_BLANK})] | None = None

    _id = field_validator("document_id", mode="before")(coerce_id)


class DeleteDocuments(_Body):
    document_ids: Annotated[list[Id], Field(min_length=1, max_length=documents.MAX_DELETE)]

    _ids = field_validator("document_ids", mode="before")(_ids)


class ListDocuments(_Body):
    dataset_id: Id
    page: Annotated[StrictInt, Field(ge=1, le=100_000)] = 1
    size: Annotated[StrictInt, Field(ge=1, le=300)] = 10

    _id = field_validator("dataset_id", mode="before")(coerce_id)


class CozeRetrieve(_Body):
    model_config = ConfigDict(extra="ignore", json_schema_extra=_retrieval_schema("dataset_ids"))
    query: Any = None
    dataset_ids: Any = None
    top_k: Annotated[StrictInt, Field(ge=1, le=retrieval.MAX_TOP_K)] = 5
    mode: StrictStr = "hybrid"
    alpha: Annotated[float, Field(ge=0, le=1)] = retrieval.DEFAULT_ALPHA

    _ids = field_validator("dataset_ids", mode="before")(_ids)


@app.post("/v1/datasets", responses=errors(404))
def create_dataset(body: CreateDataset, principal: Writer):
    base = bases.create_base(principal.owner_id, body.name, body.description, format_type=body.format_type,
                             icon_file_id=body.file_id)
    return _coze({"dataset_id": base.knowledge_id})


@app.get("/v1/datasets", responses=errors(400))
def list_datasets(
    principal: Reader,
    space_id: Annotated[str | None, Query(max_length=64)] = None,
    name: Annotated[str | None, Query(max_length=200)] = None,
    # cozepy sends "" for None
    format_type: Annotated[str | None, Query(max_length=2, json_schema_extra={"enum": ["", "0", "1", "2"]})] = None,
    page_num: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=300)] = 10,
):
    if format_type and format_type not in ("0", "1", "2"):
        raise KnowledgeError(400, "format_type must be 0, 1 or 2", param="format_type")
    items, total = bases.list_bases(principal.owner_id, name=name or None, page=page_num, size=page_size,
                                    format_type=int(format_type) if format_type else None)
    return _coze({"total_count": total, "dataset_list": [coze_dataset(b) for b in items]})


@app.put("/v1/datasets/{dataset_id}", responses=errors(404))
def update_dataset(dataset_id: str, body: UpdateDataset, principal: Writer):
    # Coze: a full refresh; a description left out becomes empty.
    bases.update_base(principal.owner_id, dataset_id, name=body.name, description=body.description or "",
                      icon_file_id=body.file_id or "")
    return _coze({})


@app.delete("/v1/datasets/{dataset_id}", responses=errors(404))
def delete_dataset(dataset_id: str, principal: Writer):
    bases.delete_base(principal.owner_id, dataset_id)
    return _coze({})


@app.post("/v1/datasets/{dataset_id}/process", responses=errors(404))
def dataset_process(dataset_id: str, body: ProcessBody, principal: Reader):
    docs = documents.documents_of(principal.owner_id, dataset_id, body.document_ids)
    return _coze({"data": [coze_progress(d) for d in docs]})


@app.post("/v1/datasets/retrieve", responses=errors(404, 409))
def coze_retrieve(body: CozeRetrieve, principal: Reader):
    result = retrieval.retrieve(principal.owner_id, body.dataset_ids, body.query, top_k=body.top_k,
                                mode=body.mode, alpha=body.alpha)
    return _coze({"mode": result.mode, "chunks": [
        {"slice": h.text, "score": h.to_dict()["score"], "dataset_id": h.knowledge_id, **h.to_dict()}
        for h in result.hits]})


def _source(principal: Principal, doc: DocumentBase) -> documents.Source:
    info = doc.source_info
    if info.web_url is not None:
        raise KnowledgeError(400, "online web pages are not fetched by this service; upload the page as a file")
    if info.file_base64 is not None:
        return documents.Source(name=doc.name, data=documents.decode_base64(info.file_base64),
                                file_type=info.file_type)
    return documents.Source(name=doc.name, text=info.text, file_id=info.source_file_id, file_url=info.file_url)


@app.post("/open_api/knowledge/document/create", responses=errors(404, 413, 415))
async def create_documents(body: CreateDocuments, principal: Writer):
    sources = [_source(principal, d) for d in body.document_bases]
    cs = body.chunk_strategy
    size = cs.max_tokens if cs is not None and cs.chunk_type == 1 else None
    overlap = cs.overlap if cs is not None else None
    docs = await run_in_threadpool(documents.add_documents, principal.owner_id, body.dataset_id, sources,
                                   chunk_size=size, chunk_overlap=overlap)
    base = await run_in_threadpool(bases.get_base, principal.owner_id, body.dataset_id)
    infos = [coze_document(d, _chunk_strategy(base)) for d in docs]
    return _coze(infos, document_infos=infos)


@app.post("/open_api/knowledge/document/update", responses=errors(404))
def update_document(body: UpdateDocument, principal: Writer):
    if body.document_name is not None:
        documents.rename_document(principal.owner_id, body.document_id, body.document_name)
    else:
        documents.get_document(principal.owner_id, body.document_id)
    return _coze({})


@app.post("/open_api/knowledge/document/delete", responses=errors(404))
def delete_documents(body: DeleteDocuments, principal: Writer):
    documents.delete_documents(principal.owner_id, body.document_ids)
    return _coze({})


@app.post("/open_api/knowledge/document/list", responses=errors(404))
def list_documents(body: ListDocuments, principal: Reader):
    docs, total = documents.list_documents(principal.owner_id, body.dataset_id, page=body.page, size=body.size)
    infos = [coze_document(d) for d in docs]
    return _coze({"document_infos": infos, "total": total}, document_infos=infos, total=total)
