"""Pure ASGI middleware (no BaseHTTPMiddleware: it would buffer streamed responses).

RequestContextMiddleware gives each request an ID (API Gateway's requestId when there is one),
echoes it in `x-tt-logid` (where cozepy reads it) and `x-request-id`, adds the CORS origin
(AGENTGATE_CORS_ALLOW_ORIGIN: with a proxy integration the function's answer must carry it; API
Gateway answers the preflight), and turns any exception that escapes a route before the response
starts into the protocol's JSON 500, never a traceback.
"""

from __future__ import annotations

import logging
import uuid

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
        request_id = request_context_from_scope(scope).get("requestId") or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers") or [])
                headers.append((b"x-tt-logid", request_id.encode()))
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(self._cors)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                return  # a streamed answer reports its own failure in-band
            import json

            body = json.dumps(error_body(shape_for_path(scope.get("path", "")), 500,
                                         "internal error; the request was not completed", request_id)).encode()
            await send_with_id({"type": "http.response.start", "status": 500,
                                "headers": [(b"content-type", b"application/json"),
                                            (b"content-length", str(len(body)).encode())]})
            await send_with_id({"type": "http.response.body", "body": body})
