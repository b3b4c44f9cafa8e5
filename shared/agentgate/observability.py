"""Observability for every entry point, in one place (as the AWS Lambda Handler Cookbook's
handlers/utils/observability.py): the Powertools Logger, Tracer and Metrics, the decorator every
Lambda handler wears, and what each request emits at its end.

    from agentgate.observability import instrument

    @instrument                      # request id, cold start and function name on every log
    def handler(event, context):     # line, the invocation traced (X-Ray), never the event logged
        ...

- Logs: one JSON object per line on stdout (Powertools Logger; the template's LoggingConfig is
  JSON too). The Logger is the `agentgate` logger, so every `logging.getLogger(__name__)` below
  agentgate writes through it, with the request's keys (request_id, key_id, owner_id, bot_id
  where known; contextvars, so concurrent requests of the local gateway keep theirs). Never the
  key itself: events are not logged, and the principal carries no secret.
- Access line: one per request, `"message": "access"` plus agentgate.access_log's fields
  (method, path, route, status, latency_ms, ttft_ms, tokens, key_id, owner_id, bot_id ...).
- Metrics: CloudWatch EMF through Powertools (namespace POWERTOOLS_METRICS_NAMESPACE, default
  agentgate): requests, errors (5xx), client_errors (4xx), latency, ttft, input_tokens and
  output_tokens, with `bot` as the only dimension beyond the service. key_id and owner_id are
  properties of the EMF record (searchable), never dimensions: one metric per key would be
  unbounded cardinality.
- Traces: X-Ray through the Powertools Tracer, in Lambda only. botocore (DynamoDB, S3, Bedrock)
  and httpx (the openai SDK's model calls) are patched, so each call is a subsegment. Under the
  Lambda Web Adapter, `use_trace_header` hands each request's trace header to the SDK.
"""

from __future__ import annotations

import contextvars
import os
import time
import traceback
from contextlib import aclosing, asynccontextmanager, contextmanager
from typing import Any, AsyncIterator, Callable

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

from agentgate import access_log
from agentgate.config import settings

SERVICE = "agentgate"  # also the logger's name: agentgate.* module loggers propagate to it
LOG_KEYS = ("request_id", "key_id", "owner_id", "bot_id")

logger = Logger(service=SERVICE)


def in_lambda() -> bool:
    """Running in Lambda itself (not `sam local`, not the local gateway, not tests)."""
    return settings().in_lambda


# ---------------------------------------------------------------- tracing
class _NoSegment(BaseSegment):
    def close(self, end_time=None): ...
    def add_subsegment(self, subsegment): ...
    def remove_subsegment(self, subsegment): ...
    def put_annotation(self, key, value): ...
    def put_metadata(self, key, value, namespace="default"): ...
    def add_exception(self, exception, stack, remote=False): ...


class _NoTracing(BaseProvider):
    """Outside Lambda nothing receives segments. This provider keeps the X-Ray SDK out of local
    processes altogether: imported outside Lambda, its default sampler builds two botocore
    clients (half a second and more of start-up)."""

    @contextmanager
    def in_subsegment(self, name=None, **kwargs):
        yield _NoSegment()

    @asynccontextmanager
    async def in_subsegment_async(self, name=None, **kwargs):
        yield _NoSegment()

    def put_annotation(self, key, value): ...
    def put_metadata(self, key, value, namespace="default"): ...
    def patch(self, modules): ...
    def patch_all(self): ...


def _tracer() -> Tracer:
    if in_lambda():
        # Patched at init (SnapStart and the adapter's init pay it once, not a request).
        return Tracer(service=SERVICE, patch_modules=["botocore", "httpx"])
    return Tracer(service=SERVICE, disabled=True, auto_patch=False, provider=_NoTracing())


tracer = _tracer()


def use_trace_header(header: str | None) -> None:
    """Under the Lambda Web Adapter the invocation's trace header reaches the app as the request's
    `x-amzn-trace-id`, while the X-Ray SDK reads `_X_AMZN_TRACE_ID` from the environment. One
    Lambda instance serves one request at a time, so setting it per request is exact."""
    if header and in_lambda():
        os.environ["_X_AMZN_TRACE_ID"] = header


def traced_stream(stream: AsyncIterator[Any], name: str, **annotations: Any) -> AsyncIterator[Any]:
    """An async stream (a model's answer) as one X-Ray subsegment from its start to its end; the
    stream itself, untouched, wherever tracing is off (outside Lambda)."""
    if tracer.disabled:
        return stream
    return _traced(stream, name, annotations)


async def _traced(stream, name: str, annotations: dict[str, Any]):
    recorder = tracer.provider
    subsegment = recorder.begin_subsegment(name, namespace="remote")
    try:
        for key, value in annotations.items():
            if subsegment is not None:
                subsegment.put_annotation(key, value)
        async with aclosing(stream):
            async for item in stream:
                yield item
    except BaseException as exc:
        if subsegment is not None and not isinstance(exc, GeneratorExit):
            subsegment.add_exception(exc, traceback.extract_stack())
        raise
    finally:
        recorder.end_subsegment()


# ---------------------------------------------------------------- the Lambda handler decorator
def instrument(handler: Callable) -> Callable:
    """What every Lambda entry point wears: the Lambda context on every log line (request id,
    cold start, function name), state cleared between invocations, the event never logged (it
    holds the key), the invocation traced (the response is not recorded: it may hold a key)."""
    traced = tracer.capture_lambda_handler(handler, capture_response=False)
    return logger.inject_lambda_context(traced, log_event=False, clear_state=True)


# ---------------------------------------------------------------- per request
# One request's record is an agentgate.access_log record: the local gateway's access line, the
# Lambda JSON access line and the audit trail (agentgate.policy.metering) share its fields. When
# the local gateway already opened one for this request, the app's middleware annotates that one.


def begin(**fields: Any) -> contextvars.Token:
    """A request starts (the ASGI middleware calls this): its record, and its log keys."""
    outer = access_log.current()
    method, path = fields.pop("method", None), fields.pop("path", None)
    record = outer if outer is not None else access_log.begin(method or "-", path or "-")
    record.set(**fields)
    token = access_log.bind(record)
    bind_log_keys(**fields)
    return token


def annotate(**fields: Any) -> None:
    """What only deeper code knows (bot_id, input_tokens, output_tokens ...), for this request's
    access line, metrics and log lines; a no-op outside a request."""
    if access_log.current() is None:
        return
    fields = {k: v for k, v in fields.items() if v not in (None, "")}
    if "input_tokens" in fields or "output_tokens" in fields:
        record = access_log.current()
        inputs = int(fields.get("input_tokens", record.extra.get("input_tokens", 0)) or 0)
        outputs = int(fields.get("output_tokens", record.extra.get("output_tokens", 0)) or 0)
        fields["tokens"] = inputs + outputs
    access_log.annotate(**fields)
    bind_log_keys(**fields)


def first_token() -> None:
    """The first token of a streamed answer leaves now: the request's time to first token."""
    access_log.first_token()


def finish(token: contextvars.Token, status: int) -> dict[str, Any]:
    """The request ends: its access line and metrics are written; returns the record."""
    record = access_log.current()
    access_log.unbind(token)
    if record is None:
        return {}
    if access_log.current() is None:  # our own record (not the local gateway's): it ends here
        record.finish(status)
        out = record.as_dict()
    else:
        out = {**record.as_dict(), "status": int(status),
               "latency_ms": round((time.perf_counter() - record._started) * 1000, 1)}
    try:
        emit(out)
    finally:
        unbind_log_keys()
    return out


def bind_log_keys(**fields: Any) -> None:
    """Put the request's identifiers on every log line that follows (None values skipped)."""
    keys = {k: v for k, v in fields.items() if k in LOG_KEYS and v not in (None, "")}
    if keys:
        logger.thread_safe_append_keys(**keys)


def unbind_log_keys() -> None:
    logger.thread_safe_remove_keys(LOG_KEYS)


def emit(access: dict[str, Any]) -> None:
    """The request's access line and its metrics (EMF), once, at its end.

    `access` is an agentgate.access_log record's dict: method, path, status, latency_ms and,
    where known, route, key_id, owner_id, bot_id, tokens, input_tokens, output_tokens, ttft_ms.
    """
    if access.get("tokens") is None and access.get("input_tokens") is not None:
        access = {**access, "tokens": int(access["input_tokens"]) + int(access.get("output_tokens") or 0)}
    logger.info("access", extra=access)
    if settings().metrics_disabled:
        return
    metrics = EphemeralMetrics(namespace=settings().metrics_namespace, service=SERVICE)
    if access.get("bot_id"):
        metrics.add_dimension(name="bot", value=str(access["bot_id"]))
    status = int(access.get("status") or 0)
    metrics.add_metric(name="requests", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="errors", unit=MetricUnit.Count, value=1 if status >= 500 else 0)
    metrics.add_metric(name="client_errors", unit=MetricUnit.Count, value=1 if 400 <= status < 500 else 0)
    if access.get("latency_ms") is not None:
        metrics.add_metric(name="latency", unit=MetricUnit.Milliseconds, value=float(access["latency_ms"]))
    if access.get("ttft_ms") is not None:
        metrics.add_metric(name="ttft", unit=MetricUnit.Milliseconds, value=float(access["ttft_ms"]))
    for name in ("input_tokens", "output_tokens"):
        if access.get(name) is not None:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=int(access[name]))
    # Properties, not dimensions (cardinality): searchable in Logs Insights, no metric per key.
    for name in ("key_id", "owner_id", "request_id", "route", "method"):
        if access.get(name):
            metrics.add_metadata(key=name, value=str(access[name]))
    metrics.add_metadata(key="status", value=status)
    metrics.flush_metrics()
