"""MCP tools: one tool of an MCP server, reached over Streamable HTTP with the official SDK.

implementation: {kind: "mcp", url, tool_name, headers: {name: value or {"secret": NAME}}}. The
URL follows the outbound policy (agentgate.net.outbound: https, no private addresses unless the
host is in AGENTGATE_HTTP_ALLOW_HOSTS); the whole call is bounded by the tool timeout, so a
server that does not answer ends the call with an error the model reads, never a hang.
The SDK is imported on the first MCP call only.
"""

from __future__ import annotations

from agentgate.config import settings
from agentgate.net import outbound
from agentgate.tools import ToolCallError, ToolConfigError, secret_ref
from agentgate.tools.http import validate as validate_http


def validate(implementation: dict) -> dict:
    tool_name = implementation.get("tool_name")
    if not isinstance(tool_name, str) or not tool_name or len(tool_name) > 128:
        raise ToolConfigError("implementation.tool_name (the MCP server's tool) is required")
    checked = validate_http({"url": implementation.get("url"), "headers": implementation.get("headers")})
    return {"url": checked["url"], "tool_name": tool_name, "headers": checked["headers"]}


def _text_of(result) -> str:
    parts = []
    for block in result.content or ():
        text = getattr(block, "text", None)
        parts.append(text if isinstance(text, str) else f"[{getattr(block, 'type', 'content')}]")
    if not parts and result.structured_content is not None:
        import json

        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return "\n".join(parts)


async def call(tool, arguments: dict, ctx) -> str:
    impl = tool.implementation
    try:
        host, listed = outbound.check_url(impl["url"])
    except outbound.OutboundRefused as exc:
        raise ToolCallError(str(exc)) from exc
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    headers = {name: str(secret_ref(value, ctx)) for name, value in (impl.get("headers") or {}).items()}
    timeout = float(settings().tool_timeout_s)
    try:
        async with httpx2.AsyncClient(headers=headers, timeout=timeout, trust_env=False) as http:
            transport = streamable_http_client(impl["url"], http_client=http)
            async with Client(transport, read_timeout_seconds=timeout, cache=None) as client:
                result = await client.call_tool(impl["tool_name"], arguments)
    except ToolCallError:
        raise
    except Exception as exc:  # noqa: BLE001 - unreachable server, protocol error: the model reads it
        raise ToolCallError(f"the MCP server failed ({type(exc).__name__}: {str(exc)[:200]})") from exc
    text = _text_of(result)
    if result.is_error:
        raise ToolCallError(text or "the MCP tool reported an error")
    return text
