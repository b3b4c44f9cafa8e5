"""OpenAI Chat Completions: request parsing, chat.completion and chat.completion.chunk rendering,
the models list, and the error shape (in api.errors).

Seed 000 (`sessionId`) and seed 003 (`thread_id`) extend the request with a memory key.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator, model_validator

from agentgate.protocols.common import load_json_object, parse
from agentgate.protocols.sse import COMMENT_KEEPALIVE, KeepAlive, data_frame, dumps
from agentgate.runner.events import Error, Finish, Recall, TextDelta, ToolCall, Usage
from agentgate.runner.types import ChatMessage

STATUS_INVALID = 400  # OpenAI answers every malformed request with 400
ROLES = ("system", "developer", "user", "assistant", "tool")
DONE = b"data: [DONE]\n\n"
_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "cancelled": "stop",
           "content_filter": "content_filter"}
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 413: "invalid_request_error", 422: "invalid_request_error",
                429: "rate_limit_error"}

Number = Annotated[float, Field(allow_inf_nan=False)]


_CONTENT = {"required": ["content"], "properties": {"content": {"not": {"type": "null"}}}}
_IN_MESSAGE_RULES = {"allOf": [  # what _content_present checks, stated
    {"if": {"required": ["role"], "properties": {"role": {"const": "assistant"}}},
     "then": {"anyOf": [_CONTENT, {"required": ["tool_calls"], "properties": {"tool_calls": {"minItems": 1}}}]},
     "else": _CONTENT},
    {"if": {"required": ["role"], "properties": {"role": {"const": "tool"}}},
     "then": {"required": ["tool_call_id"], "properties": {"tool_call_id": {"minLength": 1}}}},
]}


class InMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", json_schema_extra=_IN_MESSAGE_RULES)
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: StrictStr | list[dict[str, Any]] | None = None
    name: StrictStr | None = None
    tool_call_id: StrictStr | None = None
    tool_calls: list[dict[str, Any]] | None = None

    @model_validator(mode="after")
    def _content_present(self):
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise ValueError(f"a {self.role} message needs content")
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs tool_call_id")
        if isinstance(self.content, list):
            for part in self.content:
                kind = part.get("type")
                if not isinstance(kind, str):
                    raise ValueError("every content part needs a type")
                if kind == "text" and not isinstance(part.get("text"), str):
                    raise ValueError("a text part needs a text string")
        return self


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: StrictBool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    # "default" or absent: the key's default bot (seed 000's binding `match.default`)
    model: Annotated[StrictStr, Field(min_length=1, max_length=256)] = "default"
    messages: Annotated[list[InMessage], Field(min_length=1)]
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    temperature: Annotated[Number, Field(ge=0, le=2)] | None = None
    top_p: Annotated[Number, Field(ge=0, le=1)] | None = None
    max_tokens: Annotated[StrictInt, Field(ge=1)] | None = None
    max_completion_tokens: Annotated[StrictInt, Field(ge=1)] | None = None
    stop: StrictStr | Annotated[list[StrictStr], Field(max_length=4)] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: StrictStr | dict[str, Any] | None = None
    user: StrictStr | None = None
    n: StrictInt | None = None
    # memory extensions: seed 000 and seed 003
    sessionId: Annotated[StrictStr, Field(min_length=1, max_length=256)] | None = None
    thread_id: StrictInt | Annotated[StrictStr, Field(min_length=1, max_length=256)] | None = None

    @field_validator("n")
    @classmethod
    def _one_choice(cls, v):
        if v is not None and v != 1:
            raise ValueError("only n=1 is supported")
        return v

    @property
    def session_key(self) -> str | None:
        if self.sessionId is not None:
            return self.sessionId
        if self.thread_id is not None:
            return str(self.thread_id)
        return None

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    def params(self) -> dict[str, Any]:
        """Per-request overrides for the runner (None = not given)."""
        out: dict[str, Any] = {}
        for key in ("temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "tools", "tool_choice",
                    "user"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if "max_tokens" not in out and "max_completion_tokens" in out:
            out["max_tokens"] = out["max_completion_tokens"]
        out.pop("max_completion_tokens", None)
        return out

    def chat_messages(self) -> list[ChatMessage]:
        return [ChatMessage(role=m.role, content=m.content if m.content is not None else "", name=m.name,
                            tool_call_id=m.tool_call_id, tool_calls=m.tool_calls) for m in self.messages]


def parse_request(raw: bytes) -> ChatCompletionRequest:
    return parse(ChatCompletionRequest, load_json_object(raw), STATUS_INVALID)


def new_completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


def usage_dict(usage: Usage | None) -> dict:
    i = usage.input_tokens if usage else 0
    o = usage.output_tokens if usage else 0
    return {"prompt_tokens": i, "completion_tokens": o, "total_tokens": i + o}


def error_object(message: str, status: int, code: Any = None) -> dict:
    return {"message": message,
            "type": _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error"),
            "param": None, "code": code if code is not None else status}


def tool_call_dict(call: ToolCall) -> dict:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def completion(*, completion_id: str, model: str, created: int, text: str, tool_calls: list[ToolCall],
               finish_reason: str, usage: Usage | None, recall: Recall | None = None) -> dict:
    """A whole chat.completion (the non-stream answer); `knowledge` (an extension standard
    clients ignore) lists the passages retrieved for a bot with knowledge."""
    message: dict[str, Any] = {"role": "assistant", "content": text if (text or not tool_calls) else None}
    if tool_calls:
        message["tool_calls"] = [tool_call_dict(c) for c in tool_calls]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": _FINISH.get(finish_reason, "stop")}],
        "usage": usage_dict(usage),
        **({"knowledge": list(recall.hits)} if recall is not None else {}),
    }


class StreamRenderer:
    """Neutral events -> chat.completion.chunk frames, one frame per event as it comes.

    start() opens the stream (the role chunk); a TextDelta is one content chunk; Finish sends the
    finish_reason chunk, the usage chunk when asked, then [DONE]. An Error after the first byte
    becomes `data: {"error": {...}}` and the stream still ends with [DONE] (the SDK raises on it).
    """

    keepalive = COMMENT_KEEPALIVE

    def __init__(self, *, completion_id: str, model: str, created: int, include_usage: bool = False):
        self.include_usage = include_usage
        self._base = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model}
        head = dumps(self._base)[:-1]  # without the closing brace
        # A content chunk is this prefix, the JSON text, this suffix: one dumps of a string per delta.
        self._delta_prefix = f'data: {head},"choices":[{{"index":0,"delta":{{"content":'.encode()
        self._delta_suffix = b'},"logprobs":null,"finish_reason":null}]}\n\n'
        self._usage: Usage | None = None
        self._failed = False
        self._tool_index = 0

    def _chunk(self, delta: dict, finish_reason: str | None = None) -> bytes:
        return data_frame({**self._base, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                                      "finish_reason": finish_reason}]})

    def start(self) -> bytes:
        return self._chunk({"role": "assistant", "content": ""})

    def render(self, event) -> bytes:
        kind = type(event)
        if kind is TextDelta:
            return self._delta_prefix + dumps(event.text).encode() + self._delta_suffix
        if kind is KeepAlive:
            return self.keepalive
        if kind is ToolCall:
            index = self._tool_index
            self._tool_index += 1
            return self._chunk({"tool_calls": [{"index": index, **tool_call_dict(event)}]})
        if kind is Usage:
            self._usage = event
            return b""
        if kind is Error:
            self._failed = True
            return data_frame({"error": error_object(event.message, event.status, event.code)})
        if kind is Recall:  # sources first: an empty delta with the `knowledge` extension field
            return data_frame({**self._base, "choices": [{"index": 0, "delta": {}, "logprobs": None,
                                                          "finish_reason": None}], "knowledge": list(event.hits)})
        if kind is Finish:
            if self._failed or event.reason == "error":
                return DONE
            # seed 000: the last chunk carries an empty content beside its finish_reason, so a loop
            # printing delta.content prints nothing (not None).
            out = self._chunk({"content": ""}, _FINISH.get(event.reason, "stop"))
            if self.include_usage:
                out += data_frame({**self._base, "choices": [], "usage": usage_dict(self._usage)})
            return out + DONE
        return b""


def models_list(bots) -> dict:
    """GET /v1/models: each published bot once by id, and once per alias."""
    data = []
    for bot in bots:
        created = int(bot.published_at or bot.updated_at or 0)
        if created > 10**11:  # milliseconds
            created //= 1000
        for name in [bot.bot_id, *list(bot.aliases or [])]:
            data.append({"id": name, "object": "model", "created": created, "owned_by": bot.owner_id,
                         "name": bot.name, "bot_id": bot.bot_id})
    return {"object": "list", "data": data}

