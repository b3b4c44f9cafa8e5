"""Each endpoint group's OpenAPI document, kept true to what the code answers.

Routes declare the statuses they return beyond the common ones with `responses=errors(404, ...)`,
request bodies they parse themselves with `openapi_extra=json_body(Model)` (or `multipart_file()`),
and streamed answers with `responses=streamed()`. `install(app)` (called by create_app) then, for
every operation: adds what the shared machinery can answer on any route (401 and 403 where a key
is required, 400 where a body is read; FastAPI adds 422 where it validates), and gives every error
response the JSON schema of the protocol its path speaks (agentgate.api.errors.shape_for_path):
Coze's {code, msg}, OpenAI's {error}, AIFlowy's {errorCode, message}, AgentChat's {status_code,
status_message}. tests/unit/test_openapi_conformance.py fuzzes every app against its document.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel

from agentgate import jsonlimits

DESCRIPTIONS = {
    400: "Bad request: a malformed or non-object JSON body, JSON nested deeper than "
         f"{jsonlimits.MAX_DEPTH} levels, or a value the operation's rules refuse",
    401: "Unauthorized: no caller, or the caller's key has expired",
    403: "Forbidden: the key lacks the scope, or is used from an address outside its allow-list",
    404: "Not found (another owner's resource, or one outside the key's bindings, is not found either)",
    405: "Method not allowed",
    409: "Conflict: the resource changed meanwhile, or the name or alias is taken",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable: a parameter or body field fails validation",
    429: "Too many requests: the key's rate or concurrency limit (Retry-After says when to retry)",
    501: "Not implemented",
    502: "The upstream model provider failed",
    503: "Unavailable: try again",
    504: "The upstream model provider timed out",
}

_NULLABLE_STRING = {"anyOf": [{"type": "string"}, {"type": "null"}]}
_CODE = {"anyOf": [{"type": "integer"}, {"type": "string"}]}

ERROR_SCHEMAS: dict[str, tuple[str, dict]] = {
    "coze": ("CozeError", {
        "type": "object", "required": ["code", "msg"],
        "properties": {"code": _CODE, "msg": {"type": "string"}, "message": {"type": "string"},
                       "request_id": {"type": "string"}, "param": {"type": "string"}},
    }),
    "openai": ("OpenAIError", {
        "type": "object", "required": ["error"],
        "properties": {"error": {
            "type": "object", "required": ["message", "type"],
            "properties": {"message": {"type": "string"}, "type": {"type": "string"}, "param": _NULLABLE_STRING,
                           "code": {"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]}},
        }},
    }),
    "aiflowy": ("AIFlowyError", {
        "type": "object", "required": ["errorCode", "message"],
        "properties": {"errorCode": _CODE, "message": {"type": "string"}, "request_id": {"type": "string"}},
    }),
    "agentchat": ("AgentChatError", {
        "type": "object", "required": ["status_code", "status_message"],
        "properties": {"status_code": {"type": "integer"}, "status_message": {"type": "string"}, "data": {}},
    }),
}

# A pattern of the strings Python's str.strip() leaves non-empty ("not blank"): JSON Schema's \S
# (ECMA-262) also matches \x1c-\x1f and \x85, which Python counts as whitespace.
NOT_BLANK = r"[^\s\x1c-\x1f\x85]"
# An id or alias in a key's bindings (agentgate.policy.bindings): 1-128 characters, no whitespace.
BINDING_REF = r"^[^\s\x1c-\x1f\x85]{1,128}$"

SSE = "text/event-stream"
# Before OpenAPI 3.2 (itemSchema), an event stream's `schema` describes one event of it.
SSE_EVENT = {"type": "object", "description": "one server-sent event", "required": ["data"],
             "properties": {"event": {"type": "string"}, "data": {"type": "string"}, "id": {"type": "string"},
                            "retry": {"type": "integer", "minimum": 0}}}
# What a chat turn can answer before its first byte: a refused input (400, 413, 415, 422), the key's
# policy (403) and limits (429), an unknown bot or conversation (404), the model's failure (502, 504).
TURN_ERRORS = (400, 403, 404, 413, 415, 422, 429, 502, 504)
_DEFS_KEY = "x-agentgate-defs"


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route decorator: the error statuses it answers (the body's schema is the
    path's protocol error shape, filled in by `install`)."""
    return {status: {"description": DESCRIPTIONS[status]} for status in statuses}


def streamed(*statuses: int, json: bool = True) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route whose 200 is an SSE stream (and, with `json`, a JSON object when
    the request does not ask to stream), plus `statuses` as in `errors`."""
    content: dict[str, Any] = {SSE: {"schema": SSE_EVENT}}
    if json:
        content = {"application/json": {"schema": {"type": "object"}}, **content}
    description = "The answer: an SSE stream" + (" (stream: true), else a JSON object" if json else "")
    return {200: {"description": description, "content": content}, **errors(*statuses)}


def json_body(model: type[BaseModel], *, required: bool = True, description: str | None = None) -> dict:
    """`openapi_extra=` for a route that reads its JSON body itself: the body's schema is `model`'s
    (which the route's parser validates against)."""
    prefix = model.__name__
    schema = model.model_json_schema(ref_template=f"#/components/schemas/{prefix}_{{model}}")
    defs = {f"{prefix}_{name}": value for name, value in schema.pop("$defs", {}).items()}
    return json_schema_body(schema, required=required, description=description, defs=defs)


def json_schema_body(schema: dict, *, required: bool = True, description: str | None = None,
                     defs: dict | None = None) -> dict:
    """`openapi_extra=` declaring a JSON request body by its JSON schema."""
    extra = _request_body("application/json", schema, required=required, description=description)
    if defs:
        extra[_DEFS_KEY] = defs
    return extra


def query_parameters(*, required: tuple[str, ...] = (), **schemas: dict) -> dict:
    """`openapi_extra=` for query parameters a route reads from request.query_params itself."""
    return {"parameters": [{"name": name, "in": "query", "required": name in required, "schema": schema}
                           for name, schema in schemas.items()]}


def multipart_file(field: str = "file", *, description: str | None = None) -> dict:
    """`openapi_extra=` for an upload the route streams itself: multipart/form-data with one file."""
    schema = {"type": "object", "required": [field],
              "properties": {field: {"type": "string", "format": "binary"}}}
    return _request_body("multipart/form-data", schema, required=True, description=description)


def _request_body(media_type: str, schema: dict, *, required: bool, description: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"required": required, "content": {media_type: {"schema": schema}}}
    if description:
        body["description"] = description
    return {"requestBody": body}


# ------------------------------------------------------------------------------------ the document


def _needs_principal(dependant) -> bool:
    from agentgate.api.deps import current_principal

    for dep in dependant.dependencies:
        call = getattr(dep, "call", None)
        if call is current_principal or getattr(call, "__name__", "").startswith("requires_"):
            return True
        if _needs_principal(dep):
            return True
    return False


def _refs_in(value, found: set[str]) -> None:
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for item in value.values():
            _refs_in(item, found)
    elif isinstance(value, list):
        for item in value:
            _refs_in(item, found)


def build(app: FastAPI) -> dict:
    from agentgate.api.errors import shape_for_path

    doc = get_openapi(title=app.title, version=app.version, openapi_version=app.openapi_version,
                      description=app.description, routes=app.routes)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    authed: dict[tuple[str, str], bool] = {}
    for route in app.routes:
        if isinstance(route, APIRoute) and route.include_in_schema:
            for method in route.methods:
                authed[(route.path_format, method.lower())] = _needs_principal(route.dependant)

    for path, item in doc.get("paths", {}).items():
        name, error_schema = ERROR_SCHEMAS[shape_for_path(path)]
        schemas.setdefault(name, copy.deepcopy(error_schema))
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            schemas.update(op.pop(_DEFS_KEY, {}))
            responses = op["responses"]
            wanted: set[int] = set()
            if authed.get((path, method)):
                wanted |= {401, 403}
            if "requestBody" in op:
                wanted.add(400)  # malformed or non-object JSON, too deep (FastAPI adds 422 where it validates)
            for status in wanted:
                responses.setdefault(str(status), {"description": DESCRIPTIONS[status]})
            for status, response in responses.items():
                if status[:1] in ("4", "5"):
                    if int(status) in DESCRIPTIONS and response.get("description") in (None, "", "Validation Error"):
                        response["description"] = DESCRIPTIONS[int(status)]
                    response["content"] = {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}
            op["responses"] = dict(sorted(responses.items()))

    # FastAPI's own 422 body (HTTPValidationError) is never what these apps answer.
    used: set[str] = set()
    _refs_in(doc.get("paths"), used)
    pending = list(used)
    while pending:  # what the used schemas reference in turn
        more: set[str] = set()
        _refs_in(schemas.get(pending.pop()), more)
        pending.extend(more - used)
        used |= more
    for unused in [k for k in schemas if k not in used]:
        del schemas[unused]
    if not schemas:
        del components["schemas"]
    if not components:
        del doc["components"]
    return doc


def install(app: FastAPI) -> None:
    """app.openapi() answers the document `build` makes (built once, on first use)."""

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
