"""Outbound HTTP under one policy: https only, no private or local addresses, bounded time and size.

- Scheme: https. Plain http only to hosts the operator lists in `AGENTGATE_HTTP_ALLOW_HOSTS`
  (comma separated host names or host:port; empty by default). Listed hosts also skip the
  private-address refusal: that is how a deployment reaches an internal service on purpose, and
  how the tests reach a local stub.
- Addresses: the host is normalised the way an HTTP client resolves it (decimal, octal and hex
  IPv4 spellings, IPv4-mapped IPv6, trailing dots) and every address it resolves to must be
  global; localhost, *.internal, *.local and link-local (169.254.169.254, the metadata service)
  are refused.
- Time: one deadline for connect + response; size: the body is read up to `max_bytes` and a
  larger one is refused, never buffered whole. Redirects are not followed (each hop would need
  the same checks).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from agentgate.config import settings


class OutboundRefused(Exception):
    """The URL may not be fetched, or the answer broke a limit. The message says why."""


@dataclass(frozen=True)
class OutboundResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def allowed_hosts() -> set[str]:
    return {h.rstrip(".") for h in settings().http_allow_hosts}


def parse_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address an HTTP client would connect to for a literal host, in any spelling."""
    host = host.strip("[]").rstrip(".").lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            # inet_aton accepts what C resolvers accept: 2852039166, 0xA9FEA9FE, 0251.0376.0251.0376, 169.254.43518
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except (OSError, ValueError):
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def internal_host(host: str) -> bool:
    """True for names and literal addresses that point inside: loopback, private, link-local ..."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith((".localhost", ".internal", ".local")):
        return True
    address = parse_ip(name)
    return address is not None and not address.is_global


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
    if not listed and internal_host(parts.hostname):
        raise OutboundRefused("the URL points at a private or local address")
    return parts.hostname, listed


async def _check_resolved(host: str, port: int) -> None:
    """Every address the name resolves to must be global (a public name may point inside)."""
    if parse_ip(host) is not None:
        return
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OutboundRefused(f"the host {host!r} does not resolve") from exc
    for info in infos:
        address = parse_ip(info[4][0])
        if address is None or not address.is_global:
            raise OutboundRefused("the URL's host resolves to a private or local address")


def http_library():
    """The HTTP client of the model layer (httpx2, the openai SDK's and the MCP client's); httpx
    where only that is installed. Every caller runs in a function that has the model layer."""
    try:
        import httpx2
    except ImportError:
        import httpx

        return httpx
    return httpx2


async def fetch(method: str, url: str, *, headers: dict[str, str] | None = None, body: bytes | None = None,
                json_body=None, timeout_s: float = 10.0, max_bytes: int = 1024 * 1024) -> OutboundResponse:
    """One request under the policy above. Raises OutboundRefused (policy, size, time, network)."""
    httpx = http_library()

    host, listed = check_url(url)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        async with asyncio.timeout(timeout_s):
            if not listed:
                await _check_resolved(host, port)
            async with httpx.AsyncClient(follow_redirects=False, timeout=timeout_s, trust_env=False) as client:
                async with client.stream(method.upper(), url, headers=headers, content=body, json=json_body) as resp:
                    declared = resp.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > max_bytes:
                        raise OutboundRefused(f"the response is larger than {max_bytes} bytes")
                    chunks, size = [], 0
                    async for chunk in resp.aiter_bytes():
                        size += len(chunk)
                        if size > max_bytes:
                            raise OutboundRefused(f"the response is larger than {max_bytes} bytes")
                        chunks.append(chunk)
                    return OutboundResponse(resp.status_code, dict(resp.headers), b"".join(chunks))
    except TimeoutError as exc:
        raise OutboundRefused(f"no answer within {timeout_s:g} s") from exc
    except httpx.HTTPError as exc:
        raise OutboundRefused(f"the request failed ({type(exc).__name__})") from exc
