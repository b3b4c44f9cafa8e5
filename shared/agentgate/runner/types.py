"""The runner's inputs: a bot's settings and one turn's request (no storage, no protocol)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The per-request overrides a protocol may pass in TurnRequest.params.
PARAM_KEYS = ("temperature", "max_tokens", "top_p", "stop", "tools", "tool_choice", "user")


@dataclass(slots=True)
class ChatMessage:
    """One message in OpenAI's shape.

    `content` is a string or a list of parts: {"type": "text", "text": ...} and
    {"type": "image_url", "image_url": {"url": ...}}. The optional fields carry a tool loop
    (an assistant's tool_calls, and the tool's answer with its tool_call_id).
    """

    role: str  # system | user | assistant | tool
    content: str | list[dict[str, Any]]
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.name is not None:
            out["name"] = self.name
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.tool_calls:
            out["tool_calls"] = self.tool_calls
        return out


@dataclass(slots=True)
class BotSpec:
    """A published bot as the runner needs it."""

    bot_id: str
    name: str
    model: str  # "provider/model", e.g. "openai/gpt-4o-mini", "bedrock/<model id>", "echo"
    system_prompt: str = ""
    temperature: float | None = None
    max_tokens: int | None = None
    memory_window: int = 0  # how many history messages reach the model; 0 = no memory
    variables: dict[str, str] = field(default_factory=dict)  # defaults for {{name}} placeholders


@dataclass(slots=True)
class TurnRequest:
    bot: BotSpec
    history: list[ChatMessage] = field(default_factory=list)  # oldest first
    messages: list[ChatMessage] = field(default_factory=list)  # this turn's new messages
    variables: dict[str, str] = field(default_factory=dict)  # override bot.variables
    params: dict[str, Any] = field(default_factory=dict)  # overrides; keys in PARAM_KEYS
    # Server-side tools (agentgate.tools.ToolSpec) the runner executes itself, and their context
    # (agentgate.tools.ToolContext: owner, secrets). Empty: the model sees only the client's tools.
    server_tools: list[Any] = field(default_factory=list)
    tool_context: Any = None
