"""OpenAI Responses routes on the chat endpoint group (included by agentgate.api.chat).

Thin: parse (protocols.responses) -> prepare (chat.responses; every failure up to the first byte
is OpenAI's error JSON with its status) -> stream the frames or answer the Response object.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request

from agentgate.api.deps import requires
from agentgate.api.openapi import TURN_ERRORS, errors, json_body, streamed
from agentgate.auth.principal import Principal
from agentgate.chat import responses as service
from agentgate.protocols import responses as proto

router = APIRouter()

CHAT = requires("chat")
READ = requires("read")


async def _watch(request: Request, rt: service.ResponseTurn) -> None:
    """A client that leaves before the answer is complete stops the model."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            rt.turn.cancel("disconnected")
            return


_CREATE = dict(responses=streamed(*TURN_ERRORS), openapi_extra=json_body(proto.ResponsesRequest))


@router.post("/v1/responses", **_CREATE)
@router.post("/api/v1/responses", **_CREATE)
async def create_response(request: Request, principal: Principal = Depends(CHAT)):
    from agentgate.api.chat import TurnStreamResponse  # the chat app's disconnect-aware SSE response

    req = proto.parse_request(await request.body())
    rt = await service.prepare(principal.owner_id, req, emit=req.stream, principal=principal)
    watcher = asyncio.ensure_future(_watch(request, rt))
    try:
        await rt.open()  # the first event: an error there is still an HTTP status
        if req.stream:
            return TurnStreamResponse(rt.frames(), rt.turn)
        return await rt.run()
    finally:
        watcher.cancel()


@router.get("/v1/responses/{response_id}", responses=errors(404))
@router.get("/api/v1/responses/{response_id}", responses=errors(404))
async def retrieve_response(response_id: str, principal: Principal = Depends(READ)):
    return service.response_from_item(await service.get(principal.owner_id, response_id))


@router.delete("/v1/responses/{response_id}", responses=errors(404))
@router.delete("/api/v1/responses/{response_id}", responses=errors(404))
async def delete_response(response_id: str, principal: Principal = Depends(CHAT)):
    return await service.delete(principal.owner_id, response_id)


@router.post("/v1/responses/{response_id}/cancel", responses=errors(404))
@router.post("/api/v1/responses/{response_id}/cancel", responses=errors(404))
async def cancel_response(response_id: str, principal: Principal = Depends(CHAT)):
    return await service.cancel(principal.owner_id, response_id)


@router.get("/v1/responses/{response_id}/input_items", responses=errors(404))
@router.get("/api/v1/responses/{response_id}/input_items", responses=errors(404))
async def list_input_items(response_id: str, principal: Principal = Depends(READ),
                           order: Literal["asc", "desc"] = "desc", limit: int = Query(20, ge=1, le=100),
                           after: str | None = None):
    item = await service.get(principal.owner_id, response_id)
    return proto.input_items_page(item.input_list(), order=order, limit=limit, after=after)
