"""Background work: hand a job (an asynchronous workflow run, Coze's non-stream chat turn) to
later work, and run it there.

- locally (AGENTGATE_BACKGROUND=local, the default): a task on this process's event loop;
- on AWS (AGENTGATE_BACKGROUND=lambda, set by template.yaml): an asynchronous invocation
  (InvocationType=Event) of the worker function (AGENTGATE_BACKGROUND_FUNCTION). Lambda queues
  the event, retries a failed invocation twice, and sends what still fails to the on-failure
  destination (an SQS queue, see template.yaml's WorkerFunction). A job's state lives in
  DynamoDB, so a retry continues from the last stored step instead of starting over.

A job is (kind, payload): a JSON object naming what to do, never the live objects, so the local
and the AWS paths run the same code (`run_job`).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging

from agentgate.config import settings

log = logging.getLogger(__name__)

# kind -> "module:function" (an async function taking the payload), imported when first run.
JOBS = {
    "workflow_run": "agentgate.workflows.runs:run_job",
    "chat_turn": "agentgate.chat.background:run_job",
}

_tasks: set[asyncio.Task] = set()


async def run_job(kind: str, payload: dict):
    target = JOBS.get(kind)
    if target is None:
        raise ValueError(f"unknown background job kind {kind!r}")
    module, name = target.split(":")
    return await getattr(importlib.import_module(module), name)(payload)


async def _run_logged(kind: str, payload: dict):
    try:
        return await run_job(kind, payload)
    except Exception:
        log.exception("background job %s failed", kind)
        return None


def submit(kind: str, payload: dict) -> asyncio.Task | None:
    """Hand the job on; returns once it is handed over (not when it is done): the local task
    (its result is the job's), or None when the job went to the worker function."""
    if kind not in JOBS:
        raise ValueError(f"unknown background job kind {kind!r}")
    s = settings()
    if s.background_mode == "lambda":
        _invoke(s.background_function, {"agentgate_job": kind, "payload": payload})
        return None
    task = asyncio.get_running_loop().create_task(_run_logged(kind, payload))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task


def _invoke(function_name: str, event: dict) -> None:
    import boto3

    if not function_name:
        raise RuntimeError("AGENTGATE_BACKGROUND=lambda needs AGENTGATE_BACKGROUND_FUNCTION")
    client = boto3.client("lambda", region_name=settings().region)
    client.invoke(FunctionName=function_name, InvocationType="Event", Payload=json.dumps(event).encode())


def pending() -> int:
    """Jobs still running in this process (local mode)."""
    return len(_tasks)
