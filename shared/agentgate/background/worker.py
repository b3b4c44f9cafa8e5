"""The worker function's Lambda handler: one background job per asynchronous invocation.

A raised exception makes Lambda retry the event (twice), then send it to the on-failure
destination; a job that finds its work already done or taken returns quietly.
"""

from __future__ import annotations

import asyncio

from agentgate.background import run_job


def handler(event, context):
    kind = event.get("agentgate_job") if isinstance(event, dict) else None
    if not kind:
        raise ValueError("not a background job event")
    asyncio.run(run_job(kind, event.get("payload") or {}))
    return {"ok": True}
