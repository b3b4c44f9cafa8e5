"""HTTP tools: the model's arguments go to a fixed URL the owner defined.

implementation: {kind: "http", method: GET|POST|PUT|PATCH|DELETE, url, headers: {name: value or
{"secret": NAME}}}. GET sends the arguments as the query string, other methods as a JSON body.
Outbound policy (https, no private addresses, time and size caps) is agentgate.net.outbound's.
"""

from __future__ import annotations

from urllib.parse import urlencode

from agentgate.net import outbound
from agentgate.tools import ToolCallError, ToolConfigError, secret_ref

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
MAX_RESPONSE_BYTES = 256 * 1024


def validate(implementation: dict) -> dict:
    method = str(implementation.get("method", "GET")).upper()
    if method not in METHODS:
        raise ToolConfigError(f"implementation.method must be one of {', '.join(METHODS)}")
    url = implementation.get("url")
    if not isinstance(url, str) or len(url) > 2048:
        raise ToolConfigError("implementation.url is required")
    try:
        outbound.check_url(url)
    except outbound.OutboundRefused as exc:
        raise ToolConfigError(f"implementation.url: {exc}") from exc
    headers = implementation.get("headers") or {}
    if not isinstance(headers, dict) or len(headers) > 20:
        raise ToolConfigError("implementation.headers must be an object of at most 20 headers")
    for name, value in headers.items():
        if not isinstance(name, str) or not (isinstance(value, str) or (isinstance(value, dict) and set(value) == {"secret"})):
            raise ToolConfigError("each header is a string or {\"secret\": NAME}")
    return {"method": method, "url": url, "headers": headers}


async def call(tool, arguments: dict, ctx) -> str:
    impl = tool.implementation
    headers = {name: str(secret_ref(value, ctx)) for name, value in (impl.get("headers") or {}).items()}
    url, method = impl["url"], impl.get("method", "GET")
    try:
        if method == "GET":
            sep = "&" if "?" in url else "?"
            query = urlencode({k: v if isinstance(v, str) else str(v) for k, v in arguments.items()})
            resp = await outbound.fetch("GET", url + (sep + query if query else ""), headers=headers,
                                        max_bytes=MAX_RESPONSE_BYTES)
        else:
            resp = await outbound.fetch(method, url, headers=headers, json_body=arguments, max_bytes=MAX_RESPONSE_BYTES)
    except outbound.OutboundRefused as exc:
        raise ToolCallError(str(exc)) from exc
    if resp.status >= 400:
        raise ToolCallError(f"HTTP {resp.status}: {resp.text()[:500]}")
    return resp.text()
