"""IP allow-lists: CIDRs on a key, checked against the request's source address."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

MAX_ENTRIES = 50


def normalise(cidrs) -> list[str]:
    """Validated, canonical CIDRs (a bare address is a /32 or /128). Raises ValueError."""
    if cidrs is None:
        return []
    if isinstance(cidrs, str):
        cidrs = [c for c in cidrs.replace(",", " ").split()]
    out: list[str] = []
    for raw in cidrs:
        if not isinstance(raw, str) or not raw.strip():
            raise ValueError("allowed_ips holds CIDR strings such as 203.0.113.0/24 or 2001:db8::/32")
        try:
            net = ipaddress.ip_network(raw.strip(), strict=False)
        except ValueError as exc:
            raise ValueError(f"allowed_ips: {raw!r} is not an IP address or CIDR") from exc
        if str(net) not in out:
            out.append(str(net))
    if len(out) > MAX_ENTRIES:
        raise ValueError(f"allowed_ips holds at most {MAX_ENTRIES} entries")
    return out


@lru_cache(maxsize=1024)
def _networks(cidrs: tuple[str, ...]):
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def allowed(source_ip: str | None, cidrs: tuple[str, ...]) -> bool:
    """Whether `source_ip` lies in one of `cidrs`; an unknown address never does."""
    if not cidrs:
        return True
    if not source_ip:
        return False
    try:
        ip = ipaddress.ip_address(source_ip.strip())
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:203.0.113.9 is 203.0.113.9
    return any(ip.version == net.version and ip in net for net in _networks(tuple(cidrs)))
