"""Flushing API Gateway's authorizer cache when a key changes, so the change takes effect at once.

In Lambda the stage comes from the request's own context (apiId, stage); no template reference
is needed, which would be circular. The local gateway registers an in-process hook instead.
"""

from __future__ import annotations

import logging
from typing import Callable

from agentgate.config import settings

log = logging.getLogger(__name__)

_local_hooks: list[Callable[[], None]] = []

# template.yaml's AuthorizerCacheSeconds default: how long a stage may serve a cached allow.
DEFAULT_TTL_S = 300


def register_local_flush(hook: Callable[[], None]) -> None:
    _local_hooks.append(hook)


def flush(api_id: str | None, stage: str | None) -> None:
    for hook in _local_hooks:
        hook()
    if _local_hooks or not settings().flush_authorizer_cache or not api_id or not stage:
        return
    flush_stage(api_id, stage)


def flush_stage(api_id: str, stage: str) -> str | None:
    """Flush one deployed stage's authorizer cache; None when done, else why it failed."""
    try:
        import boto3  # lazily: only key changes pay for the client

        boto3.client("apigateway", region_name=settings().region).flush_stage_authorizers_cache(
            restApiId=api_id, stageName=stage)
        return None
    except Exception as exc:
        # The key is already changed in the table; a cached allow lives at most the cache TTL.
        log.exception("flushing the authorizer cache failed for %s/%s", api_id, stage)
        return f"{type(exc).__name__}: {exc}"
