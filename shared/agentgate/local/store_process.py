"""The embedded store process: moto's DynamoDB and S3 on one port, kept on disk.

    python -m agentgate.local.store_process [--data-dir DIR] [--host 127.0.0.1] [--port N]

`agentgate dev` starts it (embedded.start_store) and reads one JSON line from its stdout:
{"endpoint", "port", "pid", "restored": {tables, items, buckets, objects}, "restore_ms"}.

- Its own process: the store's memory and GIL are not the gateway's, and the benchmark can
  report the two apart.
- Cheap transactions (moto_tx): a bot write costs its items, not a copy of the bots table.
- With --data-dir: state in DIR/store.sqlite3 (persist.Persister), restored before serving;
  the port is remembered in DIR/store.json and taken again at the next start, so presigned file
  URLs (which name it) keep working across restarts. DIR/store.lock keeps a second store off the
  same data. Without --data-dir: memory only, any free port, nothing written.
- Requests are served one at a time (moto's backends are not thread-safe; this also makes a
  transaction atomic for readers and lets a flush see whole requests).
- Stops on SIGTERM, or when its stdin closes (the gateway died, even by SIGKILL), after writing
  what is left. Ctrl-C is the gateway's to handle: it stops the store when it has drained.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

PORT_FILE = "store.json"
LOCK_FILE = "store.lock"
LOCK_WAIT_S = 10.0
# X-Amz-Target operations that never change anything
_DDB_READS = ("Get", "BatchGet", "Query", "Scan", "TransactGet", "Describe", "List")


def _lock_data_dir(data_dir: Path):
    """Hold DIR/store.lock for the life of the process; wait a little for a store still stopping."""
    handle = open(data_dir / LOCK_FILE, "a+")
    try:
        import fcntl
    except ImportError:  # Windows: no advisory lock
        return handle
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            if time.monotonic() > deadline:
                handle.seek(0)
                owner = handle.read().strip() or "?"
                raise SystemExit(f"error: {data_dir} is in use by another agentgate store (pid {owner}); "
                                 "stop it, or pass another --data-dir or --ephemeral")
            time.sleep(0.1)
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _remembered_port(data_dir: Path | None) -> int:
    if data_dir is None:
        return 0
    try:
        return int(json.loads((data_dir / PORT_FILE).read_text())["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def locked_app(app, lock: threading.RLock, persister=None):
    """The moto WSGI app, one request at a time; tells the persister about write requests."""

    def serve(environ, start_response):
        with lock:
            result = app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        if persister is not None:
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            if target:
                if not target.rsplit(".", 1)[-1].startswith(_DDB_READS):
                    persister.request_done("dynamodb")
            elif environ.get("REQUEST_METHOD") in ("PUT", "POST", "DELETE"):
                persister.request_done("s3")
        return [body]

    return serve


def make_server(host: str, port: int, app):
    """Bind `port` (the remembered one), else any free port. Returns (server, moved)."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server as werkzeug_server

    try:
        return werkzeug_server(host, port, app, threaded=True, request_handler=MotoRequestHandler), False
    except (OSError, SystemExit):  # werkzeug exits (after printing why) when the port is taken
        if port == 0:
            raise
        return werkzeug_server(host, 0, app, threaded=True, request_handler=MotoRequestHandler), True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agentgate-store")
    parser.add_argument("--data-dir", default=None, help="keep state here (default: memory only)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0,
                        help="port to serve on (default: the one remembered in the data dir, else any)")
    args = parser.parse_args(argv)

    # Ctrl-C reaches the whole process group: the gateway stops us when it has drained.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    ready_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything printed later goes to stderr; stdout carries the ready line only

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from agentgate.local import moto_tx

    moto_tx.install()
    lock = threading.RLock()
    data_dir = Path(args.data_dir).resolve() if args.data_dir else None
    persister = None
    restored: dict = {}
    started = time.perf_counter()
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        lock_handle = _lock_data_dir(data_dir)  # noqa: F841 - held until exit
        from agentgate.local.persist import Persister

        persister = Persister(data_dir, lock)
        persister.install_hooks()
        restored = persister.restore()
    restore_ms = round((time.perf_counter() - started) * 1000, 1)

    app = locked_app(DomainDispatcherApplication(create_backend_app), lock, persister)
    wanted = args.port or _remembered_port(data_dir)
    server, moved = make_server(args.host, wanted, app)
    port = server.server_address[1]
    if moved:
        print(f"warning: store port {wanted} is taken; using {port}. Presigned file URLs made before "
              "this restart name the old port and will not work.", file=sys.stderr, flush=True)
    if data_dir is not None:
        (data_dir / PORT_FILE).write_text(json.dumps({"port": port}))
        persister.start()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def watch_parent():
        try:
            while os.read(0, 4096):  # the raw fd: a buffered reader would hold a lock at exit
                pass
        except (OSError, ValueError):
            pass
        stop.set()

    threading.Thread(target=watch_parent, name="parent-watch", daemon=True).start()
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="store-server",
                               daemon=True)
    serving.start()

    ready_out.write(json.dumps({"endpoint": f"http://{args.host}:{port}", "port": port, "pid": os.getpid(),
                                "restored": restored, "restore_ms": restore_ms,
                                "data_dir": str(data_dir) if data_dir else None}) + "\n")
    ready_out.flush()
    ready_out.close()

    stop.wait()  # a signal handler still runs: the wait is interrupted, then the event is set
    server.shutdown()
    serving.join(timeout=10)
    if persister is not None:
        persister.close()
    return 0


if __name__ == "__main__":
    code = main()
    # Everything is on disk and the database closed: skip tearing down moto's objects one by one
    # (seconds with a big store).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
