"""Coze OpenAPI chat v3: request parsing, Chat and Message objects, the SSE event stream, and the
envelope. cozepy is the reference client (its chat module parses exactly these shapes).

Seed 002 adds `query`, `chat_history` and `parameters` to the request, a `conversation_id` in the
body, and `{conversation_id, message{...}}` in the non-stream answer: all are served too.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator, model_validator

from agentgate import jsonlimits
from agentgate.ids import new_id, now_s
from agentgate.ids import coerce_id
from agentgate.api.errors import ApiError
from agentgate.api.openapi import NOT_BLANK
from agentgate.protocols.common import load_json_object, parse
from agentgate.protocols.sse import BLANK_KEEPALIVE, KeepAlive, dumps, event_frame
from agentgate.runner.events import Error, Finish, Recall, ServerToolCall, ServerToolResult, TextDelta, ToolCall, Usage

STATUS_INVALID = 422  # seed 002: 参数错误 -> 422
MAX_ADDITIONAL_MESSAGES = 100
MAX_META_PAIRS = 16
DONE = b"event: done\ndata: [DONE]\n\n"  # cozepy ignores done's data; seed 002's readers test == "[DONE]"
CANCELED_CODE = 499  # last_error.code of a canceled chat (codes follow seed 002's HTTP-status table)
DISCONNECTED_CODE = 499

IdValue = StrictStr | StrictInt
MetaKey = Annotated[StrictStr, Field(min_length=1, max_length=64)]
MetaValue = Annotated[StrictStr, Field(max_length=512)]
MetaData = Annotated[dict[MetaKey, MetaValue], Field(json_schema_extra={
    "maxProperties": MAX_META_PAIRS, "propertyNames": {"minLength": 1, "maxLength": 64}})]

_OBJECT_TYPES = ("text", "file", "image", "audio")


def _check_meta(value: dict | None) -> dict | None:
    if value is not None and len(value) > MAX_META_PAIRS:
        raise ValueError(f"at most {MAX_META_PAIRS} key-value pairs are allowed")
    return value


def parse_object_string(content: str) -> list[dict]:
    """An object_string content: a JSON list of {type: text|file|image|audio, text|file_id|file_url}."""
    try:
        items = jsonlimits.loads(content)
    except jsonlimits.JsonTooDeep as exc:
        raise ValueError(f"an object_string content is {exc}") from None
    except ValueError:
        raise ValueError("an object_string content must be a JSON list of objects") from None
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise ValueError("an object_string content must be a non-empty JSON list of objects")
    for item in items:
        kind = item.get("type")
        if kind not in _OBJECT_TYPES:
            raise ValueError(f"object_string item type must be one of {', '.join(_OBJECT_TYPES)}")
        if kind == "text" and not isinstance(item.get("text"), str):
            raise ValueError("an object_string text item needs a text string")
        if kind != "text" and not (item.get("file_id") or item.get("file_url")):
            raise ValueError(f"an object_string {kind} item needs file_id or file_url")
    return items


class InMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["user", "assistant"]
    type: Literal["question", "answer", "function_call", "tool_output", "tool_response", "follow_up",
                  "verbose", ""] | None = None
    content: StrictStr = ""
    content_type: Literal["text", "object_string"] = "text"
    meta_data: MetaData | None = None

    @field_validator("meta_data")
    @classmethod
    def _meta(cls, v):
        return _check_meta(v)

    @model_validator(mode="after")
    def _valid_content(self):
        if self.content_type == "object_string":
            parse_object_string(self.content)
        elif self.role == "user" and not self.content.strip():
            raise ValueError("a user message needs content")
        return self

    @property
    def message_type(self) -> str:
        return self.type or ("question" if self.role == "user" else "answer")


class HistoryMessage(BaseModel):
    """Seed 002's chat_history items: prior turns the caller supplies (not stored)."""

    model_config = ConfigDict(extra="ignore")
    role: Literal["user", "assistant", "system"]
    content: StrictStr
    content_type: Literal["text", "object_string"] = "text"


class ChatRequest(BaseModel):
    # _has_input, stated: a message to answer, in additional_messages or query.
    model_config = ConfigDict(extra="ignore", json_schema_extra={"anyOf": [
        {"required": ["additional_messages"], "properties": {"additional_messages": {"minItems": 1}}},
        {"required": ["query"], "properties": {"query": {"type": "string", "pattern": NOT_BLANK}}}]})
    bot_id: IdValue
    user_id: IdValue | None = None
    stream: StrictBool = False
    additional_messages: Annotated[list[InMessage], Field(max_length=MAX_ADDITIONAL_MESSAGES)] | None = None
    custom_variables: dict[StrictStr, StrictStr] | None = None
    auto_save_history: StrictBool = True
    meta_data: MetaData | None = None
    query: StrictStr | None = None
    chat_history: Annotated[list[HistoryMessage], Field(max_length=MAX_ADDITIONAL_MESSAGES)] | None = None
    parameters: dict[StrictStr, Any] | None = None
    conversation_id: IdValue | None = None

    @field_validator("bot_id", "user_id", "conversation_id", mode="before")
    @classmethod
    def _ids(cls, v):
        return coerce_id(v)

    @field_validator("meta_data")
    @classmethod
    def _meta(cls, v):
        return _check_meta(v)

    @field_validator("bot_id")
    @classmethod
    def _bot_id(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("bot id is required")
        return v

    @model_validator(mode="after")
    def _has_input(self):
        if not self.additional_messages and not (self.query and self.query.strip()):
            raise ValueError("additional_messages (or query) must hold at least one message")
        return self


def parse_chat_request(raw: bytes) -> ChatRequest:
    body = load_json_object(raw)
    if body.get("bot_id") is None or (isinstance(body["bot_id"], str) and not body["bot_id"].strip()):
        # seed 002's own words for it (its error table: 422 "bot id is required")
        raise ApiError(STATUS_INVALID, "bot id is required", param="bot_id")
    return parse(ChatRequest, body, STATUS_INVALID)


# ------------------------------------------------------------------------------------- objects


def _drop_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def chat_object(*, chat_id: str, conversation_id: str, bot_id: str, status: str, created_at: int,
                completed_at: int | None = None, failed_at: int | None = None, meta_data: dict | None = None,
                last_error: dict | None = None, usage: dict | None = None, section_id: str | None = None,
                required_action: dict | None = None) -> dict:
    return _drop_none({
        "id": chat_id, "conversation_id": conversation_id, "bot_id": bot_id, "created_at": created_at,
        "completed_at": completed_at, "failed_at": failed_at, "meta_data": dict(meta_data or {}),
        "last_error": last_error or {"code": 0, "msg": ""}, "status": status,
        "required_action": required_action, "usage": usage, "section_id": section_id,
    })


def _plain(value) -> dict | None:
    if value is None:
        return None
    as_dict = getattr(value, "as_dict", None)
    return as_dict() if callable(as_dict) else dict(value)


def chat_from_model(chat) -> dict:
    """A stored Chat (store.conversations.Chat) as Coze's Chat object."""
    last_error = _plain(chat.last_error)
    if last_error:
        last_error = {"code": int(last_error.get("code") or 0), "msg": str(last_error.get("msg") or "")}
    usage = _plain(chat.usage)
    if usage:
        usage = {k: int(usage.get(k) or 0) for k in ("token_count", "output_count", "input_count")}
    return chat_object(chat_id=chat.chat_id, conversation_id=chat.conversation_id, bot_id=chat.bot_id,
                       status=chat.status, created_at=int(chat.created_at),
                       completed_at=int(chat.completed_at) if chat.completed_at else None,
                       failed_at=int(chat.failed_at) if chat.failed_at else None,
                       meta_data=_plain(chat.meta_data), last_error=last_error, usage=usage,
                       section_id=chat.section_id, required_action=_plain(chat.required_action))


def message_object(*, message_id: str, conversation_id: str, bot_id: str | None, chat_id: str | None, role: str,
                   type: str, content: str, content_type: str = "text", meta_data: dict | None = None,
                   created_at: int | None = None, updated_at: int | None = None,
                   section_id: str | None = None) -> dict:
    return _drop_none({
        "id": message_id, "conversation_id": conversation_id, "bot_id": bot_id, "chat_id": chat_id,
        "section_id": section_id, "role": role, "type": type, "content": content, "content_type": content_type,
        "meta_data": dict(meta_data or {}), "created_at": created_at, "updated_at": updated_at,
    })


def message_from_model(msg) -> dict:
    return message_object(message_id=msg.message_id, conversation_id=msg.conversation_id, bot_id=msg.bot_id,
                          chat_id=msg.chat_id, role=msg.role, type=msg.type, content=msg.content,
                          content_type=msg.content_type, meta_data=_plain(msg.meta_data),
                          created_at=int(msg.created_at), updated_at=int(msg.updated_at),
                          section_id=msg.section_id)


def usage_dict(usage: Usage | None) -> dict:
    i = usage.input_tokens if usage else 0
    o = usage.output_tokens if usage else 0
    return {"token_count": i + o, "output_count": o, "input_count": i}


def recall_content(hits) -> str:
    """A verbose message's content for a knowledge recall, as Coze sends it (msg_type
    knowledge_recall; `data` a JSON string of {chunks: [{slice, score, meta}]})."""
    chunks = [{"slice": h["text"], "score": h["score"],
               "meta": {"dataset": {"id": h["knowledge_id"]},
                        "document": {"id": h["document_id"], "name": h["document_name"]},
                        "link": {"title": h["document_name"], "url": ""}}} for h in hits]
    return json.dumps({"msg_type": "knowledge_recall", "data": json.dumps({"chunks": chunks}, ensure_ascii=False),
                       "from_module": None, "from_unit": None}, ensure_ascii=False)


def envelope(data: Any) -> dict:
    return {"code": 0, "msg": "", "data": data}


def error_event(code: int, msg: str) -> bytes:
    return event_frame("error", {"code": code, "msg": msg})


def final_status(finish_reason: str, error: Error | None, disconnected: bool = False) -> tuple[str, dict | None]:
    """(chat status, last_error) for how a turn ended."""
    if finish_reason == "cancelled":
        if disconnected:
            return "failed", {"code": DISCONNECTED_CODE, "msg": "the client disconnected; the partial answer is kept"}
        return "canceled", {"code": CANCELED_CODE, "msg": "chat canceled"}
    if error is not None or finish_reason == "error":
        status = error.status if error else 502
        return "failed", {"code": int(status), "msg": error.message if error else "the model failed"}
    return "completed", None


class StreamRenderer:
    """Neutral events -> Coze chat v3 SSE events (see cozepy.chat._chat_stream_handler).

    start(): conversation.chat.created, conversation.chat.in_progress. Each TextDelta: one
    conversation.message.delta. Finish: conversation.message.completed (the whole answer, also a
    partial one), then conversation.chat.completed, or .failed with last_error (a canceled chat is
    .failed with status "canceled"), then done. An Error after the first byte is an `error` event
    ({code, msg}; cozepy raises on it) before those.
    """

    keepalive = BLANK_KEEPALIVE  # cozepy's line parser raises on SSE comments

    def __init__(self, *, chat_id: str, conversation_id: str, bot_id: str, answer_id: str, created_at: int,
                 section_id: str | None = None, meta_data: dict | None = None, is_disconnected=None,
                 typed_completion: bool = True):
        # typed_completion=False (seed 002's `query` form): the completed message carries no "type",
        # as seed 002 shows it, so its clients' `if event.get('type') == 'answer': print(content)`
        # prints the deltas once, not the whole answer again.
        self.typed_completion = typed_completion
        self.chat = {"chat_id": chat_id, "conversation_id": conversation_id, "bot_id": bot_id,
                     "created_at": created_at, "section_id": section_id, "meta_data": meta_data}
        self._answer = {"message_id": answer_id, "conversation_id": conversation_id, "bot_id": bot_id,
                        "chat_id": chat_id, "section_id": section_id, "role": "assistant", "type": "answer"}
        head = dumps(message_object(**self._answer, content=""))
        # {... "content":"" ...}: split around the content value, encode only the delta per event.
        marker = '"content":""'
        at = head.index(marker) + len('"content":')
        self._delta_prefix = b"event: conversation.message.delta\ndata: " + head[:at].encode()
        self._delta_suffix = head[at + 2:].encode() + b"\n\n"
        self._parts: list[str] = []
        self._usage: Usage | None = None
        self._error: Error | None = None
        self.is_disconnected = is_disconnected or (lambda: False)

    def _chat(self, status: str, **extra) -> dict:
        return chat_object(status=status, **self.chat, **extra)

    def start(self) -> bytes:
        return (event_frame("conversation.chat.created", self._chat("created"))
                + event_frame("conversation.chat.in_progress", self._chat("in_progress")))

    def render(self, event) -> bytes:
        kind = type(event)
        if kind is TextDelta:
            self._parts.append(event.text)
            return self._delta_prefix + dumps(event.text).encode() + self._delta_suffix
        if kind is KeepAlive:
            return self.keepalive
        if kind is Usage:
            self._usage = event
            return b""
        if kind is Error:
            self._error = event
            return error_event(int(event.status), event.message)
        if kind is ToolCall:
            return b""  # Coze bots have no client-side tools yet (requires_action is never reached)
        if kind is ServerToolCall or kind is ServerToolResult:
            return self.tool_step(event)
        if kind is Finish:
            return self.finish(event.reason)
        if kind is Recall:  # the knowledge retrieved before the model ran: a verbose message
            now = now_s()
            verbose = {**self._answer, "message_id": new_id(), "type": "verbose"}
            return event_frame("conversation.message.completed",
                               message_object(**verbose, content=recall_content(event.hits), created_at=now,
                                              updated_at=now))
        return b""

    def tool_step(self, event) -> bytes:
        """A bot's own tool call and its result, as Coze shows them: function_call and
        tool_response messages (completed at once; they are not streamed)."""
        now = now_s()
        if type(event) is ServerToolCall:
            content, kind = dumps({"name": event.name, "arguments": event.arguments}), "function_call"
        else:
            content, kind = event.output, "tool_response"
        fields = {**self._answer, "message_id": event.message_id or self._answer["message_id"], "type": kind}
        return event_frame("conversation.message.completed",
                           message_object(**fields, content=content, created_at=now, updated_at=now))

    def finish(self, reason: str) -> bytes:
        now = now_s()
        status, last_error = final_status(reason, self._error, self.is_disconnected())
        out = b""
        text = "".join(self._parts)
        if text or status == "completed":
            completed = message_object(**self._answer, content=text, created_at=now, updated_at=now)
            if not self.typed_completion:
                completed.pop("type", None)
            out += event_frame("conversation.message.completed", completed)
        if status == "completed":
            out += event_frame("conversation.chat.completed",
                               self._chat("completed", completed_at=now, usage=usage_dict(self._usage)))
        else:
            stamp = {"failed_at": now} if status == "failed" else {"completed_at": now}
            out += event_frame("conversation.chat.failed",
                               self._chat(status, last_error=last_error, usage=usage_dict(self._usage), **stamp))
        return out + DONE
