"""The files endpoint group: Coze's /v1/files/upload and /v1/files/retrieve, AgentChat's /api/v1/upload.

Thin routes: reading the body, storing and describing live in agentgate.files.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from agentgate.api.app import create_app
from agentgate.api.deps import requires
from agentgate.api.errors import error_response, request_id_of
from agentgate.api.openapi import errors, multipart_file
from agentgate.auth.principal import Principal
from agentgate.auth.scopes import CHAT, READ
from agentgate.config import settings
from agentgate.files import service
from agentgate.files.errors import FileError
from agentgate.files.multipart import read_file_field

app = create_app("files")

Writer = Annotated[Principal, Depends(requires(CHAT))]
Reader = Annotated[Principal, Depends(requires(READ))]


@app.exception_handler(FileError)
async def _file_error(request: Request, exc: FileError):
    # The path picks the shape: Coze's for /v1/files/*, AgentChat's for /api/v1/upload.
    return error_response(request.url.path, exc.status, exc.message, request_id_of(request))


def _ok(data: dict) -> dict:
    # Seed 002 reads the fields flat, cozepy reads them under `data`: both are there.
    return {"code": 0, "msg": "", **data, "data": data}


async def _store(request: Request, principal: Principal):
    upload = await read_file_field(request.headers.get("content-type"), request.headers.get("content-length"),
                                   request.stream(), max_bytes=settings().max_file_bytes)
    return await run_in_threadpool(service.store_upload, principal.owner_id, upload.file_name, upload.data,
                                   principal.key_id)


# The body is streamed into the store (never buffered whole) under settings().max_file_bytes.
_UPLOAD = dict(responses=errors(400, 413, 415), openapi_extra=multipart_file(
    "file", description="multipart/form-data with the file in the field `file` (an image, PDF, Office "
                        "document or text; its type is read from its name and first bytes)"))


@app.post("/v1/files/upload", **_UPLOAD)
async def upload(request: Request, principal: Writer):
    record = await _store(request, principal)
    return _ok(await run_in_threadpool(service.describe, record))


@app.post("/api/v1/upload", **_UPLOAD)
async def agentchat_upload(request: Request, principal: Writer):
    record = await _store(request, principal)
    url = await run_in_threadpool(service.signed_url, record)
    return {"status_code": 200, "status_message": "SUCCESS", "data": url}


@app.get("/v1/files/retrieve", responses=errors(404))
def retrieve(principal: Reader, file_id: Annotated[str, Query(min_length=1, max_length=64)]):
    record = service.get_file(principal.owner_id, file_id.strip(), principal)
    if record is None:
        raise FileError(404, f"file not found: {file_id}")
    return _ok(service.describe(record))
