"""`bedrock`: Amazon Bedrock's ConverseStream through boto3.

"bedrock/<model id or inference profile>" e.g. "bedrock/anthropic.claude-3-haiku-20240307-v1:0".
Region: the provider's `region` in AGENTGATE_PROVIDERS, else AGENTGATE_BEDROCK_REGION, else the
function's region. Credentials: the usual boto3 chain (the Lambda role). Timeouts and retries
share AGENTGATE_UPSTREAM_TIMEOUT_S / AGENTGATE_UPSTREAM_MAX_RETRIES with the openai provider.

boto3 blocks, so a worker thread reads the event stream and hands each event to the event loop
as it arrives (no batching); closing the generator closes the stream, so Bedrock stops.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import threading
from typing import Any, AsyncIterator, Iterable

from agentgate.config import settings
from agentgate.runner.events import Error, Event, Finish, TextDelta, ToolCall, Usage
from agentgate.runner.prompt import text_of
from agentgate.runner.providers.config import ProviderConfig

log = logging.getLogger(__name__)

_STOP = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
         "guardrail_intervened": "stop", "content_filtered": "stop"}
_IMAGE_FORMATS = {"png": "png", "jpeg": "jpeg", "jpg": "jpeg", "gif": "gif", "webp": "webp"}

_clients: dict[tuple[str, float, int], Any] = {}
_clients_lock = threading.Lock()


class BadRequest(ValueError):
    """The messages cannot be expressed in Converse (e.g. an image given by http URL)."""


# ---- request mapping (OpenAI-style messages -> Converse) ---------------------------------------


def _image_block(url: str) -> dict[str, Any]:
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        mime = header[5:].split(";")[0]  # image/png
        fmt = _IMAGE_FORMATS.get(mime.rpartition("/")[2].lower())
        if not fmt or ";base64" not in header:
            raise BadRequest(f"unsupported image for Bedrock: {mime or 'unknown type'} (use base64 png, jpeg, gif or webp)")
        return {"image": {"format": fmt, "source": {"bytes": base64.b64decode(data)}}}
    if url.startswith("s3://"):
        fmt = _IMAGE_FORMATS.get(url.rpartition(".")[2].lower())
        if not fmt:
            raise BadRequest("an s3:// image must end in .png, .jpeg, .jpg, .gif or .webp")
        return {"image": {"format": fmt, "source": {"s3Location": {"uri": url}}}}
    raise BadRequest("Bedrock takes images only as base64 data: URLs or s3:// URIs")


def _content_blocks(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content.strip() else []  # Bedrock rejects blank text blocks
    blocks: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and str(part.get("text", "")).strip():
            blocks.append({"text": str(part["text"])})
        elif kind == "image_url":
            image = part.get("image_url")
            blocks.append(_image_block(image.get("url", "") if isinstance(image, dict) else str(image)))
    return blocks


def _tool_use_blocks(tool_calls: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    blocks = []
    for tc in tool_calls or ():
        fn = tc.get("function") or {}
        try:
            args = json.loads(fn.get("arguments") or "{}")
        except ValueError:
            args = {"input": fn.get("arguments")}
        blocks.append({"toolUse": {"toolUseId": tc.get("id", ""), "name": fn.get("name", ""), "input": args}})
    return blocks


def to_converse_messages(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system blocks, messages). Converse wants system apart, roles alternating, user first."""
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for m in messages:
        role = m.get("role")
        if role in ("system", "developer"):
            text = text_of(m.get("content"))
            if text.strip():
                system.append({"text": text})
            continue
        if role == "tool":
            role, blocks = "user", [{"toolResult": {"toolUseId": m.get("tool_call_id") or "",
                                                    "content": [{"text": text_of(m.get("content")) or " "}]}}]
        elif role == "assistant":
            blocks = _content_blocks(m.get("content")) + _tool_use_blocks(m.get("tool_calls"))
        else:
            role, blocks = "user", _content_blocks(m.get("content"))
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)  # merge: Converse rejects two turns of one role in a row
        else:
            out.append({"role": role, "content": blocks})
    while out and out[0]["role"] != "user":
        out.pop(0)  # a trimmed memory window may start with the assistant
    return system, out


def _tool_config(params: dict[str, Any]) -> dict[str, Any] | None:
    tools = []
    for tool in params.get("tools") or ():
        fn = tool.get("function", tool) if isinstance(tool, dict) else {}
        if fn.get("name"):
            spec: dict[str, Any] = {"name": fn["name"], "inputSchema": {"json": fn.get("parameters") or {"type": "object"}}}
            if fn.get("description"):
                spec["description"] = fn["description"]
            tools.append({"toolSpec": spec})
    if not tools:
        return None
    config: dict[str, Any] = {"tools": tools}
    choice = params.get("tool_choice")
    if choice == "required":
        config["toolChoice"] = {"any": {}}
    elif isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
        config["toolChoice"] = {"tool": {"name": choice["function"]["name"]}}
    return config


def build_request(messages: list[dict[str, Any]], model: str, params: dict[str, Any]) -> dict[str, Any]:
    """The ConverseStream request for one turn."""
    system, converse_messages = to_converse_messages(messages)
    request: dict[str, Any] = {"modelId": model, "messages": converse_messages}
    if system:
        request["system"] = system
    inference: dict[str, Any] = {}
    if params.get("max_tokens") is not None:
        inference["maxTokens"] = int(params["max_tokens"])
    if params.get("temperature") is not None:
        inference["temperature"] = float(params["temperature"])
    if params.get("top_p") is not None:
        inference["topP"] = float(params["top_p"])
    stop = params.get("stop")
    if stop:
        inference["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if inference:
        request["inferenceConfig"] = inference
    tool_config = _tool_config(params)
    if tool_config:
        request["toolConfig"] = tool_config
    return request


# ---- response mapping (ConverseStream events -> neutral events) --------------------------------


class ConverseEvents:
    """Turns ConverseStream events into neutral events; `end()` gives Usage and Finish."""

    def __init__(self) -> None:
        self.tools: dict[int, list[str]] = {}  # block index -> [id, name, input JSON so far]
        self.usage: Usage | None = None
        self.stop_reason: str | None = None

    def feed(self, event: dict[str, Any]) -> list[Event]:
        if "contentBlockDelta" in event:
            body = event["contentBlockDelta"]
            delta = body.get("delta") or {}
            if delta.get("text"):
                return [TextDelta(delta["text"])]
            if "toolUse" in delta:
                slot = self.tools.setdefault(body.get("contentBlockIndex", 0), ["", "", ""])
                slot[2] += delta["toolUse"].get("input") or ""
            return []
        if "contentBlockStart" in event:
            body = event["contentBlockStart"]
            tool = (body.get("start") or {}).get("toolUse")
            if tool:
                self.tools[body.get("contentBlockIndex", 0)] = [tool.get("toolUseId", ""), tool.get("name", ""), ""]
            return []
        if "contentBlockStop" in event:
            slot = self.tools.pop(event["contentBlockStop"].get("contentBlockIndex", 0), None)
            if slot:
                return [ToolCall(id=slot[0], name=slot[1], arguments=slot[2] or "{}")]
            return []
        if "messageStop" in event:
            self.stop_reason = event["messageStop"].get("stopReason")
            return []
        if "metadata" in event:
            usage = event["metadata"].get("usage") or {}
            self.usage = Usage(int(usage.get("inputTokens") or 0), int(usage.get("outputTokens") or 0))
            return []
        for key, body in event.items():
            if key.endswith("Exception"):
                message = (body or {}).get("message", "") if isinstance(body, dict) else str(body)
                return [_error_for(key[0].upper() + key[1:], message)]
        return []  # messageStart and anything new

    def end(self) -> list[Event]:
        out: list[Event] = [ToolCall(id=s[0], name=s[1], arguments=s[2] or "{}") for s in self.tools.values()]
        self.tools.clear()
        if self.usage is not None:
            out.append(self.usage)
        out.append(Finish(_STOP.get(self.stop_reason or "", "stop")))
        return out


def events_from(stream: Iterable[dict[str, Any]]) -> list[Event]:
    """All neutral events of a finished stream (for tests and tools; the provider streams)."""
    handler = ConverseEvents()
    out: list[Event] = []
    for event in stream:
        produced = handler.feed(event)
        out.extend(produced)
        if any(isinstance(e, Error) for e in produced):
            return out + [Finish("error")]
    return out + handler.end()


def _error_for(code: str, message: str) -> Error:
    if code == "ValidationException":
        return Error(f"upstream rejected the request: {message}", code="upstream_rejected", status=400)
    if code == "ResourceNotFoundException":
        return Error(f"upstream rejected the request: {message}", code="upstream_rejected", status=404)
    if code in ("AccessDeniedException", "UnrecognizedClientException", "ExpiredTokenException"):
        return Error(f"upstream authentication failed: Bedrock denied access ({code})",
                     code="upstream_auth_failed", status=502)
    if code in ("ThrottlingException", "ServiceQuotaExceededException", "TooManyRequestsException"):
        return Error(f"upstream rate limit reached: {message}", code="upstream_rate_limited", status=429)
    if code == "ModelTimeoutException":
        return Error("the Bedrock model timed out", code="upstream_timeout", status=504)
    return Error(f"upstream error ({code}): {message}", code="upstream_error", status=502)


def bedrock_error(exc: BaseException) -> Error:
    """A boto3 exception as an Error event."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        err = exc.response.get("Error", {})
        return _error_for(str(err.get("Code", "")), str(err.get("Message", ""))[:500])
    if isinstance(exc, (bx.ReadTimeoutError, bx.ConnectTimeoutError)):
        return Error("the Bedrock model timed out", code="upstream_timeout", status=504)
    if isinstance(exc, bx.NoCredentialsError):
        return Error("no AWS credentials for Bedrock", code="upstream_auth_failed", status=502)
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectionError, bx.HTTPClientError)):
        return Error("could not connect to Bedrock", code="upstream_error", status=502)
    return Error(f"Bedrock call failed ({type(exc).__name__})", code="upstream_error", status=502)


# ---- the provider ------------------------------------------------------------------------------


class BedrockProvider:
    def __init__(self, config: ProviderConfig | None = None, client: Any = None) -> None:
        self.config = config or ProviderConfig("bedrock", "bedrock")
        self._client = client  # tests pass a stubbed client

    def client(self) -> Any:
        if self._client is not None:
            return self._client
        region = self.config.get("region") or os.environ.get("AGENTGATE_BEDROCK_REGION") or settings().region
        try:
            timeout = float(os.environ.get("AGENTGATE_UPSTREAM_TIMEOUT_S") or 60)
            retries = int(os.environ.get("AGENTGATE_UPSTREAM_MAX_RETRIES") or 1)
        except ValueError:
            timeout, retries = 60.0, 1
        key = (str(region), timeout, retries)
        with _clients_lock:  # boto3's default session is not safe to build clients concurrently
            client = _clients.get(key)
            if client is None:
                import boto3  # lazily: not every function calls Bedrock
                from botocore.config import Config

                client = boto3.client("bedrock-runtime", region_name=str(region), config=Config(
                    connect_timeout=min(5.0, timeout), read_timeout=timeout,
                    retries={"max_attempts": retries + 1, "mode": "standard"}))
                _clients[key] = client
        return client

    async def stream(self, messages: list[dict[str, Any]], model: str, params: dict[str, Any]) -> AsyncIterator[Event]:
        try:
            request = build_request(messages, model, params)
        except BadRequest as exc:
            yield Error(str(exc), code="bad_request", status=400)
            yield Finish("error")
            return
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()
        opened: dict[str, Any] = {}

        def post(kind: str, item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (kind, item))
            except RuntimeError:  # the loop is gone: nobody is listening any more
                stop.set()

        def work() -> None:
            try:
                stream = self.client().converse_stream(**request)["stream"]
                opened["stream"] = stream
                for event in stream:
                    if stop.is_set():  # the consumer left before the stream was open: close it here
                        stream.close()
                        break
                    post("event", event)
            except Exception as exc:  # noqa: BLE001 - handed to the loop, mapped there
                if not stop.is_set():
                    post("error", exc)
            finally:
                post("end", None)

        threading.Thread(target=work, name="bedrock-stream", daemon=True).start()
        handler = ConverseEvents()
        try:
            while True:
                kind, item = await queue.get()
                if kind == "end":
                    break
                if kind == "error":
                    yield bedrock_error(item)
                    yield Finish("error")
                    return
                for out in handler.feed(item):
                    yield out
                    if isinstance(out, Error):
                        yield Finish("error")
                        return
            for out in handler.end():
                yield out
        finally:
            stop.set()
            stream = opened.get("stream")
            if stream is not None:
                try:
                    stream.close()  # drops the connection: Bedrock stops generating
                except Exception:  # noqa: BLE001
                    log.debug("closing the Bedrock stream failed", exc_info=True)
