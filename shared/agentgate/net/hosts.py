"""Is a URL's host private or local? Decided on the host as an HTTP client would resolve it.

Clients (curl, httpx, browsers, the model providers that fetch image URLs) accept IPv4 in the
forms of inet_aton: one decimal number (`2852039166`), octal (`0251.0376.0251.0376`), hex
(`0xa9fea9fe`), shortened (`169.254.43518`); IPv6 with an embedded IPv4 (`::ffff:a9fe:a9fe`,
`::169.254.169.254`, NAT64 `64:ff9b::`); and names with a trailing dot (`localhost.`). Every
form is normalised to one address (or name) before the check.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata

_NUMERIC_V4 = re.compile(r"^[0-9a-fx.]+$")
_IDNA_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
_LOCAL_NAMES = ("localhost",)
_LOCAL_SUFFIXES = (".localhost", ".internal", ".local", ".localdomain", ".home.arpa")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def normalize(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | str:
    """The address `host` denotes (IPv6 with an embedded IPv4 becomes that IPv4), or the
    lower-cased name without trailing dots."""
    host = unicodedata.normalize("NFKC", host or "").translate(_IDNA_DOTS).strip().strip("[]").lower()
    host = host.rstrip(".")
    if "%" in host:  # an IPv6 zone id (fe80::1%eth0)
        host = host.split("%", 1)[0]
    if ":" in host:
        try:
            address = ipaddress.IPv6Address(host)
        except ValueError:
            return host
        return _embedded_v4(address) or address
    if host and _NUMERIC_V4.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            pass
    return host


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    value = int(address)
    if address in _NAT64:
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if value >> 32 == 0 and value > 1:  # IPv4-compatible ::a.b.c.d (not :: or ::1)
        return ipaddress.IPv4Address(value)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def is_internal(host: str) -> bool:
    """Whether `host` names this machine, a private network or a link-local/metadata address."""
    target = normalize(host)
    if isinstance(target, str):
        return not target or target in _LOCAL_NAMES or target.endswith(_LOCAL_SUFFIXES)
    return not target.is_global or target.is_multicast
