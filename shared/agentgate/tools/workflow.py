"""Workflow tools: one of the owner's published workflows, run to its end for the model.

implementation: {kind: "workflow", workflow_id, version (optional: the latest published)}. The
model's arguments are the workflow's parameters; the result is the run's output as JSON. A
workflow that stops to ask a question (a question node) cannot answer as a tool: the model reads
that as the tool's error. The run is recorded like any other (run_mode 0) and bounded by the
tool timeout as well as the workflow's own limits.
"""

from __future__ import annotations

from agentgate.tools import ToolCallError, ToolConfigError


def validate(implementation: dict) -> dict:
    workflow_id = implementation.get("workflow_id")
    if isinstance(workflow_id, int) and not isinstance(workflow_id, bool):
        workflow_id = str(workflow_id)
    if not isinstance(workflow_id, str) or not workflow_id.isdigit():
        raise ToolConfigError("implementation.workflow_id (a numeric string) is required")
    out = {"workflow_id": workflow_id}
    if implementation.get("version") is not None:
        out["version"] = str(implementation["version"])
    return out


def check_owner(owner_id: str, implementation: dict) -> None:
    """The workflow must be the owner's and published (tools are checked when saved)."""
    from agentgate.store import workflows as store

    item = store.get_workflow(owner_id, implementation["workflow_id"])
    if item is None or not int(item.version or 0):
        raise ToolConfigError(f"workflow {implementation['workflow_id']} not found or not published")


async def call(tool, arguments: dict, ctx) -> str:
    from agentgate.workflows import runs
    from agentgate.workflows.engine import output_json
    from agentgate.workflows.errors import WorkflowError
    from agentgate.workflows.events import Completed, Failed, Interrupted

    impl = tool.implementation
    try:
        execution = await runs.start(ctx.owner_id, impl["workflow_id"], arguments, run_mode=0,
                                     version=impl.get("version"))
    except WorkflowError as exc:
        raise ToolCallError(str(exc)) from exc
    final = await execution.collect()
    if isinstance(final, Completed):
        return output_json(final.output)
    if isinstance(final, Interrupted):
        raise ToolCallError("the workflow stopped to ask a question; a workflow used as a tool must run to its end")
    if isinstance(final, Failed):
        raise ToolCallError(final.message)
    raise ToolCallError("the workflow ended without a result")
