"""The workflows endpoint group: Coze's workflow API (seed 002 §6, cozepy.workflows) and AIFlowy's
external workflow API (seed 004). Streams (stream_run, stream_resume, workflows/chat) run under
the Lambda Web Adapter like chat (functions/workflows/run.sh); the rest works buffered too.

Routes stay thin: parse -> workflows.manage / workflows.runs (WorkflowError -> the caller's
error shape) -> protocols.coze_workflow / protocols.aiflowy_workflow / protocols.coze.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Annotated, Any, AsyncIterator

from fastapi import Depends, Path, Request
from fastapi.responses import JSONResponse
from starlette.responses import StreamingResponse

from agentgate import background
from agentgate.api.app import create_app
from agentgate.policy import bindings, metering, ratelimit
from agentgate.api.deps import requires
from agentgate.api.errors import ApiError, error_body, request_id_of, shape_for_path
from agentgate.api.openapi import NOT_BLANK, errors, json_schema_body, query_parameters, streamed
from agentgate.auth.principal import Principal
from agentgate.ids import coerce_id, new_id, now_s
from agentgate.protocols import aiflowy_workflow as aiflowy_wf
from agentgate.protocols import coze as coze_proto
from agentgate.protocols import coze_workflow as coze_wf
from agentgate.protocols.common import load_json_object
from agentgate.protocols.sse import SSE_HEADERS, SSE_MEDIA_TYPE, KeepAlive
from agentgate.runner.events import Error, Finish, TextDelta, Usage
from agentgate.store import workflows as wf_store
from agentgate.workflows import manage, runs
from agentgate.workflows.errors import InputError, NotFound, WorkflowError
from agentgate.workflows.events import Completed, Delta, Failed, Interrupted, NodeMessage

log = logging.getLogger(__name__)

app = create_app("workflows")

ADMIN = requires("admin")
CHAT = requires("chat")
READ = requires("read")

# ------------------------------------------------------------------------------------- documents
# The routes read their bodies and query strings themselves; what they accept is stated here.

WORKFLOW_ID_PATTERN = r"^[0-9]{1,24}$"  # anything else names no workflow (404)
_ID = {"anyOf": [{"type": "string", "pattern": WORKFLOW_ID_PATTERN}, {"type": "integer", "minimum": 0}]}
_REF = {"anyOf": [{"type": "string", "minLength": 1, "maxLength": 64}, {"type": "integer", "minimum": 0}]}
WorkflowIdP = Annotated[str, Path(json_schema_extra={"pattern": WORKFLOW_ID_PATTERN})]
_DOCUMENT = json_schema_body({
    "type": "object",
    "description": "the workflow document (name, description, inputs, nodes, edges, outputs), or "
                   "{\"definition\": document}; its graph is validated on save (400 names the node and the problem)",
    "anyOf": [{"required": ["name"]}, {"required": ["definition"], "properties": {"definition": {"required": ["name"]}}}],
    "properties": {"name": {"type": "string", "maxLength": 100}, "description": {"type": "string"},
                   "nodes": {"type": "array", "items": {"type": "object"}},
                   "edges": {"type": "array", "items": {"type": "object"}},
                   "definition": {"type": "object"}},
})
_PUBLISH_FLAG = query_parameters(publish={"type": "string", "description": "1, true or yes: publish it too"})
# Some clients send the parameters as JSON text: accepted, but only the object is stated (JSON Schema
# cannot say "a string holding a JSON object").
_PARAMETERS = {"type": "object"}
_RUN_BODY = {"workflow_id": _ID, "parameters": _PARAMETERS, "bot_id": _REF,
             "version": {"anyOf": [{"type": "string", "pattern": r"^v?[0-9]+$"}, {"type": "integer", "minimum": 0}],
                         "description": "a published version (default: the latest)"}}
_RUN = json_schema_body({"type": "object", "required": ["workflow_id"],
                         "properties": {**_RUN_BODY, "is_async": {"type": "boolean"}}})
_STREAM_RUN = json_schema_body({"type": "object", "required": ["workflow_id"], "properties": _RUN_BODY})
_RESUME = json_schema_body({"type": "object", "required": ["workflow_id", "event_id"], "properties": {
    "workflow_id": _ID, "event_id": {"type": "string", "minLength": 1}, "resume_data": {},
    "interrupt_type": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}})
_MESSAGE = {"type": "object", "properties": {"role": {"type": "string"}, "content": {"type": "string"},
                                             "content_type": {"type": "string"}}}
_WORKFLOW_CHAT = json_schema_body({"type": "object", "required": ["workflow_id"], "properties": {
    **_RUN_BODY, "additional_messages": {"type": "array", "items": _MESSAGE}, "query": {"type": "string"},
    "conversation_id": _REF},
    # the user's question: a user message's text in additional_messages, or query
    "anyOf": [{"required": ["query"], "properties": {"query": {"pattern": NOT_BLANK}}},
              {"required": ["additional_messages"], "properties": {"additional_messages": {"contains": {
                  "type": "object", "required": ["content"],
                  "properties": {"role": {"const": "user"}, "content": {"type": "string", "pattern": NOT_BLANK},
                                 "content_type": {"const": "text"}}}}}}]})
_PAGE = {"page_num": {"type": "integer", "minimum": 1}}
# A run's outcome is its status: its own refusal (400), an unknown or unpublished workflow or version
# (404), a resumed run (409), an output too large to keep (413), the key's limits (429), a timeout (504).
RUN_ERRORS = (400, 404, 409, 413, 429, 504)


def _api_error(exc: WorkflowError) -> ApiError:
    return ApiError(exc.status, exc.message, code=exc.code, param=exc.param)


async def _call(fn, *args, **kwargs):
    """Run a workflows-part call (sync in a thread, or a coroutine); WorkflowError -> ApiError."""
    try:
        if asyncio.iscoroutinefunction(fn):
            return await fn(*args, **kwargs)
        return await asyncio.to_thread(fn, *args, **kwargs)
    except WorkflowError as exc:
        raise _api_error(exc) from None


def _ok(data: Any = None) -> dict:
    return {"code": 0, "msg": "", "data": data}


def _wid(principal: Principal, value: Any, param: str = "workflow_id") -> str:
    """A workflow id the key may use: outside a bound key's workflow_ids it does not exist (404)."""
    wid = _workflow_id(value, param)
    if not bindings.workflow_allowed(principal, wid):
        raise ApiError(404, runs.NOT_PUBLISHED)
    return wid


def _workflow_id(value: Any, param: str = "workflow_id") -> str:
    value = coerce_id(value)
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, f"{param} is required", param=param)
    if not value.isdigit() or len(value) > 24:
        raise ApiError(404, runs.NOT_PUBLISHED)
    return value


@app.get("/healthz")
async def healthz():
    return {"status": "ok"}


# ------------------------------------------------------------------------------------- streaming


class RunStreamResponse(StreamingResponse):
    """An SSE response that stops the run when the client goes away (the outcome is stored)."""

    def __init__(self, content: AsyncIterator[bytes], execution: runs.Execution):
        super().__init__(content, status_code=200, headers=dict(SSE_HEADERS), media_type=SSE_MEDIA_TYPE)
        self.execution = execution

    async def __call__(self, scope, receive, send) -> None:
        async def watch() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    self.execution.stop("disconnected")
                    return

        watcher = asyncio.ensure_future(watch())
        try:
            await self.stream_response(send)
        except OSError:
            self.execution.stop("disconnected")
        finally:
            watcher.cancel()


async def _coze_frames(renderer: coze_wf.StreamRenderer, execution: runs.Execution) -> AsyncIterator[bytes]:
    done = False
    try:
        async for event in execution.events():
            frame = renderer.render(event)
            done = done or isinstance(event, (Completed, Failed, Interrupted))
            if frame:
                yield frame
    except Exception:  # never a cut socket: the protocol's error event
        if done:
            raise
        log.exception("workflow stream failed")
        yield renderer.error(500, "internal error; the run did not complete")


def _stream(execution: runs.Execution, workflow_id: str) -> RunStreamResponse:
    renderer = coze_wf.StreamRenderer(workflow_id=workflow_id, execute_id=execution.execute_id)
    return RunStreamResponse(_coze_frames(renderer, execution), execution)


async def _wait(request: Request, execution: runs.Execution):
    """Run to the end within the request, stopping the run if the client goes away."""
    async def watch():
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                execution.stop("disconnected")
                return

    watcher = asyncio.ensure_future(watch())
    try:
        return await execution.collect()
    finally:
        watcher.cancel()


def _failed_response(request: Request, final: Failed, extra: dict) -> JSONResponse:
    status = int(final.code) if 400 <= int(final.code) < 600 else 500
    body = error_body(shape_for_path(request.url.path), status, final.message, request_id_of(request),
                      code=int(final.code))
    body.update(extra)
    return JSONResponse(body, status_code=status)


# ------------------------------------------------------------------------------------- management


def _document(raw: bytes) -> dict:
    body = load_json_object(raw)
    # {"definition": {...}} is accepted as well as the bare document.
    return body["definition"] if isinstance(body.get("definition"), dict) else body


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("1", "true", "yes")


def _summary(head) -> dict:
    return {**coze_wf.workflow_basic(head), "draft_updated_at": int(head.draft_updated_at or 0)}


@app.post("/v1/workflows", responses=errors(400, 409), openapi_extra={**_DOCUMENT, **_PUBLISH_FLAG})
async def create_workflow(request: Request, principal: Principal = Depends(ADMIN)):
    document = _document(await request.body())
    head = await _call(manage.create, principal.owner_id, document, _flag(request, "publish"))
    return _ok(_summary(head))


@app.put("/v1/workflows/{workflow_id}", responses=errors(400, 404, 409), openapi_extra={**_DOCUMENT, **_PUBLISH_FLAG})
async def update_workflow(workflow_id: WorkflowIdP, request: Request, principal: Principal = Depends(ADMIN)):
    document = _document(await request.body())
    head = await _call(manage.update, principal.owner_id, _wid(principal, workflow_id), document,
                       _flag(request, "publish"))
    return _ok(_summary(head))


@app.post("/v1/workflows/{workflow_id}/publish", responses=errors(400, 404, 409), openapi_extra=json_schema_body(
    {"type": "object", "properties": {"description": {"type": "string"}, "version_description": {"type": "string"}}},
    required=False))
async def publish_workflow(workflow_id: WorkflowIdP, request: Request, principal: Principal = Depends(ADMIN)):
    raw = await request.body()
    description = ""
    if raw.strip():
        body = load_json_object(raw)
        description = body.get("description") or body.get("version_description") or ""
        if not isinstance(description, str):
            raise ApiError(400, "description must be a string", param="description")
    head = await _call(manage.publish, principal.owner_id, _wid(principal, workflow_id), description)
    return _ok(_summary(head))


@app.get("/v1/workflows", responses=errors(400), openapi_extra=query_parameters(
    **_PAGE, page_size={"type": "integer", "minimum": 1, "maximum": 100},
    publish_status={"type": "string", "enum": ["", "all", "published_online", "unpublished_draft"]},
    workflow_mode={"type": "string"}))
async def list_workflows(request: Request, principal: Principal = Depends(READ)):
    params = request.query_params
    page_num, page_size = _page(params.get("page_num"), params.get("page_size"), 100)
    status = params.get("publish_status") or "all"
    if status not in ("all", "published_online", "unpublished_draft"):
        raise ApiError(400, "publish_status must be all, published_online or unpublished_draft", param="publish_status")
    mode = params.get("workflow_mode")
    items, has_more = await asyncio.to_thread(wf_store.list_workflows, principal.owner_id, page_num, page_size)
    if status == "published_online":
        items = [i for i in items if i.version]
    elif status == "unpublished_draft":
        items = [i for i in items if not i.version]
    if mode:
        items = [i for i in items if i.mode == mode]
    items = [i for i in items if bindings.workflow_allowed(principal, i.workflow_id)]
    return _ok({"items": [coze_wf.workflow_basic(i) for i in items], "has_more": has_more})


def _page(raw_num, raw_size, max_size: int, default_size: int | None = None) -> tuple[int, int]:
    try:
        page_num = int(raw_num) if raw_num not in (None, "") else 1
        page_size = int(raw_size) if raw_size not in (None, "") else (default_size or max_size)
    except ValueError:
        raise ApiError(400, "page_num and page_size must be integers") from None
    if page_num < 1 or not 1 <= page_size <= max_size:
        raise ApiError(400, f"page_num must be >= 1 and page_size from 1 to {max_size}")
    return page_num, page_size


@app.get("/v1/workflows/{workflow_id}", responses=errors(404))
async def retrieve_workflow(workflow_id: WorkflowIdP, principal: Principal = Depends(READ)):
    head = await _call(manage.get, principal.owner_id, _wid(principal, workflow_id))
    detail = coze_wf.workflow_basic(head)
    return _ok({"workflow_detail": detail, "draft": manage.draft_document(head),
                "published": json.loads(head.online) if head.online else None})


@app.get("/v1/workflows/{workflow_id}/versions", responses=errors(400, 404), openapi_extra=query_parameters(
    page_size={"type": "integer", "minimum": 1, "maximum": 30},
    page_token={"type": "string", "pattern": r"^v[0-9]+$", "description": "next_page_token of the last page"},
    publish_status={"type": "string"}))
async def list_versions(workflow_id: WorkflowIdP, request: Request, principal: Principal = Depends(READ)):
    params = request.query_params
    wid = _wid(principal, workflow_id)
    await _call(manage.get, principal.owner_id, wid)
    _, page_size = _page(None, params.get("page_size"), 30, 10)
    token = params.get("page_token") or None
    if token is not None and not (token.startswith("v") and token[1:].isdigit()):
        raise ApiError(400, "page_token is not one this API returned", param="page_token")
    if params.get("publish_status") == "unpublished_draft":
        return _ok({"items": [], "has_more": False, "next_page_token": None})
    items, has_more = await asyncio.to_thread(wf_store.list_versions, principal.owner_id, wid, page_size, token)
    next_token = items[-1].sk if has_more and items else None
    return _ok({"items": [coze_wf.version_info(i) for i in items], "has_more": has_more,
                "next_page_token": next_token})


# ------------------------------------------------------------------------------------- runs


def _run_body(raw: bytes, principal: Principal) -> tuple[dict, str]:
    body = load_json_object(raw)
    return body, _wid(principal, body.get("workflow_id"))


def _parameters(body: dict) -> Any:
    parameters = body.get("parameters")
    if isinstance(parameters, str):  # some clients send the parameters as JSON text
        try:
            parameters = json.loads(parameters) if parameters.strip() else {}
        except ValueError:
            raise ApiError(400, "parameters must be a JSON object", param="parameters") from None
    return parameters


@app.post("/v1/workflow/run", responses=errors(*RUN_ERRORS), openapi_extra=_RUN)
async def run_workflow(request: Request, principal: Principal = Depends(CHAT)):
    body, wid = _run_body(await request.body(), principal)
    bot_id = coerce_id(body.get("bot_id"))
    await ratelimit.admit(principal, stream=False, bot_id=bot_id)  # the key's requests per window (429)
    is_async = body.get("is_async") is True
    mode = runs.RUN_ASYNC if is_async else runs.RUN_SYNC
    execution = await _call(runs.start, principal.owner_id, wid, _parameters(body), run_mode=mode,
                            version=body.get("version"), bot_id=bot_id)
    meter = _meter_args(principal, request, bot_id)
    if is_async:
        background.submit("workflow_run", {"owner_id": principal.owner_id, "execute_id": execution.execute_id,
                                           "meter": meter})
        return coze_wf.run_answer(wid, execution.execute_id, None, is_async=True)
    execution.on_final = metering.run_meter(**meter)
    final = await _wait(request, execution)
    if isinstance(final, Failed):
        return _failed_response(request, final, {"execute_id": execution.execute_id,
                                                 "debug_url": coze_wf.debug_url(wid, execution.execute_id)})
    return coze_wf.run_answer(wid, execution.execute_id, final)


@app.post("/v1/workflow/stream_run", responses=streamed(*RUN_ERRORS, json=False), openapi_extra=_STREAM_RUN)
async def stream_run(request: Request, principal: Principal = Depends(CHAT)):
    body, wid = _run_body(await request.body(), principal)
    bot_id = coerce_id(body.get("bot_id"))
    await ratelimit.admit(principal, stream=False, bot_id=bot_id)  # the key's requests per window (429)
    execution = await _call(runs.start, principal.owner_id, wid, _parameters(body), run_mode=runs.RUN_STREAM,
                            version=body.get("version"), bot_id=bot_id)
    execution.on_final = metering.run_meter(**_meter_args(principal, request, bot_id))
    return _stream(execution, wid)


@app.post("/v1/workflow/stream_resume", responses=streamed(*RUN_ERRORS, json=False), openapi_extra=_RESUME)
async def stream_resume(request: Request, principal: Principal = Depends(CHAT)):
    body, wid = _run_body(await request.body(), principal)
    if body.get("event_id") in (None, ""):
        raise ApiError(400, "event_id is required", param="event_id")
    await ratelimit.admit(principal, stream=False)  # the key's requests per window (429)
    execution = await _call(runs.resume, principal.owner_id, wid, body.get("event_id"), body.get("resume_data"),
                            body.get("interrupt_type"))
    execution.on_final = metering.run_meter(**_meter_args(principal, request, execution.run.bot_id))
    return _stream(execution, wid)


def _meter_args(principal: Principal, request: Request, bot_id: str | None) -> dict:
    """policy.metering.run_meter's arguments for a run this request starts (JSON: an async run
    carries them to the background work)."""
    return {"owner_id": principal.owner_id, "key_id": principal.key_id, "bot_id": bot_id,
            "route": f"{request.method} {request.url.path}"}


async def _run_of(principal: Principal, workflow_id: str, execute_id: str):
    wid = _wid(principal, workflow_id)
    run = await asyncio.to_thread(wf_store.get_run, principal.owner_id, execute_id)
    if run is None or run.workflow_id != wid:
        raise ApiError(404, "workflow run not found")
    return await asyncio.to_thread(runs.refresh, run)


@app.get("/v1/workflows/{workflow_id}/run_histories/{execute_id}", responses=errors(404))
async def run_history(workflow_id: WorkflowIdP, execute_id: str, principal: Principal = Depends(READ)):
    run = await _run_of(principal, workflow_id, execute_id)
    nodes = await asyncio.to_thread(wf_store.run_nodes, run.execute_id)
    output = await asyncio.to_thread(runs.run_output, run) if run.status == wf_store.SUCCESS else ""
    return _ok([coze_wf.run_history(run, output=output, nodes=nodes)])


@app.get("/v1/workflows/{workflow_id}/run_histories/{execute_id}/execute_nodes/{node_execute_uuid}",
         responses=errors(404))
async def node_history(workflow_id: WorkflowIdP, execute_id: str, node_execute_uuid: str,
                       principal: Principal = Depends(READ)):
    run = await _run_of(principal, workflow_id, execute_id)
    node = await asyncio.to_thread(wf_store.get_node, principal.owner_id, run.execute_id, node_execute_uuid)
    if node is None:
        raise ApiError(404, "node execution not found")
    output = await asyncio.to_thread(runs.node_output, node)
    return _ok(coze_wf.node_history(node, output))


@app.post("/v1/workflows/{workflow_id}/run_histories/{execute_id}/cancel", responses=errors(400, 404, 409))
async def cancel_run(workflow_id: WorkflowIdP, execute_id: str, principal: Principal = Depends(CHAT)):
    await _run_of(principal, workflow_id, execute_id)
    run = await _call(runs.request_cancel, principal.owner_id, execute_id)
    return _ok({"execute_id": run.execute_id, "status": run.status})


@app.get("/v1/workflow/get_run_history", responses=errors(400, 404), openapi_extra=query_parameters(
    required=("workflow_id",), workflow_id={"type": "string", "pattern": WORKFLOW_ID_PATTERN},
    execute_id={"type": "string"}, **_PAGE, page_size={"type": "integer", "minimum": 1, "maximum": 50}))
async def get_run_history(request: Request, principal: Principal = Depends(READ)):
    params = request.query_params
    wid = _wid(principal, params.get("workflow_id"))
    await _call(manage.get, principal.owner_id, wid)
    execute_id = params.get("execute_id")
    if execute_id:
        run = await _run_of(principal, wid, execute_id)
        output = await asyncio.to_thread(runs.run_output, run) if run.status == wf_store.SUCCESS else ""
        return _ok([coze_wf.run_history(run, output=output)])
    page_num, page_size = _page(params.get("page_num"), params.get("page_size"), 50, 20)
    items, has_more = await asyncio.to_thread(wf_store.list_runs, principal.owner_id, wid, page_num, page_size)
    items = [await asyncio.to_thread(runs.refresh, r) for r in items]
    out = []
    for r in items:
        output = await asyncio.to_thread(runs.run_output, r) if r.status == wf_store.SUCCESS else ""
        out.append(coze_wf.run_history(r, output=output))
    body = _ok(out)
    body["has_more"] = has_more
    return body


# ------------------------------------------------------------------------------------- chatflow


@app.post("/v1/workflow/conversation/create", responses=errors(400, 404), openapi_extra=json_schema_body(
    {"type": "object", "properties": {"workflow_id": _ID, "bot_id": _REF, "app_id": _REF,
                                      "conversation_name": {"type": "string", "maxLength": 100},
                                      "name": {"type": "string", "maxLength": 100}, "user_id": {"type": "string"}}},
    required=False))
async def create_workflow_conversation(request: Request, principal: Principal = Depends(CHAT)):
    from agentgate.store import conversations as conv_store

    raw = await request.body()
    body = load_json_object(raw) if raw.strip() else {}
    owner_ref = coerce_id(body.get("workflow_id") or body.get("bot_id") or body.get("app_id") or "")
    if owner_ref and not isinstance(owner_ref, str):
        raise ApiError(400, "workflow_id must be an id", param="workflow_id")
    if body.get("workflow_id"):
        await _call(manage.get, principal.owner_id, _wid(principal, body.get("workflow_id")))
    name = body.get("conversation_name") or body.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > 100):
        raise ApiError(400, "conversation_name must be a string of at most 100 characters", param="conversation_name")
    conv = await asyncio.to_thread(conv_store.create_conversation, principal.owner_id, owner_ref or "",
                                   name=name, user_id=body.get("user_id") if isinstance(body.get("user_id"), str)
                                   else None)
    return _ok({"id": conv.conversation_id, "created_at": int(conv.created_at), "meta_data": {},
                "last_section_id": conv.section_id, "name": conv.name or "", "bot_id": conv.bot_id})


def _chat_question(body: dict) -> str:
    text = None
    for m in body.get("additional_messages") or []:
        if isinstance(m, dict) and m.get("role", "user") == "user":
            content = m.get("content")
            if isinstance(content, str) and content.strip():
                if m.get("content_type") == "object_string":
                    try:
                        parts = coze_proto.parse_object_string(content)
                    except ValueError as exc:
                        raise ApiError(400, str(exc), param="additional_messages") from None
                    content = " ".join(p.get("text", "") for p in parts if p.get("type") == "text")
                text = content
    if text is None and isinstance(body.get("query"), str) and body["query"].strip():
        text = body["query"]
    if text is None:
        raise ApiError(400, "additional_messages (or query) must hold the user's message", param="additional_messages")
    return text


async def _chat_events(execution: runs.Execution, turn: dict) -> AsyncIterator[Any]:
    """Workflow events as a chat turn's runner events; the question and answer are stored."""
    from agentgate.store import conversations as conv_store

    parts: list[str] = []
    final = None
    async for event in execution.events():
        kind = type(event)
        if kind is Delta:
            parts.append(event.text)
            yield TextDelta(event.text)
        elif kind is NodeMessage and event.content:
            parts.append(event.content)
            yield TextDelta(event.content)
        elif kind is KeepAlive:
            yield event
        elif kind in (Completed, Failed, Interrupted):
            final = event
            if kind is Interrupted and event.question and event.question not in parts:
                parts.append(event.question)
                yield TextDelta(event.question)
    text = "".join(parts)
    usage = getattr(final, "usage", None)
    status = "failed" if isinstance(final, Failed) else "completed"

    def save():
        conv_store.add_message(turn["owner_id"], turn["conversation_id"], role="assistant", content=text,
                               type="answer", bot_id=turn["bot_id"], chat_id=turn["chat_id"],
                               section_id=turn["section_id"], message_id=turn["answer_id"],
                               status="complete" if status == "completed" else "partial")
        u = {"token_count": usage.total_tokens, "output_count": usage.output_tokens,
             "input_count": usage.input_tokens} if usage else None
        last_error = {"code": int(final.code), "msg": final.message} if isinstance(final, Failed) else None
        conv_store.finish_chat(turn["chat"], status, usage=u, last_error=last_error)

    try:
        await asyncio.to_thread(save)
    except Exception:
        log.exception("storing the workflow chat's answer failed")
    if isinstance(final, Failed):
        yield Error(final.message, code="workflow_failed", status=int(final.code) if final.code >= 400 else 500)
    yield Usage(usage.input_tokens, usage.output_tokens) if usage else Usage(0, 0)
    yield Finish("error" if isinstance(final, Failed) else "stop")


async def _chat_frames(renderer, events: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    yield renderer.start()
    async for event in events:
        frame = renderer.render(event)
        if frame:
            yield frame


@app.post("/v1/workflows/chat", responses=streamed(*RUN_ERRORS, json=False), openapi_extra=_WORKFLOW_CHAT)
async def workflow_chat(request: Request, principal: Principal = Depends(CHAT)):
    from agentgate.store import conversations as conv_store

    body, wid = _run_body(await request.body(), principal)
    question = _chat_question(body)
    parameters = _parameters(body) or {}
    if not isinstance(parameters, dict):
        raise ApiError(400, "parameters must be a JSON object", param="parameters")
    cid = coerce_id(request.query_params.get("conversation_id") or body.get("conversation_id"))
    bot_id = coerce_id(body.get("bot_id")) or wid
    if not isinstance(bot_id, str):
        raise ApiError(400, "bot_id must be an id", param="bot_id")
    owner = principal.owner_id
    if cid:
        conv = await asyncio.to_thread(conv_store.get_conversation, owner, str(cid))
        if conv is None:
            raise ApiError(404, "conversation not found")
    else:
        conv = None
    await ratelimit.admit(principal, stream=False, bot_id=bot_id)  # the key's requests per window (429)
    execution = await _call(runs.start, owner, wid, {**parameters, "USER_INPUT": question}, run_mode=runs.RUN_STREAM,
                            bot_id=bot_id, conversation_id=cid or None)
    execution.on_final = metering.run_meter(**_meter_args(principal, request, bot_id))
    if conv is None:
        conv = await asyncio.to_thread(conv_store.create_conversation, owner, bot_id)
    chat_id, answer_id = new_id(), new_id()

    def open_chat():
        chat = conv_store.create_chat(owner, conv.conversation_id, bot_id, section_id=conv.section_id,
                                      status="in_progress", chat_id=chat_id)
        conv_store.add_message(owner, conv.conversation_id, role="user", content=question, type="question",
                               bot_id=bot_id, chat_id=chat_id, section_id=conv.section_id)
        return chat

    chat = await asyncio.to_thread(open_chat)
    turn = {"owner_id": owner, "conversation_id": conv.conversation_id, "bot_id": bot_id, "chat_id": chat_id,
            "section_id": conv.section_id, "answer_id": answer_id, "chat": chat}
    renderer = coze_proto.StreamRenderer(chat_id=chat_id, conversation_id=conv.conversation_id, bot_id=bot_id,
                                         answer_id=answer_id, created_at=now_s(), section_id=conv.section_id)
    return RunStreamResponse(_chat_frames(renderer, _chat_events(execution, turn)), execution)


# ------------------------------------------------------------------------------------- AIFlowy


async def _form_or_json(request: Request) -> dict:
    raw = await request.body()
    ctype = request.headers.get("content-type", "")
    if "json" in ctype or raw.strip().startswith(b"{"):
        return load_json_object(raw)
    from urllib.parse import parse_qsl

    try:
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise ApiError(400, "the form is not UTF-8") from None


@app.post("/api/v1/aiWorkflow/external/getRunningParams", responses=errors(400, 404), openapi_extra={
    **query_parameters(id={"type": "string", "pattern": WORKFLOW_ID_PATTERN}),
    **json_schema_body({"type": "object", "required": ["id"], "properties": {"id": _ID}},
                       description="{\"id\": ...} as JSON or a form (or ?id= in the query string, with no body)")})
async def aiflowy_running_params(request: Request, principal: Principal = Depends(READ)):
    body = await _form_or_json(request)
    wid = body.get("id") or request.query_params.get("id")
    head, definition = await _call(manage.published_definition, principal.owner_id, _wid(principal, wid, "id"))
    return JSONResponse(aiflowy_wf.running_params(definition, head))


@app.post("/api/v1/aiWorkflow/external/run", responses=errors(*RUN_ERRORS), openapi_extra=json_schema_body(
    {"type": "object", "required": ["id"], "properties": {"id": _ID, "variables": {"type": "object"}}}))
async def aiflowy_run(request: Request, principal: Principal = Depends(CHAT)):
    body = load_json_object(await request.body())
    wid = _wid(principal, body.get("id"), "id")
    await ratelimit.admit(principal, stream=False)  # the key's requests per window (429)
    variables = body.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise ApiError(400, "variables must be a JSON object", param="variables")
    execution = await _call(runs.start, principal.owner_id, wid, variables or {}, run_mode=runs.RUN_SYNC)
    execution.on_final = metering.run_meter(**_meter_args(principal, request, None))
    final = await _wait(request, execution)
    status, answer = aiflowy_wf.run_result(final, execution.execute_id)
    return JSONResponse(answer, status_code=status)
