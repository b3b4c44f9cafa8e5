"""Local servers a bot's tools can call in tests: a plain HTTP tool and an MCP server (the official
`mcp` SDK's MCPServer over Streamable HTTP), each on a free loopback port in a thread."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _WeatherHandler(BaseHTTPRequestHandler):
    calls: list = []

    def _answer(self, params: dict) -> None:
        type(self).calls.append({"path": self.path, "params": params, "auth": self.headers.get("Authorization")})
        body = json.dumps({"city": params.get("city"), "forecast": "sunny, 21 C"}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        self._answer(query)

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("content-length") or 0)
        self._answer(json.loads(self.rfile.read(length) or b"{}"))

    def log_message(self, *args):  # quiet
        pass


def start_http_tool() -> tuple[str, list, callable]:
    """(base URL, the calls it received, stop)."""
    _WeatherHandler.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _WeatherHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", _WeatherHandler.calls, server.shutdown


def start_mcp_server() -> tuple[str, callable]:
    """An MCP server with one tool, `forecast(city)`, at http://127.0.0.1:PORT/mcp."""
    import uvicorn
    from mcp.server.mcpserver import MCPServer

    mcp = MCPServer("weather")

    @mcp.tool()
    def forecast(city: str) -> str:
        """The weather forecast for a city."""
        return f"MCP forecast for {city}: light rain, 14 C"

    port = free_port()
    app = mcp.streamable_http_app(stateless_http=True, json_response=True)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)

    def stop():
        server.should_exit = True
        thread.join(timeout=5)

    return f"http://127.0.0.1:{port}/mcp", stop
