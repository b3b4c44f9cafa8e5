"""Tool kinds called for real over loopback: an HTTP tool and an MCP server (official SDK)."""

from __future__ import annotations

import asyncio

import pytest

from agentgate import tools
from agentgate.tools import ToolContext, ToolSpec
from tool_servers import free_port


def _spec(impl: dict, name="weather") -> ToolSpec:
    return ToolSpec(tool_id="1", name=name, description="", parameters={}, implementation=impl)


def test_http_tool_sends_arguments_and_secrets(http_tool, monkeypatch):
    base, calls = http_tool
    monkeypatch.setenv("AGENTGATE_HTTP_ALLOW_HOSTS", "127.0.0.1")
    impl = tools.validate_implementation({"kind": "http", "url": f"{base}/weather",
                                          "headers": {"Authorization": {"secret": "WEATHER"}}})
    ctx = ToolContext(owner_id="o", secrets={"WEATHER": "Bearer w-123"})
    out, ok = asyncio.run(tools.call(_spec(impl), '{"city": "Paris"}', ctx))
    assert ok and '"forecast": "sunny, 21 C"' in out
    assert calls[-1]["params"] == {"city": "Paris"} and calls[-1]["auth"] == "Bearer w-123"


def test_http_tool_refused_without_the_allow_list(http_tool):
    base, _ = http_tool
    with pytest.raises(tools.ToolConfigError):
        tools.validate_implementation({"kind": "http", "url": f"{base}/weather"})


def test_mcp_tool_calls_the_servers_tool(mcp_url, monkeypatch):
    monkeypatch.setenv("AGENTGATE_HTTP_ALLOW_HOSTS", "127.0.0.1")
    impl = tools.validate_implementation({"kind": "mcp", "url": mcp_url, "tool_name": "forecast"})
    out, ok = asyncio.run(tools.call(_spec(impl, "forecast"), '{"city": "Oslo"}', ToolContext(owner_id="o")))
    assert ok, out
    assert out == "MCP forecast for Oslo: light rain, 14 C"


def test_an_mcp_server_that_does_not_answer_ends_in_an_error_not_a_hang(monkeypatch):
    import socket

    monkeypatch.setenv("AGENTGATE_HTTP_ALLOW_HOSTS", "127.0.0.1")
    monkeypatch.setenv("AGENTGATE_TOOL_TIMEOUT_S", "1")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts, never answers
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/mcp"
        impl = tools.validate_implementation({"kind": "mcp", "url": url, "tool_name": "forecast"})
        out, ok = asyncio.run(tools.call(_spec(impl, "forecast"), "{}", ToolContext(owner_id="o")))
    finally:
        silent.close()
    assert not ok and out.startswith("error:")


def test_mcp_server_down_is_an_error_for_the_model(monkeypatch):
    monkeypatch.setenv("AGENTGATE_HTTP_ALLOW_HOSTS", "127.0.0.1")
    impl = tools.validate_implementation({"kind": "mcp", "url": f"http://127.0.0.1:{free_port()}/mcp",
                                          "tool_name": "forecast"})
    out, ok = asyncio.run(tools.call(_spec(impl, "forecast"), "{}", ToolContext(owner_id="o")))
    assert not ok and "MCP server failed" in out
