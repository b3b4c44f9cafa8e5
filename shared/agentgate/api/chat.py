"""The chat endpoint group: OpenAI Chat Completions, Coze chat v3, AIFlowy external chat and
AgentChat's /api/v1/chat (seed 001) over one turn service (agentgate.chat.service). Served streaming under the Lambda Web Adapter
(functions/chat/run.sh), and buffered through Mangum where nothing streams.

Routes stay thin: parse (protocols.*) -> prepare the turn (chat.service; every failure up to
here is the protocol's error JSON with its status) -> run it and render its events (protocols.*).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Annotated, Any, AsyncIterator

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.responses import StreamingResponse

from agentgate.api.app import create_app
from agentgate.api.deps import requires
from agentgate.api.errors import ApiError
from agentgate.api import responses as responses_api
from agentgate.api.openapi import TURN_ERRORS, errors, json_body, json_schema_body, streamed
from agentgate.auth.principal import Principal
from agentgate.chat import registry
from agentgate.chat import service as chat_service
from agentgate.chat.service import BOT_NOT_FOUND, StoredMessage, TurnInput
from agentgate.ids import now_s
from agentgate.policy import bindings
from agentgate.protocols import agentchat as agentchat_proto
from agentgate.protocols import aiflowy as aiflowy_proto
from agentgate.protocols import coze as coze_proto
from agentgate.protocols import openai as openai_proto
from agentgate.ids import coerce_id
from agentgate.protocols.common import load_json_object
from agentgate.protocols.sse import SSE_HEADERS, SSE_MEDIA_TYPE
from agentgate.runner.events import Error, Finish
from agentgate.runner.types import ChatMessage

log = logging.getLogger(__name__)

app = create_app("chat")
app.include_router(responses_api.router)  # OpenAI Responses (agentgate.api.responses)

CHAT = requires("chat")
READ = requires("read")


# ------------------------------------------------------------------------------------- streaming


class TurnStreamResponse(StreamingResponse):
    """An SSE response that tells the turn when the client goes away (whatever the ASGI spec
    version), so the model stops and the partial answer is stored; the turn then runs to its
    end (a few frames into the void) instead of being torn down mid-write."""

    def __init__(self, content: AsyncIterator[bytes], turn: chat_service.Turn):
        super().__init__(content, status_code=200, headers=dict(SSE_HEADERS), media_type=SSE_MEDIA_TYPE)
        self.turn = turn

    async def __call__(self, scope, receive, send) -> None:
        async def watch() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    self.turn.cancel("disconnected")
                    return

        watcher = asyncio.ensure_future(watch())
        try:
            await self.stream_response(send)
        except OSError:  # ASGI 2.4 servers raise on a send to a closed connection
            self.turn.cancel("disconnected")
            async for _ in self.body_iterator:
                pass
        finally:
            watcher.cancel()


async def _sse(renderer, first, stream: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    """Frames: the renderer's opening with the first event, then one send per event."""
    finished = False
    try:
        yield renderer.start() + renderer.render(first)
        finished = type(first) is Finish
        async for event in stream:
            frame = renderer.render(event)
            finished = finished or type(event) is Finish
            if frame:
                yield frame
    except Exception:  # never a cut socket: the protocol's error, then its end
        if finished:
            raise
        log.exception("chat stream failed")
        yield renderer.render(Error("internal error; the answer was not completed", code="internal_error",
                                    status=500)) + renderer.render(Finish("error"))


async def _watch_disconnect(request: Request, turn: chat_service.Turn) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            turn.cancel("disconnected")
            return


async def _run_blocking(request: Request, turn: chat_service.Turn) -> chat_service.Turn:
    """Run a turn to its end within the request (the non-stream answers), still stopping the
    model if the client goes away."""
    watcher = asyncio.ensure_future(_watch_disconnect(request, turn))
    try:
        return await turn.collect()
    finally:
        watcher.cancel()


def _api_error(error: Error, string_code: bool) -> ApiError:
    # OpenAI's error.code is a string ("upstream_error"); Coze's and AIFlowy's codes are numbers.
    return ApiError(int(error.status), error.message, code=error.code if string_code else None)


def _raise_if_failed_early(turn: chat_service.Turn, string_code: bool = False) -> None:
    """A turn that failed before producing anything answers with the error's status."""
    if turn.status == "failed" and turn.error is not None and not turn.text and not turn.tool_calls:
        raise _api_error(turn.error, string_code)


async def _stream(request: Request, renderer, turn: chat_service.Turn, *,
                  string_code: bool = False) -> TurnStreamResponse:
    """Wait for the turn's first event (a client leaving meanwhile stops it), then stream: an
    Error as the first event is still an HTTP error status."""
    stream = turn.events()
    watcher = asyncio.ensure_future(_watch_disconnect(request, turn))
    try:
        first = await chat_service.first_event(stream)
    finally:
        watcher.cancel()
    if type(first) is Error:
        raise _api_error(first, string_code)
    response = TurnStreamResponse(_sse(renderer, first, stream), turn)
    response.headers.update(turn.rate_headers)
    return response


# ------------------------------------------------------------------------------------- health


@app.get("/healthz")
async def healthz():
    return {"status": "ok"}


# ------------------------------------------------------------------------------------- OpenAI


_COMPLETIONS = dict(responses=streamed(*TURN_ERRORS), openapi_extra=json_body(openai_proto.ChatCompletionRequest))


@app.post("/v1/chat/completions", **_COMPLETIONS)
@app.post("/api/v1/chat/completions", **_COMPLETIONS)
async def chat_completions(request: Request, principal: Principal = Depends(CHAT)):
    req = openai_proto.parse_request(await request.body())
    if req.model == bindings.DEFAULT_REF and not principal.default_bot:
        raise ApiError(422, "model is required: name a bot by id or alias (this key has no default bot)",
                       param="model")
    messages = req.chat_messages()
    key = req.session_key
    turn = await chat_service.prepare(TurnInput(
        owner_id=principal.owner_id, bot_ref=req.model, messages=messages,
        to_store=chat_service.stored_from_messages(messages) if key else [],
        memory="session" if key else "none", session_key=key, user_id=req.user, params=req.params(),
        principal=principal, stream=bool(req.stream)))
    completion_id = openai_proto.new_completion_id()
    if req.stream:
        renderer = openai_proto.StreamRenderer(completion_id=completion_id, model=req.model,
                                               created=turn.created_at, include_usage=req.include_usage)
        return await _stream(request, renderer, turn, string_code=True)
    await _run_blocking(request, turn)
    if turn.status == "failed" and turn.error is not None:  # also after a partial answer (stored as partial)
        raise _api_error(turn.error, string_code=True)
    return JSONResponse(openai_proto.completion(completion_id=completion_id, model=req.model,
                                                created=turn.created_at, text=turn.text, tool_calls=turn.tool_calls,
                                                finish_reason=turn.finish_reason, usage=turn.usage,
                                                recall=turn.recall), headers=turn.rate_headers)


@app.get("/v1/models")
@app.get("/api/v1/models")
async def list_models(principal: Principal = Depends(READ)):
    from agentgate.store.bots import list_online_bots

    bots = await asyncio.to_thread(list_online_bots, principal.owner_id)
    return openai_proto.models_list([b for b in bots if bindings.bot_allowed(principal, b)])


@app.get("/v1/models/{model}", responses=errors(404))
@app.get("/api/v1/models/{model}", responses=errors(404))
async def retrieve_model(model: str, principal: Principal = Depends(READ)):
    """openai's `models.retrieve`: one published bot, by id or alias."""
    from agentgate.store.bots import resolve_online_bot

    bot = await asyncio.to_thread(resolve_online_bot, principal.owner_id, bindings.bot_ref_for(principal, model))
    if bot is None or not bindings.bot_allowed(principal, bot):
        raise ApiError(404, f"The model '{model}' does not exist (bot not found or not published)",
                       code="model_not_found", param="model")
    entry = next(m for m in openai_proto.models_list([bot])["data"] if m["id"] in (model, bot.bot_id))
    return {**entry, "id": model}


_REF = {"anyOf": [{"type": "string", "minLength": 1, "maxLength": 256}, {"type": "integer"}]}


@app.post("/api/v1/sessions/clear", responses=errors(404), openapi_extra=json_schema_body(
    {"type": "object", "required": ["agentId", "sessionKey"], "properties": {"agentId": _REF, "sessionKey": _REF}}))
async def clear_session(request: Request, principal: Principal = Depends(CHAT)):
    body = load_json_object(await request.body())
    agent, key = body.get("agentId"), body.get("sessionKey")
    if isinstance(key, int) and not isinstance(key, bool):
        key = str(key)
    if isinstance(agent, int) and not isinstance(agent, bool):
        agent = str(agent)
    if not isinstance(agent, str) or not agent:
        raise ApiError(400, "agentId is required", param="agentId")
    if not isinstance(key, str) or not key:
        raise ApiError(400, "sessionKey is required", param="sessionKey")
    bot = await asyncio.to_thread(chat_service._resolve_bot, principal.owner_id, bindings.bot_ref_for(principal, agent))
    if bot is None or not bindings.bot_allowed(principal, bot):
        raise ApiError(404, BOT_NOT_FOUND)
    store = chat_service._store()
    cid = store.session_conversation_id(principal.owner_id, bot.bot_id, key)
    deleted = await asyncio.to_thread(store.delete_messages, cid)
    return {"success": True, "agentId": agent, "sessionKey": key, "deleted": deleted}


# ------------------------------------------------------------------------------------- Coze


def _coze_turn_input(principal: Principal, req: coze_proto.ChatRequest, conversation_id: str | None) -> TurnInput:
    messages: list[ChatMessage] = []
    to_store: list[StoredMessage] = []
    for m in req.additional_messages or []:
        content: Any = m.content
        if m.content_type == "object_string":
            content = coze_proto.parse_object_string(m.content)
        messages.append(ChatMessage(role=m.role, content=content))
        to_store.append(StoredMessage(role=m.role, content=m.content, content_type=m.content_type,
                                      type=m.message_type, meta_data=m.meta_data))
    if req.query and req.query.strip():
        messages.append(ChatMessage(role="user", content=req.query))
        to_store.append(StoredMessage(role="user", content=req.query))
    context = []
    for h in req.chat_history or []:
        content = coze_proto.parse_object_string(h.content) if h.content_type == "object_string" else h.content
        context.append(ChatMessage(role=h.role, content=content))
    variables = {k: v if isinstance(v, str) else str(v) for k, v in (req.parameters or {}).items()
                 if isinstance(v, (str, int, float, bool))}
    variables.update(req.custom_variables or {})
    return TurnInput(owner_id=principal.owner_id, bot_ref=req.bot_id, messages=messages, to_store=to_store,
                     context=context, memory="conversation", conversation_id=conversation_id,
                     save=req.auto_save_history, with_chat=True, user_id=req.user_id, meta_data=req.meta_data,
                     variables=variables, principal=principal, stream=bool(req.stream))


def _seed_query_form(req: coze_proto.ChatRequest) -> bool:
    """Seed 002's request form (`query`, no additional_messages), which cozepy never sends."""
    return bool(req.query) and not req.additional_messages


@app.post("/v3/chat", responses=streamed(*TURN_ERRORS), openapi_extra=json_body(coze_proto.ChatRequest))
async def coze_chat(request: Request, principal: Principal = Depends(CHAT),
                    conversation_id: Annotated[str | None, Query(max_length=64)] = None):
    req = coze_proto.parse_chat_request(await request.body())
    conversation_id = conversation_id or req.conversation_id or None
    turn = await chat_service.prepare(_coze_turn_input(principal, req, conversation_id))
    if req.stream:
        renderer = coze_proto.StreamRenderer(
            chat_id=turn.chat_id, conversation_id=turn.conversation_id, bot_id=turn.bot.bot_id,
            answer_id=turn.answer_id, created_at=turn.created_at, section_id=turn.section_id,
            meta_data=turn.meta_data, is_disconnected=lambda: turn.disconnected,
            typed_completion=not _seed_query_form(req))
        return await _stream(request, renderer, turn)
    if req.additional_messages and not (req.query and req.query.strip()) and turn.persist and turn.chat_id:
        # Coze's own form: in_progress at once, the turn runs on as background work.
        from agentgate.chat import background as chat_background
        from agentgate.config import settings

        task = await chat_background.start(turn)
        done = await chat_background.wait(task, settings().coze_chat_wait_ms / 1000)
        if done is None:
            return coze_proto.envelope(coze_proto.chat_from_model(turn.chat))
        turn = done
    else:  # seed 002's form (query) waits for the answer
        await _run_blocking(request, turn)
    _raise_if_failed_early(turn)
    answer = coze_proto.envelope(_coze_result(turn))
    if _seed_query_form(req):
        # Seed 002's form (`query`): its clients read conversation_id and message at the top level.
        message = answer["data"]["message"]
        answer["conversation_id"] = turn.conversation_id
        answer["message"] = {k: message[k] for k in ("id", "role", "content", "created_at")}
    return answer


def _coze_result(turn: chat_service.Turn) -> dict:
    now = now_s()
    status, last_error = coze_proto.final_status(turn.finish_reason, turn.error, turn.disconnected)
    stamp = {"failed_at": now} if status == "failed" else {"completed_at": now}
    data = coze_proto.chat_object(chat_id=turn.chat_id, conversation_id=turn.conversation_id, bot_id=turn.bot.bot_id,
                                  status=status, created_at=turn.created_at, meta_data=turn.meta_data,
                                  last_error=last_error, usage=coze_proto.usage_dict(turn.usage),
                                  section_id=turn.section_id, **stamp)
    # seed 002's reading of the same answer
    data["message"] = {"id": turn.answer_id, "role": "assistant", "type": "answer", "content": turn.text,
                       "content_type": "text", "created_at": now}
    return data


async def _chat_ref(request: Request) -> tuple[str, str]:
    """conversation_id and chat_id from the query string, or a JSON body (cozepy sends either)."""
    params = request.query_params
    cid, chat_id = params.get("conversation_id"), params.get("chat_id")
    if (not cid or not chat_id) and request.method == "POST":
        raw = await request.body()
        if raw.strip():
            body = load_json_object(raw)
            cid = cid or coerce_id(body.get("conversation_id"))
            chat_id = chat_id or coerce_id(body.get("chat_id"))
    if not isinstance(cid, str) or not cid:
        raise ApiError(422, "conversation_id is required", param="conversation_id")
    if not isinstance(chat_id, str) or not chat_id:
        raise ApiError(422, "chat_id is required", param="chat_id")
    return cid, chat_id


async def _get_chat(principal: Principal, cid: str, chat_id: str):
    chat = await asyncio.to_thread(chat_service._store().get_chat, principal.owner_id, cid, chat_id, True)
    if chat is None or not await asyncio.to_thread(bindings.bot_id_allowed, principal, chat.bot_id):
        raise ApiError(404, "chat not found")
    return chat


# conversation_id and chat_id: in the query string, or (POST) in a JSON body, as cozepy sends either.
ChatRefQ = Annotated[str, Query(min_length=1, max_length=64)]
OptionalChatRefQ = Annotated[str | None, Query(max_length=64)]
# Stated as cozepy sends them (in the body); the query string may give them instead.
_CHAT_REF_BODY = json_schema_body(
    {"type": "object", "required": ["conversation_id", "chat_id"],
     "properties": {"conversation_id": _REF, "chat_id": _REF}},
    description="conversation_id and chat_id (or give both in the query string, with no body)")
_CHAT_REF_POST = dict(responses=errors(400, 404, 422), openapi_extra=_CHAT_REF_BODY)


@app.get("/v3/chat/retrieve", responses=errors(404))
async def coze_retrieve_get(request: Request, conversation_id: ChatRefQ, chat_id: ChatRefQ,
                            principal: Principal = Depends(READ)):
    return await coze_retrieve(request, principal)


@app.post("/v3/chat/retrieve", **_CHAT_REF_POST)
async def coze_retrieve_post(request: Request, principal: Principal = Depends(READ),
                             conversation_id: OptionalChatRefQ = None, chat_id: OptionalChatRefQ = None):
    return await coze_retrieve(request, principal)


async def coze_retrieve(request: Request, principal: Principal):
    cid, chat_id = await _chat_ref(request)
    chat = await _get_chat(principal, cid, chat_id)
    return coze_proto.envelope(coze_proto.chat_from_model(chat))


@app.get("/v3/chat/message/list", responses=errors(404))
async def coze_chat_messages_get(request: Request, conversation_id: ChatRefQ, chat_id: ChatRefQ,
                                 principal: Principal = Depends(READ)):
    return await coze_chat_messages(request, principal)


@app.post("/v3/chat/message/list", **_CHAT_REF_POST)
async def coze_chat_messages_post(request: Request, principal: Principal = Depends(READ),
                                  conversation_id: OptionalChatRefQ = None, chat_id: OptionalChatRefQ = None):
    return await coze_chat_messages(request, principal)


async def coze_chat_messages(request: Request, principal: Principal):
    cid, chat_id = await _chat_ref(request)
    await _get_chat(principal, cid, chat_id)
    store = chat_service._store()
    rows, _ = await asyncio.to_thread(store.list_messages, principal.owner_id, cid, order="asc", chat_id=chat_id,
                                      limit=200)
    # The chat's own messages besides the query (cozepy: "model replies, intermediate results").
    return coze_proto.envelope([coze_proto.message_from_model(m) for m in rows
                                if not (m.chat_input or m.type == "question")])


@app.post("/v3/chat/cancel", **_CHAT_REF_POST)
async def coze_cancel(request: Request, principal: Principal = Depends(CHAT),
                      conversation_id: OptionalChatRefQ = None, chat_id: OptionalChatRefQ = None):
    cid, chat_id = await _chat_ref(request)
    store = chat_service._store()
    chat = await asyncio.to_thread(store.get_chat, principal.owner_id, cid, chat_id, True)
    if chat is not None and not await asyncio.to_thread(bindings.bot_id_allowed, principal, chat.bot_id):
        raise ApiError(404, "chat not found")
    if chat is None:
        # A chat that keeps no record (auto_save_history=false) can still be running here.
        control = registry.get(chat_id)
        if control is None or control.owner_id != principal.owner_id:
            raise ApiError(404, "chat not found")
        registry.cancel(principal.owner_id, chat_id)
        return coze_proto.envelope(coze_proto.chat_object(chat_id=chat_id, conversation_id=cid, bot_id="",
                                                          status="canceled", created_at=now_s(),
                                                          completed_at=now_s()))
    if chat.status in ("completed", "failed", "requires_action"):
        raise ApiError(400, f"the chat is {chat.status}; only a chat in progress can be canceled", code=4104)
    if chat.status != "canceled":
        chat = await asyncio.to_thread(store.request_cancel, chat)
    registry.cancel(principal.owner_id, chat_id)  # the fast path when the stream runs in this process
    return coze_proto.envelope(coze_proto.chat_from_model(chat))


@app.post("/v3/chat/submit_tool_outputs", responses=errors(400, 404, 422, 501), openapi_extra=_CHAT_REF_BODY)
async def coze_submit_tool_outputs(request: Request, principal: Principal = Depends(CHAT),
                                   conversation_id: OptionalChatRefQ = None, chat_id: OptionalChatRefQ = None):
    cid, chat_id = await _chat_ref(request)
    chat = await _get_chat(principal, cid, chat_id)
    if chat.status != "requires_action":
        raise ApiError(400, f"the chat is {chat.status}, not requires_action: there are no tool calls to answer")
    raise ApiError(501, "tool outputs are not supported yet")


# ------------------------------------------------------------------------------------- AIFlowy


@app.post("/api/v1/aiBot/externalChat", responses=streamed(*TURN_ERRORS),
          openapi_extra=json_body(aiflowy_proto.ExternalChatRequest))
async def aiflowy_external_chat(request: Request, principal: Principal = Depends(CHAT)):
    req = aiflowy_proto.parse_request(await request.body())
    turn = await chat_service.prepare(TurnInput(owner_id=principal.owner_id, bot_ref=req.botId,
                                                messages=req.chat_messages(), principal=principal,
                                                stream=bool(req.stream)))
    if req.stream:
        return await _stream(request, aiflowy_proto.StreamRenderer(), turn)
    await _run_blocking(request, turn)
    if turn.status == "failed" and turn.error is not None:
        raise _api_error(turn.error, string_code=False)
    return JSONResponse(aiflowy_proto.blocking(turn.text, turn.usage, turn.created_ms), headers=turn.rate_headers)


# ------------------------------------------------------------------------------------- AgentChat


@app.post("/api/v1/chat", responses=streamed(*TURN_ERRORS, json=False),
          openapi_extra=json_body(agentchat_proto.ChatRequest))
async def agentchat_chat(request: Request, principal: Principal = Depends(CHAT)):
    """Seed 001: the conversation `dialog_id` continues with its bot; see protocols.agentchat."""
    req = agentchat_proto.parse_request(await request.body())
    items = req.items()
    if items is None:
        content: Any = req.user_input
        stored = StoredMessage(role="user", content=req.user_input)
    else:
        content = items
        stored = StoredMessage(role="user", content=json.dumps(items, ensure_ascii=False),
                               content_type="object_string")
    try:
        turn = await chat_service.prepare(TurnInput(
            owner_id=principal.owner_id, bot_ref=None, messages=[ChatMessage(role="user", content=content)],
            to_store=[stored], memory="conversation", conversation_id=req.dialog_id, with_chat=True,
            user_id=principal.owner_id if principal.is_user else None, principal=principal, stream=True))
    except ApiError as err:
        if err.status == 404 and err.message == chat_service.CONVERSATION_NOT_FOUND:
            raise ApiError(404, f"dialog {req.dialog_id} not found: create one with POST /api/v1/dialog "
                                "{\"agent_id\": ...} and send the dialog_id it answers") from err
        raise
    renderer = agentchat_proto.StreamRenderer(dialog_id=turn.conversation_id, chat_id=turn.chat_id,
                                              message_id=turn.answer_id)
    return await _stream(request, renderer, turn)
