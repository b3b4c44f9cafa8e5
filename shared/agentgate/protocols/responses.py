"""The OpenAI Responses API: request parsing, input items -> runner messages, and the rendering
of neutral runner events into Response objects and typed SSE events.

Shapes follow the openai SDK's `types/responses/` (3.57). A stream is
    response.created, response.in_progress,
    per text run:  output_item.added (message), content_part.added (output_text),
                   output_text.delta ..., output_text.done, content_part.done, output_item.done
    per tool call: output_item.added (function_call), function_call_arguments.delta,
                   function_call_arguments.done, output_item.done
    then response.completed | response.incomplete | response.failed (after an `error` event),
each frame `event: <type>` + `data: {"type", "sequence_number", ...}` with sequence numbers from 0
in order: the SDK's `responses.stream()` helper checks that items are added before their parts,
deltas and done events. Deltas leave one frame per runner delta.

Finish reasons map onto statuses: stop / tool_calls -> completed; length -> incomplete
(max_output_tokens); cancelled (cancel or disconnect) -> incomplete; error -> failed.
"""

from __future__ import annotations

import json
import secrets
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator

from agentgate.api.errors import ApiError
from agentgate.protocols.common import load_json_object, parse
from agentgate.protocols.sse import COMMENT_KEEPALIVE, KeepAlive, dumps
from agentgate.runner.events import Error, Finish, TextDelta, ToolCall, Usage
from agentgate.runner.types import ChatMessage

STATUS_INVALID = 400
MAX_METADATA_KEYS = 16
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}
# Runner error codes -> ResponseError.code (a closed set in the SDK's types).
_ERROR_CODES = {"rate_limited": "rate_limit_exceeded"}

Number = Annotated[float, Field(allow_inf_nan=False)]


def _rid(prefix: str) -> str:
    return prefix + secrets.token_hex(24)


def new_message_id() -> str:
    return _rid("msg_")


def new_function_call_id() -> str:
    return _rid("fc_")


def new_output_id() -> str:
    return _rid("fco_")


# ------------------------------------------------------------------------------------- request


class ResponsesRequest(BaseModel):
    # What parse_request refuses beyond the fields' types (400): no input, background, conversation.
    model_config = ConfigDict(extra="ignore", json_schema_extra=lambda schema: (
        schema.update(required=["model", "input"]),
        schema["properties"].update(
            input={"anyOf": [{"type": "string", "minLength": 1}, {"type": "array", "minItems": 1}]},
            background={"anyOf": [{"const": False}, {"type": "null"}]},
            conversation={"type": "null", "description": "not supported: use previous_response_id"})))
    model: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    input: StrictStr | list[dict[str, Any]] | None = None
    instructions: StrictStr | None = None
    stream: StrictBool = False
    temperature: Annotated[Number, Field(ge=0, le=2)] | None = None
    top_p: Annotated[Number, Field(ge=0, le=1)] | None = None
    max_output_tokens: Annotated[StrictInt, Field(ge=1)] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: StrictStr | dict[str, Any] | None = None
    parallel_tool_calls: StrictBool | None = None
    metadata: dict[str, StrictStr] | None = None
    user: Annotated[StrictStr, Field(max_length=256)] | None = None
    store: StrictBool | None = None
    previous_response_id: Annotated[StrictStr, Field(min_length=1, max_length=128)] | None = None
    truncation: Literal["auto", "disabled"] | None = None
    background: StrictBool | None = None
    conversation: Any = None

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, v):
        if v is None:
            return v
        if len(v) > MAX_METADATA_KEYS:
            raise ValueError(f"at most {MAX_METADATA_KEYS} metadata keys are allowed")
        for key, value in v.items():
            if len(key) > 64:
                raise ValueError("metadata keys are at most 64 characters")
            if len(value) > 512:
                raise ValueError("metadata values are at most 512 characters")
        return v

    @field_validator("tool_choice")
    @classmethod
    def _tool_choice(cls, v):
        if isinstance(v, str) and v not in ("auto", "none", "required"):
            raise ValueError("tool_choice must be 'auto', 'none', 'required' or a function")
        if isinstance(v, dict) and not (v.get("type") == "function" and isinstance(v.get("name"), str)):
            raise ValueError('only {"type": "function", "name": ...} is supported as an object tool_choice')
        return v

    @property
    def keep(self) -> bool:
        return self.store is not False

    def echo_params(self) -> dict[str, Any]:
        """What the Response object reports back (and a stored response keeps)."""
        return {"tools": self.tools or [], "tool_choice": self.tool_choice or "auto",
                "temperature": self.temperature, "top_p": self.top_p,
                "max_output_tokens": self.max_output_tokens,
                "parallel_tool_calls": True if self.parallel_tool_calls is None else self.parallel_tool_calls,
                "truncation": self.truncation or "disabled", "store": self.keep, "user": self.user}

    def runner_params(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.temperature is not None:
            out["temperature"] = self.temperature
        if self.top_p is not None:
            out["top_p"] = self.top_p
        if self.max_output_tokens is not None:
            out["max_tokens"] = self.max_output_tokens
        if self.user is not None:
            out["user"] = self.user
        tools = chat_tools(self.tools)
        if tools:
            out["tools"] = tools
            if self.tool_choice is not None:
                out["tool_choice"] = chat_tool_choice(self.tool_choice)
        return out


def parse_request(raw: bytes) -> ResponsesRequest:
    req = parse(ResponsesRequest, load_json_object(raw), STATUS_INVALID)
    if req.background:
        raise ApiError(400, "background responses are not supported; stream instead", param="background")
    if req.conversation is not None:
        raise ApiError(400, "the conversation parameter is not supported; use previous_response_id",
                       param="conversation")
    if req.input is None or req.input == [] or req.input == "":
        raise ApiError(400, "input is required", param="input")
    chat_tools(req.tools)  # refuses unsupported tool kinds before anything runs
    return req


def chat_tools(tools: list[dict] | None) -> list[dict]:
    """Responses function tools -> Chat Completions tools (the runner's shape)."""
    out = []
    for i, tool in enumerate(tools or []):
        if tool.get("type") != "function":
            raise ApiError(400, f"tools[{i}]: only function tools are supported (got {tool.get('type')!r})",
                           param=f"tools[{i}].type")
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise ApiError(400, f"tools[{i}].name is required", param=f"tools[{i}].name")
        function: dict[str, Any] = {"name": name}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        function["parameters"] = tool.get("parameters") if isinstance(tool.get("parameters"), dict) else {
            "type": "object", "properties": {}}
        if isinstance(tool.get("strict"), bool):
            function["strict"] = tool["strict"]
        out.append({"type": "function", "function": function})
    return out


def chat_tool_choice(choice: str | dict) -> str | dict:
    if isinstance(choice, dict):
        return {"type": "function", "function": {"name": choice["name"]}}
    return choice


# ------------------------------------------------------------------------------------- input items


def _bad(message: str, param: str) -> ApiError:
    return ApiError(400, message, param=param)


def _part(part: Any, where: str, assistant: bool) -> dict:
    """One content part, normalized (what is stored and listed)."""
    if not isinstance(part, dict):
        raise _bad(f"{where} must be an object", where)
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text") or (assistant and kind == "refusal"):
        text = part.get("refusal") if kind == "refusal" else part.get("text")
        if not isinstance(text, str):
            raise _bad(f"{where}.text must be a string", f"{where}.text")
        if assistant:
            return {"type": "output_text", "text": text, "annotations": []}
        return {"type": "input_text", "text": text}
    if assistant:
        raise _bad(f"{where}: an assistant message holds output_text parts (got {kind!r})", f"{where}.type")
    if kind == "input_image":
        out = {"type": "input_image", "detail": part.get("detail") or "auto"}
        for key in ("image_url", "file_id"):
            if isinstance(part.get(key), str) and part[key]:
                out[key] = part[key]
        if "image_url" not in out and "file_id" not in out:
            raise _bad(f"{where}: an input_image needs image_url or file_id", where)
        return out
    if kind == "input_file":
        out = {"type": "input_file"}
        for key in ("file_id", "file_data", "file_url", "filename"):
            if isinstance(part.get(key), str) and part[key]:
                out[key] = part[key]
        if not any(k in out for k in ("file_id", "file_data", "file_url")):
            raise _bad(f"{where}: an input_file needs file_id, file_data or file_url", where)
        return out
    raise _bad(f"{where}: content part type {kind!r} is not supported", f"{where}.type")


def normalize_input(value: str | list[dict]) -> list[dict]:
    """The request's input as stored input items, each with an id (400 for what cannot be used).

    Reasoning items (a client may send back what another model produced) are dropped."""
    if isinstance(value, str):
        return [{"id": new_message_id(), "type": "message", "role": "user", "status": "completed",
                 "content": [{"type": "input_text", "text": value}]}]
    items: list[dict] = []
    for i, item in enumerate(value):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise _bad(f"{where} must be an object", where)
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "system", "developer", "assistant"):
                raise _bad(f"{where}.role must be user, system, developer or assistant", f"{where}.role")
            content = item.get("content")
            assistant = role == "assistant"
            if isinstance(content, str):
                parts = [_part({"type": "input_text", "text": content}, where, assistant)]
            elif isinstance(content, list) and content:
                parts = [_part(p, f"{where}.content[{j}]", assistant) for j, p in enumerate(content)]
            else:
                raise _bad(f"{where}.content must be a string or a list of parts", f"{where}.content")
            items.append({"id": item.get("id") if isinstance(item.get("id"), str) else new_message_id(),
                          "type": "message", "role": role, "status": "completed", "content": parts})
        elif kind == "function_call":
            call_id, name, args = item.get("call_id"), item.get("name"), item.get("arguments", "")
            if not isinstance(call_id, str) or not call_id or not isinstance(name, str) or not name:
                raise _bad(f"{where}: a function_call needs call_id and name", where)
            if not isinstance(args, str):
                args = json.dumps(args)
            items.append({"id": item.get("id") if isinstance(item.get("id"), str) else new_function_call_id(),
                          "type": "function_call", "call_id": call_id, "name": name, "arguments": args,
                          "status": "completed"})
        elif kind == "function_call_output":
            call_id, output = item.get("call_id"), item.get("output")
            if not isinstance(call_id, str) or not call_id:
                raise _bad(f"{where}.call_id is required", f"{where}.call_id")
            if isinstance(output, list):
                output = " ".join(str(p.get("text", "")) for p in output if isinstance(p, dict))
            if not isinstance(output, str):
                raise _bad(f"{where}.output must be a string", f"{where}.output")
            items.append({"id": item.get("id") if isinstance(item.get("id"), str) else new_output_id(),
                          "type": "function_call_output", "call_id": call_id, "output": output,
                          "status": "completed"})
        elif kind == "reasoning":
            continue
        elif kind == "item_reference":
            raise _bad(f"{where}: item_reference is not supported; use previous_response_id", f"{where}.type")
        else:
            raise _bad(f"{where}: input item type {kind!r} is not supported", f"{where}.type")
    if not items:
        raise _bad("input holds no message or function_call_output", "input")
    return items


def _runner_content(parts: list[dict]) -> str | list[dict]:
    """Stored parts -> what the turn service takes (a plain string when all text)."""
    if all(p["type"] in ("input_text", "output_text") for p in parts):
        return "".join(p["text"] for p in parts) if len(parts) == 1 else "\n".join(p["text"] for p in parts)
    out: list[dict] = []
    for p in parts:
        kind = p["type"]
        if kind in ("input_text", "output_text"):
            out.append({"type": "text", "text": p["text"]})
        elif kind == "input_image":
            if "file_id" in p:
                out.append({"type": "file", "file": {"file_id": p["file_id"]}})
            else:
                out.append({"type": "image_url", "image_url": {"url": p["image_url"], "detail": p["detail"]}})
        elif kind == "input_file":
            out.append({"type": "file", "file": {k: p[k] for k in ("file_id", "file_data", "file_url", "filename")
                                                 if k in p}})
    return out


def to_messages(items: list[dict]) -> list[ChatMessage]:
    """Stored input / output items -> runner messages; consecutive function calls become one
    assistant message with tool_calls, as Chat Completions carries them."""
    out: list[ChatMessage] = []
    for item in items:
        kind = item.get("type")
        if kind == "message":
            role = item.get("role", "user")
            content = _runner_content(item.get("content") or [])
            if role == "assistant" and isinstance(content, list):
                content = "".join(p.get("text", "") for p in content)
            out.append(ChatMessage(role=role, content=content))
        elif kind == "function_call":
            call = {"id": item["call_id"], "type": "function",
                    "function": {"name": item["name"], "arguments": item.get("arguments") or ""}}
            last = out[-1] if out else None
            if last is not None and last.role == "assistant" and (last.tool_calls or last.content == ""):
                last.tool_calls = [*(last.tool_calls or []), call]
            elif last is not None and last.role == "assistant" and isinstance(last.content, str):
                last.tool_calls = [call]
            else:
                out.append(ChatMessage(role="assistant", content="", tool_calls=[call]))
        elif kind == "function_call_output":
            out.append(ChatMessage(role="tool", content=item.get("output") or "", tool_call_id=item["call_id"]))
    return out


def strip_inline_data(items: list[dict]) -> list[dict]:
    """Inline file bytes are used once, never kept: a stored copy names the file instead."""
    out = []
    for item in items:
        if item.get("type") == "message" and any("file_data" in p for p in item.get("content") or []):
            item = {**item, "content": [
                {"type": "input_text", "text": f"[inline file {p.get('filename') or ''} not kept]".replace("  ", " ")}
                if "file_data" in p else p for p in item["content"]]}
        out.append(item)
    return out


# ------------------------------------------------------------------------------------- output


def usage_dict(usage: Usage | None) -> dict:
    i = usage.input_tokens if usage else 0
    o = usage.output_tokens if usage else 0
    return {"input_tokens": i, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": o, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": i + o}


def usage_from_stored(stored: dict | None) -> dict | None:
    if not stored:
        return None
    return usage_dict(Usage(int(stored.get("input_tokens", 0)), int(stored.get("output_tokens", 0))))


def response_object(*, response_id: str, created_at: int, model: str, status: str, output: list[dict],
                    params: dict, instructions: str | None = None, metadata: dict | None = None,
                    previous_response_id: str | None = None, usage: dict | None = None,
                    error: dict | None = None, incomplete_reason: str | None = None,
                    completed_at: int | None = None) -> dict:
    text = "".join(part.get("text", "") for item in output if item.get("type") == "message"
                   for part in item.get("content") or [] if part.get("type") == "output_text")
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "completed_at": completed_at,
        "error": error,
        "incomplete_details": {"reason": incomplete_reason} if status == "incomplete" else None,
        "instructions": instructions,
        "max_output_tokens": params.get("max_output_tokens"),
        "max_tool_calls": None,
        "model": model,
        "output": output,
        "output_text": text,
        "parallel_tool_calls": params.get("parallel_tool_calls", True),
        "previous_response_id": previous_response_id,
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": params.get("store", True),
        "temperature": params.get("temperature") if params.get("temperature") is not None else 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": params.get("tool_choice") or "auto",
        "tools": params.get("tools") or [],
        "top_p": params.get("top_p") if params.get("top_p") is not None else 1.0,
        "truncation": params.get("truncation") or "disabled",
        "usage": usage,
        "user": params.get("user"),
        "metadata": metadata or {},
    }


def error_dict(error: Error) -> dict:
    return {"code": _ERROR_CODES.get(error.code, "server_error"), "message": error.message}


class ResponseBuilder:
    """Neutral events -> the Response's output items and, when `emit`, its SSE frames.

    `start()` opens the stream; `render(event)` answers the frames for one event (b"" when
    nothing is sent); `finish(reason)` settles the outcome and closes open items (then, on a
    failure, the `error` event); `final()` is the closing frame (response.completed / .incomplete / .failed). `response()` is the Response
    object at any time (the stored and the non-stream answer)."""

    keepalive = COMMENT_KEEPALIVE

    def __init__(self, *, response_id: str, created_at: int, model: str, params: dict,
                 instructions: str | None = None, metadata: dict | None = None,
                 previous_response_id: str | None = None, emit: bool = True):
        self.response_id = response_id
        self.created_at = created_at
        self.model = model
        self.params = params
        self.instructions = instructions
        self.metadata = metadata or {}
        self.previous_response_id = previous_response_id
        self.emit = emit
        self.output: list[dict] = []
        self.status = "in_progress"
        self.usage: Usage | None = None
        self.error: Error | None = None
        self.incomplete_reason: str | None = None
        self.completed_at: int | None = None
        self._seq = 0
        self._message: dict | None = None  # the message item being written
        self._parts: list[str] = []
        self._delta_prefix = b""

    # ---------------------------------------------------------------- objects

    def response(self) -> dict:
        return response_object(
            response_id=self.response_id, created_at=self.created_at, model=self.model, status=self.status,
            output=self.output, params=self.params, instructions=self.instructions, metadata=self.metadata,
            previous_response_id=self.previous_response_id,
            usage=usage_dict(self.usage) if self.status != "in_progress" else None,
            error=error_dict(self.error) if self.status == "failed" and self.error else None,
            incomplete_reason=self.incomplete_reason, completed_at=self.completed_at)

    @property
    def text(self) -> str:
        return self.response()["output_text"]

    # ---------------------------------------------------------------- frames

    def _frame(self, kind: str, body: dict) -> bytes:
        if not self.emit:
            return b""
        seq = self._seq
        self._seq += 1
        return f'event: {kind}\ndata: {{"type":"{kind}","sequence_number":{seq},'.encode() + dumps(body)[1:].encode() \
            + b"\n\n"

    def start(self) -> bytes:
        shell = self.response()
        return self._frame("response.created", {"response": shell}) + \
            self._frame("response.in_progress", {"response": shell})

    def _open_message(self) -> bytes:
        index = len(self.output)
        item = {"id": new_message_id(), "type": "message", "status": "in_progress", "role": "assistant",
                "content": []}
        self._message = item
        self._parts = []
        self.output.append(item)
        out = self._frame("response.output_item.added", {"output_index": index, "item": dict(item, content=[])})
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        out += self._frame("response.content_part.added", {"item_id": item["id"], "output_index": index,
                                                           "content_index": 0, "part": part})
        self._delta_prefix = (
            'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
            f'"item_id":"{item["id"]}","output_index":{index},"content_index":0,"logprobs":[],"delta":'
        ).encode()
        return out

    def _close_message(self, status: str = "completed") -> bytes:
        item = self._message
        if item is None:
            return b""
        self._message = None
        index = self.output.index(item)
        text = "".join(self._parts)
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        item["content"] = [part]
        item["status"] = status
        where = {"item_id": item["id"], "output_index": index, "content_index": 0}
        return (self._frame("response.output_text.done", {**where, "text": text, "logprobs": []})
                + self._frame("response.content_part.done", {**where, "part": part})
                + self._frame("response.output_item.done", {"output_index": index, "item": item}))

    def render(self, event) -> bytes:
        kind = type(event)
        if kind is TextDelta:
            out = self._open_message() if self._message is None else b""
            self._parts.append(event.text)
            if not self.emit:
                return b""
            seq = self._seq
            self._seq += 1
            return out + self._delta_prefix + dumps(event.text).encode() + b',"sequence_number":%d}\n\n' % seq
        if kind is ToolCall:
            out = self._close_message()
            index = len(self.output)
            item = {"id": new_function_call_id(), "type": "function_call", "status": "in_progress",
                    "call_id": event.id, "name": event.name, "arguments": ""}
            self.output.append(item)
            out += self._frame("response.output_item.added", {"output_index": index, "item": dict(item)})
            where = {"item_id": item["id"], "output_index": index}
            if event.arguments:
                out += self._frame("response.function_call_arguments.delta", {**where, "delta": event.arguments})
            item["arguments"] = event.arguments
            item["status"] = "completed"
            out += self._frame("response.function_call_arguments.done",
                               {**where, "name": event.name, "arguments": event.arguments})
            return out + self._frame("response.output_item.done", {"output_index": index, "item": item})
        if kind is KeepAlive:
            return self.keepalive if self.emit else b""
        if kind is Usage:
            self.usage = event
            return b""
        if kind is Error:  # sent by finish(), after the open items are closed
            self.error = event
        return b""

    def finish(self, reason: str, completed_at: int) -> bytes:
        """Settle the status from the Finish reason; answers the frames that close open items."""
        self.completed_at = completed_at
        if reason == "error" or self.error is not None:
            self.status = "failed"
            if self.error is None:
                self.error = Error("the model failed")
        elif reason in _INCOMPLETE or reason == "cancelled":
            self.status = "incomplete"
            self.incomplete_reason = _INCOMPLETE.get(reason)
        else:
            self.status = "completed"
        out = self._close_message("completed" if self.status == "completed" else "incomplete")
        if self.status == "failed":
            out += self._frame("error", {"code": self.error.code, "message": self.error.message, "param": None})
        return out

    def final(self) -> bytes:
        kind = {"completed": "response.completed", "incomplete": "response.incomplete"}.get(
            self.status, "response.failed")
        return self._frame(kind, {"response": self.response()})


def stored_usage(usage: Usage | None) -> dict | None:
    return {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens} if usage else None


# ------------------------------------------------------------------------------------- lists


def input_items_page(items: list[dict], *, order: str, limit: int, after: str | None) -> dict:
    """GET /v1/responses/{id}/input_items: a cursor page of the response's input items."""
    ordered = list(items) if order == "asc" else list(reversed(items))
    if after:
        ids = [i.get("id") for i in ordered]
        if after not in ids:
            raise ApiError(400, f"no input item with id {after!r} in this response", param="after")
        ordered = ordered[ids.index(after) + 1:]
    page = ordered[:limit]
    return {"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None, "has_more": len(ordered) > limit}


def deleted(response_id: str) -> dict:
    return {"id": response_id, "object": "response.deleted", "deleted": True}
