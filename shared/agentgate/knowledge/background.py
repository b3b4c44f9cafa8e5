"""Handing document indexing to later work, behind one function: `submit(task)`.

On AWS the task goes to the knowledge worker function (Settings.knowledge_worker, the template's
KnowledgeWorkerFunction: same code, 15 minutes instead of the API's 25 s) as an asynchronous
invocation (Lambda retries it twice on failure), whose handler calls `run(task)`; locally it
runs on a worker thread of the gateway process. The document's state lives in DynamoDB (processing ->
completed | failed with a reason), so any instance can report it. When agentgate.background
(the shared background part) exists, this is the one place to switch to it.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor

from agentgate.config import settings

log = logging.getLogger(__name__)

TASK_KEY = "agentgate_task"
_pool: ThreadPoolExecutor | None = None


def _local_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="knowledge")
    return _pool


def submit(task: dict) -> None:
    function = settings().knowledge_worker
    if function:
        import boto3

        boto3.client("lambda").invoke(FunctionName=function, InvocationType="Event",
                                      Payload=json.dumps({TASK_KEY: task}).encode())
        return
    _local_pool().submit(_run_logged, task)


def _run_logged(task: dict) -> None:
    try:
        run(task)
    except Exception:  # the document is marked failed by process(); this is the last resort
        log.exception("background knowledge task failed")


def run(task: dict) -> None:
    if task.get("kind") == "knowledge.process":
        from agentgate.knowledge.documents import process

        process(task["owner_id"], task["knowledge_id"], task["document_id"], task["source"])
    else:
        raise ValueError(f"unknown task kind {task.get('kind')!r}")


def is_task(event) -> bool:
    return isinstance(event, dict) and TASK_KEY in event


def wait_local(timeout: float = 30.0) -> None:
    """Tests: wait until the local worker has drained what was submitted so far."""
    if _pool is not None:
        _pool.submit(lambda: None).result(timeout=timeout)  # one worker: everything before it is done
