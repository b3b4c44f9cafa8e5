"""Child process of bench/run.py: one Lambda-like cold import of a function's entry module.

    python bench/import_probe.py FUNCTION_DIR [--with-uvicorn]

sys.path as in Lambda: the function folder (/var/task) first, then the layer (shared/ = /opt/python).
Prints one JSON line: import_ms (exec of the entry module by path), peak RSS (VmHWM) after it, and every
network attempt (connect / getaddrinfo) made while importing. --with-uvicorn also imports uvicorn
first, as functions/chat/run.sh does (`python -m uvicorn ... app:app`).
"""

from __future__ import annotations

import json
import resource
import socket
import sys
import time
from pathlib import Path

MARK_START = "### bench import start"
MARK_END = "### bench import end"


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for row in f:
                if row.startswith(field + ":"):
                    return int(row.split()[1])
    except OSError:
        pass
    return None


def peak_rss_kb() -> int:
    """This process's peak RSS. /proc's VmHWM belongs to this program's own memory map;
    ru_maxrss can carry the parent's peak across fork+exec, so it is only the fallback."""
    return _status_kb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def current_rss_kb() -> int:
    return _status_kb("VmRSS") or 0


def main() -> None:
    fn_dir = Path(sys.argv[1]).resolve()
    with_uvicorn = "--with-uvicorn" in sys.argv
    shared = fn_dir.parents[1] / "shared"
    sys.path[:0] = [str(fn_dir), str(shared)]

    network: list[str] = []
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(self, address):
        network.append(f"connect {address!r}")
        return real_connect(self, address)

    def getaddrinfo(host, *args, **kwargs):
        network.append(f"getaddrinfo {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.getaddrinfo = getaddrinfo

    import importlib.util

    print(MARK_START, file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    if with_uvicorn:
        import uvicorn  # noqa: F401  (run.sh: python -m uvicorn)
    spec = importlib.util.spec_from_file_location("app", fn_dir / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    spec.loader.exec_module(module)
    elapsed = time.perf_counter() - t0
    print(MARK_END, file=sys.stderr, flush=True)

    socket.socket.connect, socket.getaddrinfo = real_connect, real_getaddrinfo
    rss_kb = peak_rss_kb()
    print(json.dumps({"import_ms": elapsed * 1000, "maxrss_kb": rss_kb, "network": network,
                      "modules": len(sys.modules)}))


if __name__ == "__main__":
    main()
