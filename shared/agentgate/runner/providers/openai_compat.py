"""`openai` and every OpenAI-compatible upstream (DashScope, Ollama, vLLM, LiteLLM ...).

Endpoint and key: the built-in "openai" provider reads OPENAI_BASE_URL / OPENAI_API_KEY; a named
provider from AGENTGATE_PROVIDERS gives `base_url` and `api_key` or `api_key_env` (the name of the
variable holding the key). Timeouts: AGENTGATE_UPSTREAM_TIMEOUT_S (default 60; it bounds each read,
i.e. the silence between two streamed chunks) with a smaller connect timeout. Retries before the
first byte: AGENTGATE_UPSTREAM_MAX_RETRIES (default 1; clients retry too, and retries multiply).

The openai SDK is imported on first use, never at module import (Lambda cold start).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import weakref
from typing import TYPE_CHECKING, Any, AsyncIterator

from agentgate.runner.events import Error, Event, Finish, TextDelta, ToolCall, Usage
from agentgate.runner.providers.config import ProviderConfig

if TYPE_CHECKING:
    from openai import AsyncOpenAI

# What reaches the upstream from the merged params (runner.types.PARAM_KEYS).
_FORWARD = ("temperature", "max_tokens", "top_p", "stop", "tools", "tool_choice", "user")
_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "function_call": "tool_calls",
           "content_filter": "stop"}
_SECRET_LIKE = re.compile(r"\b(sk|pat|key)-[A-Za-z0-9_\-*]{6,}")

# One client per event loop and endpoint: an httpx pool must not outlive the loop it was made on
# (tests run many loops; Lambda runs one, so in production this is one client per endpoint).
_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, AsyncOpenAI]]" = (
    weakref.WeakKeyDictionary()
)


class NotConfigured(Exception):
    pass


def prime() -> None:
    """Init work (agentgate.lifecycle): the SDK (~100+ ms to import) and its HTTP library, loaded
    before the first turn instead of by it."""
    import openai  # noqa: F401

    _transport_errors()


def _float_env(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name) or default)
    except ValueError:
        return default
    return value if value > 0 else default


def _int_env(name: str, default: int) -> int:
    try:
        return max(int(os.environ.get(name) or default), 0)
    except ValueError:
        return default


def scrub(text: str, secret: str | None) -> str:
    """Remove the key (and anything shaped like one) from text that may reach a client or a log."""
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    return _SECRET_LIKE.sub(lambda m: f"{m.group(1)}-***", text)


class OpenAIProvider:
    def __init__(self, config: ProviderConfig | None = None) -> None:
        self.config = config or ProviderConfig("openai", "openai")
        self.name = self.config.name

    # ---- configuration -------------------------------------------------------------------

    def endpoint(self) -> tuple[str | None, str]:
        """(base_url or None for the SDK default, api key). Raises NotConfigured."""
        cfg = self.config
        builtin = self.name == "openai"
        base_url = cfg.get("base_url") or (os.environ.get("OPENAI_BASE_URL") if builtin else None) or None
        key = cfg.get("api_key")
        key_env = cfg.get("api_key_env")
        if not key and key_env:
            key = os.environ.get(str(key_env))
        if not key and builtin:
            key = os.environ.get("OPENAI_API_KEY")
        if not key:
            where = str(key_env) if key_env else ("OPENAI_API_KEY" if builtin else f"api_key_env for {self.name!r}")
            raise NotConfigured(f"provider {self.name!r} has no API key: set {where}")
        if not base_url and not builtin:
            raise NotConfigured(f"provider {self.name!r} has no base_url in AGENTGATE_PROVIDERS")
        return (str(base_url) if base_url else None), str(key)

    def client(self) -> tuple["AsyncOpenAI", str]:
        import openai  # lazily: the SDK costs ~100+ ms to import

        base_url, key = self.endpoint()
        timeout = _float_env("AGENTGATE_UPSTREAM_TIMEOUT_S", 60.0)
        retries = _int_env("AGENTGATE_UPSTREAM_MAX_RETRIES", 1)
        cache_key = (base_url, key, timeout, retries)
        loop = asyncio.get_running_loop()
        per_loop = _clients.get(loop)
        if per_loop is None:
            for old in [other for other in _clients if other.is_closed()]:
                del _clients[old]  # a pool may reference its loop, so weak keys alone may not free it
            per_loop = _clients[loop] = {}
        client = per_loop.get(cache_key)
        if client is None:
            client = openai.AsyncOpenAI(
                api_key=key, base_url=base_url, max_retries=retries,
                timeout=openai.Timeout(timeout, connect=min(5.0, timeout)),
                # Our own pool, not the SDK's default one, whose __del__ closes it on whatever
                # loop runs at GC time: that fails for a pool from a loop that is gone.
                http_client=openai.DefaultAsyncHttpxClient(),
            )
            per_loop[cache_key] = client
        return client, key

    # ---- streaming -----------------------------------------------------------------------

    async def stream(self, messages: list[dict[str, Any]], model: str, params: dict[str, Any]) -> AsyncIterator[Event]:
        import openai

        try:
            client, key = self.client()
        except NotConfigured as exc:
            yield Error(str(exc), code="provider_not_configured", status=500)
            yield Finish("error")
            return
        kwargs = {k: params[k] for k in _FORWARD if params.get(k) is not None}
        timeout_errors, transport_errors = _transport_errors()
        try:
            # The SDK builds the request, retries, and maps HTTP errors; the body we parse
            # ourselves: its typed chunks cost ~100 us per delta, plain dicts a few. The messages
            # ride in extra_body (merged into the JSON as they are): the SDK's TypedDict transform
            # walks every part of every message, ~1-2 ms per request before the first byte, and
            # they are already plain JSON-ready dicts here.
            async with client.chat.completions.with_streaming_response.create(
                model=model, messages=[], stream=True, stream_options={"include_usage": True},
                extra_body={"messages": messages}, **kwargs
            ) as response:
                calls: dict[int, list[str]] = {}  # index -> [id, name, arguments so far]
                finish: str | None = None
                usage: Usage | None = None
                async for chunk in iter_sse_json(response.iter_bytes()):
                    if chunk.get("error"):
                        yield upstream_error(_StreamError(chunk["error"]), key, self.name)
                        yield Finish("error")
                        return
                    if chunk.get("usage"):
                        u = chunk["usage"]
                        usage = Usage(u.get("prompt_tokens") or 0, u.get("completion_tokens") or 0)
                    for choice in chunk.get("choices") or ():
                        delta = choice.get("delta")
                        if delta:
                            if delta.get("content"):
                                yield TextDelta(delta["content"])  # as it arrives: no batching
                            for tc in delta.get("tool_calls") or ():
                                _add_tool_delta(calls, tc)
                        if choice.get("finish_reason"):
                            finish = choice["finish_reason"]
                for index in sorted(calls):
                    call_id, name, arguments = calls[index]
                    yield ToolCall(id=call_id or f"call_{index}", name=name, arguments=arguments or "{}")
                if usage is not None:
                    yield usage
                yield Finish(_FINISH.get(finish or "", "tool_calls" if calls else "stop"))
            # Leaving the `async with` (also on cancel or close) closes the response: the
            # upstream sees the hang-up and stops generating.
        except openai.APIError as exc:
            yield upstream_error(exc, key, self.name)
            yield Finish("error")
        except timeout_errors:
            yield upstream_error(_Timeout(), key, self.name)
            yield Finish("error")
        except transport_errors:
            yield Error(f"the connection to the upstream model provider {self.name!r} broke",
                        code="upstream_error", status=502)
            yield Finish("error")
        except ValueError:  # a body that is not JSON
            yield Error(f"the upstream model provider {self.name!r} sent a malformed stream",
                        code="upstream_error", status=502)
            yield Finish("error")


async def iter_sse_json(chunks: AsyncIterator[bytes]) -> AsyncIterator[dict[str, Any]]:
    """The JSON objects in an SSE byte stream's `data:` fields, one per event, until [DONE]."""
    buf = b""
    async for chunk in chunks:
        buf += chunk
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n")
        while (cut := buf.find(b"\n\n")) >= 0:
            block, buf = buf[:cut], buf[cut + 2:]
            data = [line[5:].lstrip(b" ") for line in block.split(b"\n") if line.startswith(b"data:")]
            if not data:
                continue  # a comment or an event without data
            payload = b"\n".join(data)
            if payload == b"[DONE]":
                return
            obj = json.loads(payload)
            if isinstance(obj, dict):
                yield obj


class _StreamError(Exception):
    """An error object sent inside the stream (after HTTP 200)."""

    def __init__(self, body: Any) -> None:
        super().__init__(str(body))
        self.body = body if isinstance(body, dict) else {"message": str(body)}


class _Timeout(Exception):
    pass


def _transport_errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    # The SDK's HTTP library (httpx2 since openai 3, which the lock pins): raised while reading
    # the body, which the SDK does not wrap when we read it ourselves.
    import httpx2 as http

    return (http.TimeoutException,), (http.TransportError, OSError)


def _add_tool_delta(calls: dict[int, list[str]], tc: dict[str, Any]) -> None:
    # OpenAI streams a call as: id + name first, then the JSON arguments in pieces, per index.
    slot = calls.setdefault(tc.get("index") or 0, ["", "", ""])
    if tc.get("id"):
        slot[0] = tc["id"]
    fn = tc.get("function") or {}
    if fn.get("name"):
        slot[1] += fn["name"]
    if fn.get("arguments"):
        slot[2] += fn["arguments"]


def _detail(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:500]
    return str(getattr(exc, "message", "") or exc)[:500]


def upstream_error(exc: Exception, key: str | None, provider: str) -> Error:
    """An SDK exception as an Error event: a clear message without the key, a sensible status."""
    import openai

    if isinstance(exc, (openai.APITimeoutError, _Timeout)):
        return Error(f"the upstream model provider {provider!r} timed out", code="upstream_timeout", status=504)
    if isinstance(exc, openai.APIConnectionError):
        return Error(f"could not connect to the upstream model provider {provider!r}", code="upstream_error", status=502)
    detail = scrub(_detail(exc), key)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status == 401:
            return Error("upstream authentication failed (check the provider's API key)",
                         code="upstream_auth_failed", status=502)
        if status == 403:
            return Error(f"upstream denied access: {detail}", code="upstream_auth_failed", status=502)
        if status == 429:
            return Error(f"upstream rate limit reached: {detail}", code="upstream_rate_limited", status=429)
        if status in (408, 504):
            return Error(f"the upstream model provider {provider!r} timed out", code="upstream_timeout", status=504)
        if 400 <= status < 500:
            return Error(f"upstream rejected the request: {detail}", code="upstream_rejected",
                         status=status if status in (400, 404, 409, 413, 422) else 400)
        return Error(f"upstream error (HTTP {status}): {detail}", code="upstream_error", status=502)
    return Error(f"upstream error: {detail}", code="upstream_error", status=502)
