"""The local gateway: API Gateway (REST) + the authorizer + every function, on one port.

Each request is matched against template.yaml's routes, authorized by the real authorizer handler
(with API Gateway's per-key result cache, flushed in-process when a key changes), then handed to
the route's function: buffered functions through their real Lambda handler with a REST (v1)
proxy event, streaming functions straight to their ASGI app with the `x-amzn-request-context`
header the Lambda Web Adapter would set. Denials render the template's Gateway Responses.
"""

from __future__ import annotations

import asyncio
import base64
import fnmatch
import importlib.util
import json
import logging
import re
import sys
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from urllib.parse import parse_qsl

import anyio

from agentgate import access_log
from agentgate.auth import cache as authorizer_cache
from agentgate.ids import now_ms
from agentgate.local.template import Function, LocalApi, Route

log = logging.getLogger("agentgate.gateway")

PAYLOAD_LIMIT = 10 * 1024 * 1024  # API Gateway's request payload limit
ACCOUNT_ID = "123456789012"
API_ID = "local"


class _LambdaContext:
    """Enough of the Lambda context object for Powertools and Mangum."""

    def __init__(self, function_name: str, timeout_s: int = 30):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:local:{ACCOUNT_ID}:function:{function_name}"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


_thread_loops = threading.local()


def _call_in_thread(handler, event: dict, context) -> dict:
    """Lambda handlers are synchronous and Mangum wants an event loop of its own thread."""
    loop = getattr(_thread_loops, "loop", None)
    if loop is None:
        loop = _thread_loops.loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    return handler(event, context)


class FunctionLoader:
    """Imports each function's entry module once, under a unique name (two `app.py` files would
    otherwise clash in sys.modules)."""

    def __init__(self):
        self._modules: dict[str, ModuleType] = {}
        self._lock = threading.Lock()

    def module(self, fn: Function, module_name: str) -> ModuleType:
        key = f"{fn.logical_id}:{module_name}"
        with self._lock:
            if key not in self._modules:
                path = fn.code_dir / (module_name.replace(".", "/") + ".py")
                unique = f"agentgate_local_fn_{fn.logical_id}_{module_name.replace('.', '_')}"
                spec = importlib.util.spec_from_file_location(unique, path)
                if spec is None or spec.loader is None:
                    raise ImportError(f"cannot load {path}")
                mod = importlib.util.module_from_spec(spec)
                sys.modules[unique] = mod
                spec.loader.exec_module(mod)
                self._modules[key] = mod
            return self._modules[key]

    def handler(self, fn: Function):
        module_name, _, attr = fn.handler.rpartition(".")
        return getattr(self.module(fn, module_name), attr)

    def asgi_app(self, fn: Function):
        module_name, attr = fn.asgi_target()
        return getattr(self.module(fn, module_name), attr)

    def preload(self, functions) -> list[str]:
        """Import every function now; returns the errors (the gateway still serves the rest)."""
        errors = []
        for fn in functions:
            try:
                self.asgi_app(fn) if fn.is_asgi_script else self.handler(fn)
            except Exception as exc:  # noqa: BLE001 - reported, and the route answers 502
                errors.append(f"{fn.logical_id}: {exc!r}")
        return errors


@dataclass
class _CachedDecision:
    allowed: bool
    context: dict
    principal_id: str
    expires: float

    def key_expired(self, at_ms: int) -> bool:
        """An allow for a key that has expired since: never served from the cache."""
        raw = self.context.get("expired_at") or "0"
        try:
            expired_at = int(raw)
        except ValueError:
            return False
        return self.allowed and expired_at > 0 and at_ms >= expired_at


class AuthorizerCache:
    """API Gateway's authorizer result cache: per identity-source value, for the TTL, bounded.

    An LRU of at most `max_entries` decisions; identity values longer than `max_key_chars` are
    never cached (a real key is ~50 characters; API Gateway refuses headers over 10 KB anyway), so
    junk headers cost one authorizer call each and no memory. An allow whose key has expired
    since is dropped, so the authorizer runs again and answers "api key expired" at once.
    """

    MAX_ENTRIES = 1000
    MAX_KEY_CHARS = 8192

    def __init__(self, ttl_seconds: int, max_entries: int = MAX_ENTRIES, max_key_chars: int = MAX_KEY_CHARS):
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self.max_key_chars = max_key_chars
        self._items: OrderedDict[str, _CachedDecision] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> _CachedDecision | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item.expires <= time.monotonic() or item.key_expired(now_ms()):
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return item

    def put(self, key: str, item: _CachedDecision) -> None:
        if self.ttl <= 0 or len(key) > self.max_key_chars or self.max_entries <= 0:
            return
        with self._lock:
            self._items[key] = item
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def _policy_allows(policy: dict, method_arn: str) -> bool:
    statements = (policy.get("policyDocument") or {}).get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    allowed = False
    for st in statements:
        resources = st.get("Resource")
        resources = resources if isinstance(resources, list) else [resources]
        if any(fnmatch.fnmatchcase(method_arn, str(r)) for r in resources):
            if st.get("Effect") == "Deny":
                return False
            if st.get("Effect") == "Allow":
                allowed = True
    return allowed


def _render(template: str, values: dict[str, str]) -> str:
    """The subset of API Gateway's $context substitution that Gateway Responses use."""
    return re.sub(r"\$context\.([A-Za-z0-9_.]+)", lambda m: values.get(m.group(1), ""), template)


class LocalGateway:
    """The ASGI app `agentgate dev` serves."""

    def __init__(self, api: LocalApi, region: str = "us-east-1", access_log_sink=None):
        self.api = api
        self.region = region
        # Called with each request's finished AccessRecord (agentgate dev prints record.line()).
        self.access_log_sink = access_log_sink
        self.loader = FunctionLoader()
        ttl = api.authorizer.ttl_seconds if api.authorizer else 0
        self.auth_cache = AuthorizerCache(ttl)
        authorizer_cache.register_local_flush(self.auth_cache.clear)

    # ------------------------------------------------------------------ ASGI entry
    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if self.access_log_sink is None:
            return await self._handle(scope, receive, send)
        raw_path = scope.get("raw_path")
        client_path = raw_path.decode("latin-1") if raw_path else (scope.get("path") or "/")
        query_string = scope.get("query_string") or b""
        if query_string:
            client_path += "?" + query_string.decode("latin-1")
        record = access_log.begin(scope["method"], client_path,
                                  source_ip=(scope.get("client") or ("127.0.0.1", 0))[0])
        token = access_log.bind(record)
        status = 500

        async def send_logged(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._handle(scope, receive, send_logged)
        finally:
            access_log.unbind(token)
            record.finish(status)
            try:
                self.access_log_sink(record)
            except Exception:  # noqa: BLE001 - a log sink never breaks a request
                log.exception("access log sink failed")

    async def _handle(self, scope, receive, send):
        request_id = str(uuid.uuid4())
        method = scope["method"].upper()
        path = scope["path"] or "/"
        access_log.annotate(request_id=request_id)
        # A client must never choose the request context: drop every x-amzn-* header it sent.
        headers = [(k, v) for k, v in scope["headers"] if not k.lower().startswith(b"x-amzn-")]
        # Gateway Responses name the path as the client sent it (no stage prefix here: locally the
        # client never sends one; on AWS's execute-api URL the client's path does carry it).
        base_ctx = {"requestId": request_id, "httpMethod": method, "path": path}
        if method == "OPTIONS" and self.api.cors is not None and self.api.has_path(path):
            # The template's Cors: API Gateway answers the preflight itself, with no authorizer.
            return await _send_empty(send, 200, {**self.api.cors.preflight_headers(), "x-tt-logid": request_id})
        if _declared_length(headers) > PAYLOAD_LIMIT:
            # Refused at once, unread (a lying Content-Length would otherwise hang until the
            # client gives up), and the connection closed: its body is never read.
            return await self._gateway_response(send, "REQUEST_TOO_LARGE", base_ctx, 413, "Request Too Long",
                                                close=True)
        route, path_params = self.api.find(method, path)
        if route is None:
            allowed = self.api.methods_for(path)
            if allowed:
                return await self._method_not_allowed(send, method, allowed, base_ctx)
            return await self._gateway_response(send, "MISSING_AUTHENTICATION_TOKEN", base_ctx, 403,
                                                "Missing Authentication Token")
        header_map = _header_map(headers)
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        request_context = self._request_context(scope, route, method, path, request_id, header_map)

        if route.authorized and self.api.authorizer is not None:
            denial = await self._authorize(route, method, path, header_map, query, path_params, request_context)
            if denial is not None:
                kind, extra = denial
                return await self._gateway_response(send, kind, {**base_ctx, **extra}, 401, "Unauthorized")

        try:
            if route.streaming and route.function.is_asgi_script:
                app = self.loader.asgi_app(route.function)
            else:
                handler = self.loader.handler(route.function)
        except Exception as exc:  # noqa: BLE001
            log.exception("function %s failed to load", route.function.logical_id)
            return await self._gateway_response(send, "DEFAULT_5XX", {**base_ctx, "error.messageString":
                                                json.dumps(f"function failed to load: {exc}")}, 502, "Internal server error")

        # The body, read here under API Gateway's cap before any function parses it (streaming
        # functions too: they get it replayed).
        body = await _read_body(receive, PAYLOAD_LIMIT)
        if body is None:
            return await self._gateway_response(send, "REQUEST_TOO_LARGE", base_ctx, 413, "Request Too Long",
                                                close=True)
        if route.streaming and route.function.is_asgi_script:
            return await self._forward_asgi(app, scope, headers, request_context, _replay(body, receive), send)
        return await self._invoke_buffered(handler, route, scope, method, path, headers, query, path_params,
                                           request_context, body, send, base_ctx)

    # ------------------------------------------------------------------ authorization
    async def _authorize(self, route: Route, method, path, header_map, query, path_params, request_context):
        authorizer = self.api.authorizer
        identity = []
        for name in authorizer.identity_headers:
            value = header_map.get(name.lower())
            if not value:
                # API Gateway rejects a request missing an identity source without calling the authorizer.
                return "UNAUTHORIZED", {}
            identity.append(value[-1])
        cache_key = "\x00".join(identity)
        cached = self.auth_cache.get(cache_key)
        if cached is None:
            method_arn = (f"arn:aws:execute-api:{self.region}:{ACCOUNT_ID}:{API_ID}/{self.api.stage}/"
                          f"{method}{path}")
            event = {
                "type": "REQUEST",
                "methodArn": method_arn,
                **_request_fields(route, method, path, header_map, query, path_params),
                "requestContext": {k: v for k, v in request_context.items() if k != "authorizer"},
            }
            handler = self.loader.handler(authorizer.function)
            try:
                policy = await anyio.to_thread.run_sync(
                    _call_in_thread, handler, event, _LambdaContext(authorizer.function.logical_id, 10))
            except Exception as exc:  # noqa: BLE001 - API Gateway maps authorizer errors the same way
                if str(exc) == "Unauthorized":
                    return "UNAUTHORIZED", {}
                log.exception("authorizer failed")
                return "AUTHORIZER_CONFIGURATION_ERROR", {}
            context = {k: str(v) for k, v in (policy.get("context") or {}).items()}
            cached = _CachedDecision(
                allowed=_policy_allows(policy, method_arn),
                context=context,
                principal_id=str(policy.get("principalId", "")),
                expires=time.monotonic() + self.auth_cache.ttl,
            )
            self.auth_cache.put(cache_key, cached)
        access_log.annotate(key_id=cached.context.get("key_id") or None,
                            owner_id=cached.context.get("owner_id") or None)
        if not cached.allowed:
            return "ACCESS_DENIED", {f"authorizer.{k}": v for k, v in cached.context.items()}
        request_context["authorizer"] = {**cached.context, "principalId": cached.principal_id}
        return None

    # ------------------------------------------------------------------ invocation
    def _request_context(self, scope, route, method, path, request_id, header_map) -> dict:
        client = scope.get("client") or ("127.0.0.1", 0)
        return {
            "resourcePath": route.path,
            "httpMethod": method,
            "path": f"/{self.api.stage}{path}",
            "stage": self.api.stage,
            "apiId": API_ID,
            "accountId": ACCOUNT_ID,
            "requestId": request_id,
            "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
            "requestTimeEpoch": int(time.time() * 1000),
            "domainName": (header_map.get("host") or ["localhost"])[-1],
            "identity": {"sourceIp": client[0], "userAgent": (header_map.get("user-agent") or [""])[-1]},
        }

    async def _forward_asgi(self, app, scope, headers, request_context, receive, send):
        """Streaming functions: the ASGI app itself, as the Lambda Web Adapter would run it."""
        context_header = json.dumps(request_context, separators=(",", ":")).encode()
        new_scope = dict(scope)
        new_scope["headers"] = headers + [(b"x-amzn-request-context", context_header)]
        await app(new_scope, receive, send)

    async def _invoke_buffered(self, handler, route, scope, method, path, headers, query, path_params,
                               request_context, body: bytes, send, base_ctx):
        header_map = _header_map(headers)
        content_type = (header_map.get("content-type") or [""])[-1].split(";")[0].strip().lower()
        is_binary = any(fnmatch.fnmatchcase(content_type, t) for t in self.api.binary_media_types)
        if body and not is_binary:
            try:
                event_body, is_b64 = bytes(body).decode("utf-8"), False
            except UnicodeDecodeError:
                event_body, is_b64 = base64.b64encode(bytes(body)).decode(), True
        elif body:
            event_body, is_b64 = base64.b64encode(bytes(body)).decode(), True
        else:
            event_body, is_b64 = None, False
        event = {
            **_request_fields(route, method, path, header_map, query, path_params),
            "requestContext": request_context,
            "body": event_body,
            "isBase64Encoded": is_b64,
        }
        try:
            result = await anyio.to_thread.run_sync(
                _call_in_thread, handler, event, _LambdaContext(route.function.logical_id))
        except Exception as exc:  # noqa: BLE001 - a crashed Lambda is API Gateway's 502
            log.exception("function %s raised", route.function.logical_id)
            return await self._gateway_response(send, "DEFAULT_5XX", {**base_ctx, "error.messageString":
                                                json.dumps(f"function error: {type(exc).__name__}")}, 502,
                                                "Internal server error")
        await _send_proxy_result(send, result)

    async def _method_not_allowed(self, send, method: str, allowed: list[str], values: dict):
        """A path some route serves, with another method: 405 naming the methods it takes (API
        Gateway itself answers MISSING_AUTHENTICATION_TOKEN, the template's 404, for these), with
        the headers of the template's 404 and its body's shape."""
        if self.api.cors is not None:
            allowed = sorted({*allowed, "OPTIONS"})  # the preflight, which the gateway answers itself
        allow = ", ".join(allowed)
        body = gateway_error_body(405, f"method {method} not allowed; allowed: {allow}", values["requestId"],
                                  "invalid_request_error").encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"allow", allow.encode())]
        for name, value in _response_headers(self.api.responses.get("MISSING_AUTHENTICATION_TOKEN"), values).items():
            headers.append((name.lower().encode(), str(value).encode()))
        await send({"type": "http.response.start", "status": 405, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _gateway_response(self, send, kind: str, values: dict, default_status: int, default_message: str,
                                *, close: bool = False):
        response = self.api.responses.get(kind)
        if response is None:
            family = "DEFAULT_5XX" if default_status >= 500 else "DEFAULT_4XX"
            response = self.api.responses.get(family)
        values = {**values}
        values.setdefault("error.message", default_message)
        values.setdefault("error.messageString", json.dumps(values["error.message"]))
        if response is None:
            body, status, extra = json.dumps({"message": default_message}), default_status, {}
        else:
            body = _render(response.template, values) if response.template else json.dumps({"message": default_message})
            status = response.status or default_status
            extra = _response_headers(response, values)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body.encode())).encode())]
        if close:
            headers.append((b"connection", b"close"))
        headers += [(k.encode(), str(v).encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body.encode()})


def _response_headers(response, values: dict) -> dict:
    """A Gateway Response's headers: a quoted literal as written, else the named context value."""
    out = {}
    for name, expr in (response.headers if response is not None else {}).items():
        expr = expr.strip()
        out[name] = expr[1:-1] if expr.startswith("'") else values.get(expr.removeprefix("context."), "")
    return out


def gateway_error_body(status: int, message: str, request_id: str, error_type: str) -> str:
    """An error in the Gateway Responses' JSON shape (every protocol's fields at once: Coze's code and
    msg, OpenAI's error, AgentChat's status_code, AIFlowy's errorCode), built by a JSON encoder."""
    return json.dumps({"code": status, "msg": message, "message": message, "request_id": request_id,
                       "error": {"message": message, "type": error_type, "param": None, "code": status},
                       "status_code": status, "status_message": message, "errorCode": status})


async def _send_empty(send, status: int, headers: dict[str, str]) -> None:
    raw = [(k.encode(), v.encode()) for k, v in headers.items()] + [(b"content-length", b"0")]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": b""})


def _declared_length(headers) -> int:
    """The request's Content-Length (0 when absent or not a number)."""
    for key, value in headers:
        if key.lower() == b"content-length":
            try:
                return int(value.strip())
            except ValueError:
                return 0
    return 0


async def _read_body(receive, limit: int) -> bytes | None:
    """The whole request body, or None as soon as it grows past `limit` (nothing more is read)."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        body.extend(message.get("body", b""))
        if len(body) > limit:
            return None
        if not message.get("more_body"):
            break
    return bytes(body)


def _replay(body: bytes, receive):
    """An ASGI receive that hands over the already-read body once, then the client's own
    messages (a disconnect, which a streaming turn watches for)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed():
        if pending:
            return pending.pop()
        return await receive()

    return replayed


def _request_fields(route: Route, method: str, path: str, header_map: dict, query, path_params) -> dict:
    """What API Gateway's REST proxy event and REQUEST authorizer event share."""
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": method,
        "headers": {k: v[-1] for k, v in header_map.items()},
        "multiValueHeaders": header_map,
        "queryStringParameters": dict(query) or None,
        "multiValueQueryStringParameters": _multi(query) or None,
        "pathParameters": path_params or None,
        "stageVariables": None,
    }


def _header_map(headers) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in headers:
        out.setdefault(key.decode("latin-1").lower(), []).append(value.decode("latin-1"))
    return out


def _multi(query) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in query:
        out.setdefault(key, []).append(value)
    return out


async def _send_proxy_result(send, result: dict) -> None:
    status = int(result.get("statusCode", 200))
    headers: list[tuple[bytes, bytes]] = []
    multi = result.get("multiValueHeaders") or {}
    for key, values in multi.items():
        for value in values:
            headers.append((key.lower().encode(), str(value).encode("latin-1")))
    for key, value in (result.get("headers") or {}).items():
        if key not in multi:
            headers.append((key.lower().encode(), str(value).encode("latin-1")))
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    headers = [(k, v) for k, v in headers if k != b"content-length"]
    headers.append((b"content-length", str(len(raw)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})


def build(template_path: str | Path, region: str = "us-east-1", access_log_sink=None) -> LocalGateway:
    from agentgate.local.template import load

    return LocalGateway(load(Path(template_path)), region=region, access_log_sink=access_log_sink)
