"""The one interface every model provider implements."""

from __future__ import annotations

from typing import Any, AsyncIterator, Protocol

from agentgate.runner.events import Event


class Provider(Protocol):
    """Streams one model turn as neutral events.

    `messages` are OpenAI-style dicts (runner.prompt.build_messages); `params` holds the merged
    generation settings (temperature, max_tokens, top_p, stop, tools, tool_choice, user), only
    those that are set. A provider turns its upstream's failures into Error + Finish("error"); it
    must let asyncio.CancelledError through and release the upstream when its generator closes.
    """

    def stream(self, messages: list[dict[str, Any]], model: str, params: dict[str, Any]) -> AsyncIterator[Event]:
        ...


class UnknownModel(ValueError):
    """The model name names no configured provider (or no model for one that needs it)."""
