"""Flushing API Gateway's authorizer cache when a key changes, so the change takes effect at once.

In Lambda the API comes from the request's own context (apiId); no template reference is needed,
which would be circular. Every stage of the API has its own authorizer cache, so every stage that
serves the API is flushed, not only the one the request came through (a deleted key must not keep
working on another stage for the cache TTL). The local gateway registers an in-process hook instead.
"""

from __future__ import annotations

import logging
from typing import Callable

from agentgate.config import settings

log = logging.getLogger(__name__)

_local_hooks: list[Callable[[], None]] = []
_apigateway = None  # one client per process, made on the first key change

# template.yaml's AuthorizerCacheSeconds default: how long a stage may serve a cached allow.
DEFAULT_TTL_S = 300


def register_local_flush(hook: Callable[[], None]) -> None:
    _local_hooks.append(hook)


def flush(api_id: str | None, stage: str | None) -> None:
    for hook in _local_hooks:
        hook()
    if _local_hooks or not settings().flush_authorizer_cache or not api_id or not stage:
        return
    try:
        client = _client()
    except Exception:
        log.exception("no API Gateway client to flush the authorizer cache of %s", api_id)
        return
    stages = [stage]
    try:
        listed = [s["stageName"] for s in client.get_stages(restApiId=api_id).get("item") or []]
        stages = [stage] + [name for name in listed if name != stage]
    except Exception:
        log.exception("listing the stages of %s failed; flushing %s only", api_id, stage)
    for name in stages:
        flush_stage(api_id, name)


def _client():
    global _apigateway
    if _apigateway is None:
        import boto3  # lazily: only key changes pay for the client

        _apigateway = boto3.client("apigateway")
    return _apigateway


def flush_stage(api_id: str, stage: str) -> str | None:
    """Flush one deployed stage's authorizer cache; None when done, else why it failed."""
    try:
        _client().flush_stage_authorizers_cache(restApiId=api_id, stageName=stage)
        return None
    except Exception as exc:
        # The key is already changed in the table; a cached allow lives at most the cache TTL.
        log.exception("flushing the authorizer cache failed for %s/%s", api_id, stage)
        return f"{type(exc).__name__}: {exc}"
