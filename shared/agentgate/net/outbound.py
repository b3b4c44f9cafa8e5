"""Outbound HTTP under one policy: https only, no private or local addresses, bounded time and size.

- Scheme: https. Plain http only to hosts the operator lists in `AGENTGATE_HTTP_ALLOW_HOSTS`
  (comma separated host names or host:port; empty by default). Listed hosts also skip the
  private-address refusal: that is how a deployment reaches an internal service on purpose, and
  how the tests reach a local stub.
- Addresses: the host is normalised the way an HTTP client resolves it (agentgate.net.hosts:
  decimal, octal and hex IPv4 spellings, IPv6 with an embedded IPv4, trailing dots) and every
  address it resolves to must be global; localhost, *.internal, *.local and link-local
  (169.254.169.254, the metadata service) are refused.
- Time: one deadline for connect + response; size: the body is read up to `max_bytes` and a
  larger one is refused, never buffered whole. Redirects are not followed (each hop would need
  the same checks).

One module for every outbound call a user's definition makes: HTTP tools, MCP servers and the
workflow http node. A refusal carries the HTTP status its caller reports (OutboundRefused.status).
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from agentgate.config import settings
from agentgate.net import hosts


class OutboundRefused(Exception):
    """The URL may not be fetched, or the answer broke a limit. The message says why; `status`
    is the HTTP status that fits (400 a URL policy refuses, 403 an internal address, 413 too
    large, 502 the network or the host failed, 504 no answer in time)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class OutboundResponse:
    status: int
    headers: dict[str, str]  # names in lower case (httpx2's Headers)
    body: bytes
    encoding: str | None = None

    def text(self) -> str:
        return self.body.decode(self.encoding or "utf-8", errors="replace")


def allowed_hosts() -> set[str]:
    return {h.rstrip(".") for h in settings().http_allow_hosts}


def _host_key(host: str, port: int | None) -> set[str]:
    name = host.strip("[]").rstrip(".").lower()
    return {name, f"{name}:{port}"} if port else {name}


def check_url(url: str) -> tuple[str, bool]:
    """Refuse what policy forbids; returns (host, listed) for a URL that may be tried."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundRefused("the URL must be an absolute https URL")
    if parts.username or parts.password:
        raise OutboundRefused("credentials in the URL are not allowed; use headers with secrets")
    listed = bool(_host_key(parts.hostname, parts.port) & allowed_hosts())
    if parts.scheme != "https" and not listed:
        raise OutboundRefused("only https URLs may be called (plain http only to hosts in AGENTGATE_HTTP_ALLOW_HOSTS)")
    if not listed and hosts.is_internal(parts.hostname):
        raise OutboundRefused(f"{parts.hostname} is a private or local address", 403)
    return parts.hostname, listed


async def _check_resolved(host: str, port: int) -> None:
    """Every address the name resolves to must be global (a public name may point inside)."""
    if not isinstance(hosts.normalize(host), str):
        return  # a literal address: check_url has judged it
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise OutboundRefused(f"the host {host!r} does not resolve", 502) from exc
    for info in infos:
        if hosts.is_internal(info[4][0]):
            raise OutboundRefused(f"{host} resolves to a private or local address", 403)


async def fetch(method: str, url: str, *, headers: dict[str, str] | None = None, params: dict | None = None,
                body: bytes | str | None = None, json_body=None, timeout_s: float = 10.0,
                max_bytes: int = 1024 * 1024, size_hint: str = "") -> OutboundResponse:
    """One request under the policy above. Raises OutboundRefused (policy, size, time, network);
    `size_hint` is appended to a size refusal (the setting that raises the cap)."""
    import httpx2  # the openai SDK's HTTP client: in the layer already

    host, listed = check_url(url)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    too_large = f"the response is larger than {max_bytes} bytes{size_hint}"
    try:
        async with asyncio.timeout(timeout_s):
            if not listed:
                await _check_resolved(host, port)
            async with httpx2.AsyncClient(follow_redirects=False, timeout=timeout_s, trust_env=False) as client:
                async with client.stream(method.upper(), url, headers=headers, params=params or None,
                                         content=body, json=json_body) as resp:
                    declared = resp.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > max_bytes:
                        raise OutboundRefused(too_large, 413)
                    chunks, size = [], 0
                    async for chunk in resp.aiter_bytes():
                        size += len(chunk)
                        if size > max_bytes:
                            raise OutboundRefused(too_large, 413)
                        chunks.append(chunk)
                    return OutboundResponse(resp.status_code, dict(resp.headers), b"".join(chunks), resp.encoding)
    except (TimeoutError, httpx2.TimeoutException) as exc:
        raise OutboundRefused(f"{host} did not answer within {timeout_s:g} s", 504) from exc
    except httpx2.HTTPError as exc:
        raise OutboundRefused(f"the request to {host} failed ({type(exc).__name__})", 502) from exc
