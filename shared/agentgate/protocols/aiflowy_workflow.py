"""AIFlowy's external workflow API (seed 004), with the bare key header:

- POST /api/v1/aiWorkflow/external/getRunningParams, form field `id` ->
  {errorCode: 0, title, description, parameters[{id, name, dataType, description, required, refType}]}
- POST /api/v1/aiWorkflow/external/run {id, variables} -> {errorCode: 0, result} (result: the
  end node's outputs). A failed run is {errorCode, message} with the HTTP status.
"""

from __future__ import annotations

from typing import Any

from agentgate.workflows.events import Completed, Failed, Interrupted


def running_params(definition, head) -> dict:
    return {"errorCode": 0, "title": head.name, "description": head.description or "",
            "parameters": [i.describe() for i in definition.inputs]}


def run_result(final: Any, execute_id: str) -> tuple[int, dict]:
    if isinstance(final, Completed):
        return 200, {"errorCode": 0, "result": final.output, "executeId": execute_id}
    if isinstance(final, Interrupted):
        return 200, {"errorCode": 0, "result": {}, "executeId": execute_id, "status": "INTERRUPTED",
                     "message": final.question, "eventId": final.event_id}
    failed: Failed = final
    status = failed.code if 400 <= int(failed.code) < 600 else 500
    return status, {"errorCode": int(failed.code), "message": failed.message, "executeId": execute_id}
