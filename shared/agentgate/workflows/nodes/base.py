"""What a node kind is: validation when a definition is saved, its outputs, and how it runs.

`run()` is an async generator: it may yield workflow events (Delta, NodeMessage), and ends by
yielding exactly one Output (its result, a JSON object) or Suspend (a question: the run pauses
until stream_resume brings the answer). A failure is raised as NodeFailed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncIterator

if TYPE_CHECKING:
    from agentgate.workflows.definition import Definition, NodeSpec, ValidationContext
    from agentgate.workflows.engine import Runtime


@dataclass(frozen=True, slots=True)
class Output:
    value: dict


@dataclass(frozen=True, slots=True)
class Suspend:
    question: str
    type: int = 2  # Coze's interrupt type for a question


class NodeKind:
    kind = ""
    allowed_in_loop = True

    def validate(self, node: "NodeSpec", ctx: "ValidationContext") -> None:
        """Raise DefinitionError (naming node.id) for anything wrong with the node's settings."""

    def outputs(self, node: "NodeSpec", definition: "Definition") -> set[str] | None:
        """The output fields later nodes may reference (None: any)."""
        return set()

    async def run(self, node: "NodeSpec", rt: "Runtime") -> AsyncIterator[Any]:
        yield Output({})

    def recorded_input(self, node: "NodeSpec", rt: "Runtime") -> Any:
        """What the run history shows as the node's input (never a resolved secret)."""
        return None
