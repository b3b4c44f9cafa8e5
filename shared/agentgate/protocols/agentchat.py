"""AgentChat's chat (seed 001): POST /api/v1/chat {user_input, dialog_id, file_url?}, streamed.

Request (JSON): `user_input` (required, non-blank text), `dialog_id` (required: a Coze
conversation id of the caller's owner, made by POST /v1/conversation/create with a bot; the
conversation's bot answers; unknown or someone else's -> 404), `file_url` (optional: the signed
URL POST /api/v1/upload returned, or an external image URL). The key comes as
`Authorization: Bearer <key>`. The turn continues the conversation (the bot's memory window) and
stores the question and the answer like a Coze chat (they show in /v1/conversation/message/list);
a question with a file is stored as object_string [{"type": "text", "text": user_input},
{"type": "file", "file_url": file_url}] and the file is re-read on later turns.

Response: `text/event-stream`, one `data: <json>` line (and a blank line) per frame, no `event:`
names, so a plain SSE reader (or `for line in r.iter_lines()`, as seed 001's example does) can
use each line on its own:

    data: {"type": "response_chunk", "data": {"chunk": "<delta>"}}          one per model delta
    data: {"type": "error", "data": {"status_code": 502, "status_message": "..."}}
                                                                            a failure mid-answer
    data: {"type": "response_end", "data": {"dialog_id", "chat_id", "message_id",
           "content": "<the whole answer>", "accumulated": "<the same>",
           "finish_reason": "stop"|"length"|"error"|"cancelled", "usage": {"prompt_tokens",
           "completion_tokens", "total_tokens"}}}                           always last

A chunk carries only its delta (not the accumulated text, which would make the stream grow with
the square of the answer); response_end carries the whole answer. Keep-alives are SSE comments
(`: keep-alive`). Errors before the first byte are seed 001's UnifiedResponseModel with the HTTP
status: `{"status_code": 404, "status_message": "...", "data": null}` (agentgate.api.errors).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

from agentgate.ids import coerce_id
from agentgate.protocols.common import load_json_object, parse
from agentgate.protocols.sse import COMMENT_KEEPALIVE, KeepAlive, data_frame, dumps
from agentgate.runner.events import Error, Finish, TextDelta, Usage

STATUS_INVALID = 422  # FastAPI's answer to a body that does not validate (seed 001 is FastAPI)
MAX_FILE_URL = 8192


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    user_input: StrictStr
    dialog_id: Annotated[StrictStr, Field(min_length=1, max_length=64)] | StrictInt
    file_url: Annotated[StrictStr, Field(max_length=MAX_FILE_URL)] | None = None

    @field_validator("dialog_id", mode="before")
    @classmethod
    def _id(cls, v):
        return coerce_id(v)

    @field_validator("user_input")
    @classmethod
    def _input(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("user_input must not be blank")
        return v

    @field_validator("dialog_id")
    @classmethod
    def _dialog(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("dialog_id must not be blank")
        return v.strip()

    @field_validator("file_url")
    @classmethod
    def _file_url(cls, v: str | None) -> str | None:
        return v.strip() or None if isinstance(v, str) else v

    def items(self) -> list[dict[str, Any]] | None:
        """The question as object_string items when a file comes with it, else None (plain text)."""
        if not self.file_url:
            return None
        return [{"type": "text", "text": self.user_input}, {"type": "file", "file_url": self.file_url}]


def parse_request(raw: bytes) -> ChatRequest:
    return parse(ChatRequest, load_json_object(raw), STATUS_INVALID)


def usage_dict(usage: Usage | None) -> dict:
    i = usage.input_tokens if usage else 0
    o = usage.output_tokens if usage else 0
    return {"prompt_tokens": i, "completion_tokens": o, "total_tokens": i + o}


class StreamRenderer:
    """Neutral events -> the frames above, one per event as it comes."""

    keepalive = COMMENT_KEEPALIVE
    _CHUNK_PREFIX = b'data: {"type":"response_chunk","data":{"chunk":'
    _CHUNK_SUFFIX = b"}}\n\n"

    def __init__(self, *, dialog_id: str, chat_id: str | None, message_id: str):
        self.ids = {"dialog_id": dialog_id, "chat_id": chat_id, "message_id": message_id}
        self._parts: list[str] = []
        self._usage: Usage | None = None

    def start(self) -> bytes:
        return b""

    def render(self, event) -> bytes:
        kind = type(event)
        if kind is TextDelta:
            self._parts.append(event.text)
            return self._CHUNK_PREFIX + dumps(event.text).encode() + self._CHUNK_SUFFIX
        if kind is KeepAlive:
            return self.keepalive
        if kind is Usage:
            self._usage = event
            return b""
        if kind is Error:
            return data_frame({"type": "error",
                               "data": {"status_code": int(event.status), "status_message": event.message}})
        if kind is Finish:
            text = "".join(self._parts)
            return data_frame({"type": "response_end",
                               "data": {**self.ids, "content": text, "accumulated": text,
                                        "finish_reason": event.reason, "usage": usage_dict(self._usage)}})
        return b""
