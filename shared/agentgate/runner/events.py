"""The neutral event stream out of the runner: every protocol renders these, none calls a model.

A turn yields any number of TextDelta / ToolCall, then at most one Usage, then exactly one Finish.
With server-side tools (runner.tool_loop), ServerToolCall / ServerToolResult pairs come between
the model's rounds; renderers that do not show tool chatter ignore them.
A failure yields Error and then Finish(reason="error"); what was produced before it stays valid.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as OpenAI sends it


@dataclass(frozen=True, slots=True)
class ServerToolCall:
    """The model called a server-side tool, which runs here (not the client's to answer)."""

    id: str
    name: str
    arguments: str
    message_id: str = ""  # set by the chat service when it stores the call


@dataclass(frozen=True, slots=True)
class ServerToolResult:
    """What a server-side tool answered (fed back to the model); ok=False: the call failed."""

    id: str
    name: str
    output: str
    ok: bool = True
    message_id: str = ""


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int
    output_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class Finish:
    reason: str = "stop"  # stop | length | tool_calls | cancelled | error


@dataclass(frozen=True, slots=True)
class Error:
    message: str
    code: str = "upstream_error"  # upstream_error | upstream_timeout | bad_request | ...
    status: int = 502  # the HTTP status to use when nothing has been sent yet


Event = TextDelta | ToolCall | ServerToolCall | ServerToolResult | Usage | Finish | Error


@dataclass(frozen=True, slots=True)
class Recall:
    """What knowledge retrieval found for this turn, before the model was called (chat.service
    sends it first; protocols show it as sources: Coze a verbose message, OpenAI an extension
    field). `hits` are dicts: chunk_id, knowledge_id, document_id, document_name, text, score."""

    hits: tuple
