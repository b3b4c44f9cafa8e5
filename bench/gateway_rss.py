"""The local gateway's memory under junk Authorization headers (issue 7, point 5: the gateway's
half; the embedded store's half is the store benchmark's).

    .venv/bin/python bench/gateway_rss.py [--requests 500] [--header-bytes 1048576]

In one process: moto (mock_aws) for the tables, the gateway built from template.yaml, and
N requests, each with a distinct junk Authorization header of the given size. Prints the
process RSS before and after, and the authorizer cache's entry count (its cap is
AuthorizerCache.MAX_ENTRIES; values over MAX_KEY_CHARS are never cached).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "shared"))


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for row in f:
            if row.startswith("VmRSS:"):
                return int(row.split()[1]) / 1024
    return 0.0


async def hammer(gateway, n: int, size: int) -> dict:
    import httpx

    statuses: dict[int, int] = {}
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url="http://local") as client:
        for i in range(n):
            junk = f"{i:08d}" + "j" * max(0, size - 8)
            r = await client.get("/v1/bots", headers={"Authorization": junk})
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
    return statuses


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--header-bytes", type=int, default=1024 * 1024)
    args = parser.parse_args()
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ["AWS_ACCESS_KEY_ID"] = os.environ["AWS_SECRET_ACCESS_KEY"] = "bench"
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    from moto import mock_aws

    with mock_aws():
        from agentgate.local import embedded
        from agentgate.local.gateway import AuthorizerCache, build

        embedded.ensure_storage()
        gateway = build(ROOT / "template.yaml")
        asyncio.run(hammer(gateway, 5, 64))  # warm: imports, first authorizer call
        gc.collect()
        before = rss_mb()
        statuses = asyncio.run(hammer(gateway, args.requests, args.header_bytes))
        gc.collect()
        after = rss_mb()
        print(json.dumps({
            "requests": args.requests, "header_bytes": args.header_bytes, "statuses": statuses,
            "rss_before_mb": round(before, 1), "rss_after_mb": round(after, 1),
            "rss_growth_mb": round(after - before, 1),
            "cache_entries": len(gateway.auth_cache), "cache_cap": AuthorizerCache.MAX_ENTRIES,
            "cache_max_key_chars": AuthorizerCache.MAX_KEY_CHARS,
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
