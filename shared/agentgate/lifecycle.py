"""Init work: what a function does once, before its first request, so no request pays for it.

    from agentgate import lifecycle
    lifecycle.at_init(prime)   # in the entry module, after the app is built

- SnapStart functions (AWS_LAMBDA_INITIALIZATION_TYPE=snap-start): `prime` runs before the
  snapshot (snapshot_restore_py's register_before_snapshot); every restored instance starts with
  its modules imported and its clients built.
- Other Lambda functions (the authorizer, chat under the Lambda Web Adapter): `prime` runs now,
  in the init phase, which ends before the first request (the adapter's readiness check waits
  for the app to be imported).
- Anywhere else (tests, the local gateway, bench/): nothing runs until `run_init_hooks()`, so
  importing an entry module stays what it is.

A hook never makes a network call: it imports modules and builds clients (botocore builds its
clients without I/O), and a failure is logged, never raised (the request path still works
lazily).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Callable

from agentgate.config import settings

log = logging.getLogger(__name__)

_hooks: list[Callable[[], None]] = []
_done: set[Callable[[], None]] = set()


def _run(hook: Callable[[], None]) -> float:
    if hook in _done:
        return 0.0
    t0 = time.perf_counter()
    try:
        hook()
    except Exception:  # noqa: BLE001 - a failed warm-up leaves the lazy path in place
        log.exception("init hook %s failed", getattr(hook, "__qualname__", hook))
    _done.add(hook)
    return (time.perf_counter() - t0) * 1000


def at_init(hook: Callable[[], None]) -> Callable[[], None]:
    _hooks.append(hook)
    if not settings().in_lambda:
        return hook
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":
        try:
            from snapshot_restore_py import register_before_snapshot  # the runtime provides it
        except ImportError:
            pass
        else:
            register_before_snapshot(lambda: _run(hook))
            return hook
    _run(hook)
    return hook


def run_init_hooks() -> float:
    """Run every registered hook not run yet (the local gateway, bench/); returns the ms taken."""
    return sum(_run(hook) for hook in list(_hooks))
