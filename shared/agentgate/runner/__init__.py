"""The agent runner: prompt assembly, memory, providers; emits neutral events (runner.events).

Public API:
    run_turn(req, cancel=None) -> AsyncIterator[Event]     (agentgate.runner.runner)
    collect_turn(req, cancel=None) -> TurnResult           (agentgate.runner.collect)
    TurnRequest, BotSpec, ChatMessage                      (agentgate.runner.types)
    build_messages(req)                                    (agentgate.runner.prompt)
    get_provider(model_name), UnknownModel                 (agentgate.runner.providers)
Importing this package loads neither the openai SDK nor boto3.
"""

from agentgate.runner.collect import TurnResult, collect_turn
from agentgate.runner.events import Error, Event, Finish, TextDelta, ToolCall, Usage
from agentgate.runner.prompt import build_messages
from agentgate.runner.providers import UnknownModel, get_provider
from agentgate.runner.runner import merge_params, run_turn
from agentgate.runner.types import BotSpec, ChatMessage, TurnRequest

__all__ = [
    "BotSpec", "ChatMessage", "Error", "Event", "Finish", "TextDelta", "ToolCall", "TurnRequest",
    "TurnResult", "UnknownModel", "Usage", "build_messages", "collect_turn", "get_provider",
    "merge_params", "run_turn",
]
