"""Pure ASGI middleware (no BaseHTTPMiddleware: it would buffer streamed responses).

RequestContextMiddleware gives each request an ID (API Gateway's requestId when there is one),
echoes it in `x-tt-logid` (where cozepy reads it) and `x-request-id`, writes the request's access
line and metrics at its end (agentgate.observability: request id, key id, owner id on every log
line of the request; route, status, latency, and what the route adds), adds the CORS origin
(AGENTGATE_CORS_ALLOW_ORIGIN: with a proxy integration the function's answer must carry it; API
Gateway answers the preflight), and turns any exception that escapes a route before the response
starts into the protocol's JSON 500, never a traceback.
"""

from __future__ import annotations

import json
import logging
import uuid

from agentgate import observability
from agentgate.api.errors import error_body, shape_for_path
from agentgate.auth.principal import request_context_from_scope
from agentgate.config import settings

log = logging.getLogger(__name__)


class RequestContextMiddleware:
    def __init__(self, app):
        self.app = app
        origin = settings().cors_allow_origin
        self._cors = [(b"access-control-allow-origin", origin.encode()),
                      (b"access-control-expose-headers", b"x-tt-logid, x-request-id")] if origin else []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        context = request_context_from_scope(scope)
        request_id = context.get("requestId") or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = False
        status = 500
        for name, value in scope.get("headers") or ():
            if name == b"x-amzn-trace-id":  # the Web Adapter's copy of the invocation's trace header
                observability.use_trace_header(value.decode("latin-1"))
        authorizer = context.get("authorizer") or {}
        token = observability.begin(
            request_id=request_id, method=scope.get("method"), path=context.get("path") or scope.get("path"),
            route=context.get("resourcePath"), key_id=authorizer.get("key_id"), owner_id=authorizer.get("owner_id"),
            source_ip=(context.get("identity") or {}).get("sourceIp"))

        async def send_with_id(message):
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = list(message.get("headers") or [])
                headers.append((b"x-tt-logid", request_id.encode()))
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(self._cors)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self._call(scope, receive, send_with_id, request_id, lambda: started)
        finally:
            observability.finish(token, status)

    async def _call(self, scope, receive, send, request_id, started) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started():
                return  # a streamed answer reports its own failure in-band
            body = json.dumps(error_body(shape_for_path(scope.get("path", "")), 500,
                                         "internal error; the request was not completed", request_id)).encode()
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
