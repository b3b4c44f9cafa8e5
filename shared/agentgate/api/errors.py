"""Errors, rendered in the shape of the protocol the caller speaks.

Routes raise ApiError (or let FastAPI's validation fail); the handlers installed by
`install_error_handlers` pick the shape from the request path, so one app can serve several
protocols (the chat group speaks OpenAI, Coze and AIFlowy).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from agentgate.policy.errors import PolicyError

log = logging.getLogger(__name__)

OPENAI_PATHS = ("/v1/chat/completions", "/api/v1/chat/completions", "/v1/models", "/api/v1/models",
                "/api/v1/sessions", "/v1/responses", "/api/v1/responses")
AIFLOWY_PATHS = ("/api/v1/aiBot", "/api/v1/aiWorkflow")
AGENTCHAT_PATHS = ("/api/v1/upload", "/api/v1/knowledge", "/api/v1/user/", "/api/v1/agent", "/api/v1/tool/",
                   "/api/v1/dialog")
# Exact paths only: /api/v1/chat/completions is OpenAI's.
AGENTCHAT_EXACT_PATHS = frozenset({"/api/v1/chat", "/api/v1/chat/"})

_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class ApiError(Exception):
    """An error a caller can act on. `code` defaults to the HTTP status (seed 002's table)."""

    def __init__(self, status: int, message: str, *, code: int | str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers


def bad_request(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, message, param=param)


def invalid(message: str, param: str | None = None) -> ApiError:
    return ApiError(422, message, param=param)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, message)


def shape_for_path(path: str) -> str:
    if path.startswith(OPENAI_PATHS):
        return "openai"
    if path.startswith(AIFLOWY_PATHS):
        return "aiflowy"
    if path.startswith(AGENTCHAT_PATHS) or path in AGENTCHAT_EXACT_PATHS:
        return "agentchat"
    return "coze"


def request_id_of(request_or_scope) -> str:
    scope = getattr(request_or_scope, "scope", request_or_scope)
    return (scope.get("state") or {}).get("request_id", "")


def error_body(shape: str, status: int, message: str, request_id: str, *, code=None, param=None) -> dict:
    if shape == "openai":
        return {
            "error": {
                "message": message,
                "type": _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error"),
                "param": param,
                "code": code if code is not None else status,
            }
        }
    if shape == "aiflowy":
        return {"errorCode": code if code is not None else status, "message": message, "request_id": request_id}
    if shape == "agentchat":
        return {"status_code": status, "status_message": message, "data": None}
    # Coze: cozepy needs `code` and `msg`; seed 002 documents `code`, `message`, `request_id`.
    body = {"code": code if code is not None else status, "msg": message, "message": message,
            "request_id": request_id}
    if param:
        body["param"] = param
    return body


def error_response(path: str, status: int, message: str, request_id: str, *, code=None, param=None,
                   headers: dict | None = None) -> JSONResponse:
    body = error_body(shape_for_path(path), status, message, request_id, code=code, param=param)
    return JSONResponse(body, status_code=status, headers=headers)


def _describe_validation(exc: RequestValidationError) -> tuple[int, str, str | None]:
    errors = exc.errors()
    for err in errors:
        if err.get("type") == "json_invalid":
            return 400, f"malformed JSON body: {err.get('ctx', {}).get('error', 'could not parse')}", None
    parts = []
    param = None
    for err in errors[:5]:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header", "form")]
        where = ".".join(loc)
        param = param or where or None
        if err.get("type") == "missing":
            parts.append(f"{where} is required")
        else:
            parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    if errors and all(e.get("type") == "model_attributes_type" or (e.get("loc") == ("body",)) for e in errors):
        return 400, "the request body must be a JSON object (send Content-Type: application/json)", None
    return 422, "; ".join(parts) or "invalid request", param


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return error_response(request.url.path, exc.status, exc.message, request_id_of(request),
                              code=exc.code, param=exc.param, headers=exc.headers)

    @app.exception_handler(PolicyError)
    async def _policy_error(request: Request, exc: PolicyError):
        # OpenAI's error.code for a rate limit is a string (the openai SDK raises RateLimitError by status).
        code = "rate_limit_exceeded" if exc.status == 429 and shape_for_path(request.url.path) == "openai" else None
        return error_response(request.url.path, exc.status, exc.message, request_id_of(request), code=code,
                              headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        status, message, param = _describe_validation(exc)
        return error_response(request.url.path, status, message, request_id_of(request), param=param)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path}"
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            allowed = allowed_methods(request.app, request.scope)
            message = f"method {request.method} not allowed on {request.url.path}; allowed: {', '.join(allowed)}"
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
        return error_response(request.url.path, exc.status_code, message, request_id_of(request),
                              headers=headers)


def allowed_methods(app, scope) -> list[str]:
    """Every method some route of `app` serves at the request's path (Starlette's own 405 names
    only the first route that matched the path, though several may serve it)."""
    from starlette.routing import Match

    methods: set[str] = set()
    for route in app.router.routes:
        route_methods = getattr(route, "methods", None)
        if route_methods and route.matches({**scope, "method": next(iter(route_methods))})[0] == Match.FULL:
            methods |= set(route_methods)
    return sorted(methods)
