"""AIFlowy external bot chat (seed 004): POST /api/v1/aiBot/externalChat {botId, messages, stream}.

Blocking: {status: "END", usage{completionTokens, promptTokens, totalTokens}, created (ms),
choices{index, message{content, role}}}. Streaming: `data:` frames {status: START|MIDDLE|END,
created, choices{index, delta{content, role}}}: START carries the first delta, MIDDLE the next
ones, END closes the answer (with an empty delta: each delta leaves as it arrives, none is held
back to ride on END). A failure after the first byte is an ERROR frame {errorCode, message}
followed by END.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator

from agentgate.ids import now_ms
from agentgate.ids import coerce_id
from agentgate.protocols.common import load_json_object, parse
from agentgate.protocols.sse import COMMENT_KEEPALIVE, KeepAlive, data_frame, dumps
from agentgate.runner.events import Error, Finish, TextDelta, Usage
from agentgate.runner.types import ChatMessage

STATUS_INVALID = 400


class InMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant"]
    content: StrictStr | list[dict[str, Any]]


class ExternalChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    botId: StrictStr | StrictInt
    messages: Annotated[list[InMessage], Field(min_length=1)]
    stream: StrictBool = False

    @field_validator("botId", mode="before")
    @classmethod
    def _id(cls, v):
        return coerce_id(v)

    @field_validator("botId")
    @classmethod
    def _nonblank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("botId is required")
        return v

    def chat_messages(self) -> list[ChatMessage]:
        return [ChatMessage(role=m.role, content=m.content) for m in self.messages]


def parse_request(raw: bytes) -> ExternalChatRequest:
    return parse(ExternalChatRequest, load_json_object(raw), STATUS_INVALID)


def usage_dict(usage: Usage | None) -> dict:
    i = usage.input_tokens if usage else 0
    o = usage.output_tokens if usage else 0
    return {"completionTokens": o, "promptTokens": i, "totalTokens": i + o}


def blocking(text: str, usage: Usage | None, created_ms: int | None = None) -> dict:
    return {"status": "END", "usage": usage_dict(usage), "created": created_ms or now_ms(),
            "choices": {"index": 0, "message": {"content": text, "role": "assistant"}}}


def frame(status: str, content: str, created_ms: int | None = None) -> dict:
    return {"status": status, "created": created_ms or now_ms(),
            "choices": {"index": 0, "delta": {"content": content, "role": "assistant"}}}


class StreamRenderer:
    keepalive = COMMENT_KEEPALIVE

    def __init__(self):
        self._started = False
        self._usage: Usage | None = None
        self._failed = False

    def start(self) -> bytes:
        return b""  # START rides on the first delta

    def render(self, event) -> bytes:
        kind = type(event)
        if kind is TextDelta:
            status = "MIDDLE" if self._started else "START"
            self._started = True
            return (b'data: {"status":"' + status.encode() + b'","created":' + str(now_ms()).encode()
                    + b',"choices":{"index":0,"delta":{"content":' + dumps(event.text).encode()
                    + b',"role":"assistant"}}}\n\n')
        if kind is KeepAlive:
            return self.keepalive
        if kind is Usage:
            self._usage = event
            return b""
        if kind is Error:
            self._failed = True
            return data_frame({"status": "ERROR", "errorCode": int(event.status), "message": event.message,
                               "created": now_ms()})
        if kind is Finish:
            end = frame("END", "")
            end["usage"] = usage_dict(self._usage)
            return data_frame(end)
        return b""
