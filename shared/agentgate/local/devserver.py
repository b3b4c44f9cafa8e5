"""`agentgate dev`: the whole API on one port, on embedded defaults."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

DEV_DIR = ".agentgate"
DEV_FILE = "dev.json"
DEV_OWNER = "local"
DATA_DIR = "data"  # under DEV_DIR: the embedded store's state (`--data-dir` moves it)


def wait_until_ready(proc, workdir: str | Path, log_path: str | Path, timeout_s: float = 60) -> dict:
    """Wait for an `agentgate dev` subprocess started in `workdir` to write its dev.json, and
    return it (base_url, admin_key, ...). Raises, with the server's log, if it exits or times out.
    For tests, benchmarks and scripts that run the gateway as a child process. A dev.json left by
    an earlier run in the same directory is ignored (it names another pid)."""
    import time

    dev_file = Path(workdir) / DEV_DIR / DEV_FILE
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("agentgate dev exited:\n" + Path(log_path).read_text())
        if dev_file.exists():
            try:
                info = json.loads(dev_file.read_text())
            except ValueError:
                info = {}  # caught mid-write
            if info.get("base_url") and info.get("pid") in (None, proc.pid):
                return info
        time.sleep(0.05)
    raise RuntimeError("agentgate dev did not become ready:\n" + Path(log_path).read_text())


def _should_embed(mode: str) -> bool:
    if mode in ("embedded", "aws"):
        return mode == "embedded"
    configured = os.environ.get("AGENTGATE_DYNAMODB_ENDPOINT") or os.environ.get("AWS_ACCESS_KEY_ID") \
        or os.environ.get("AWS_PROFILE")
    return not configured


def ensure_root_key(dev_file: Path) -> str:
    """Reuse the key recorded in dev.json when it still works (re-registering its hash in a fresh
    embedded store), else create a new root key. Returns the plaintext."""
    from agentgate.auth import management, tokens
    from agentgate.auth.scopes import ROOT
    from agentgate.ids import new_id, now_ms
    from agentgate.store import keys as key_store

    previous = None
    if dev_file.exists():
        try:
            previous = json.loads(dev_file.read_text()).get("admin_key")
        except (ValueError, OSError):
            previous = None
    if previous and previous.startswith(tokens.PREFIX):
        item = key_store.get_by_hash(tokens.hash_key(previous))
        if item is not None and item.status == key_store.STATUS_ACTIVE and item.enabled and not item.is_expired():
            return previous
        if item is None:
            now = now_ms()
            key_store.ApiKey(key_hash=tokens.hash_key(previous), id=new_id(), owner_id=DEV_OWNER,
                             name="local root key", masked=tokens.mask(previous), scopes=[ROOT],
                             created_at=now, updated_at=now, created_by="dev").save()
            return previous
    _, plaintext = management.create_key(management.CLI_ACTOR, "local root key", owner_id=DEV_OWNER,
                                         scopes=[ROOT])
    return plaintext


def default_data_dir(workdir: str | Path = ".") -> Path:
    return Path(workdir) / DEV_DIR / DATA_DIR


LOCAL_MODEL_ALIASES = ("qwen-plus", "gpt-4", "gpt-4o", "gpt-4o-mini", "gpt-3.5-turbo", "doubao-pro-128k",
                       "doubao-pro-32k")


def serve(host: str, port: int, template: str, store: str, workdir: str = ".",
          data_dir: str | Path | None = None, ephemeral: bool = False) -> int:
    """Serve the API. With the embedded store, its state lives in `data_dir` (default
    .agentgate/data/) and survives restarts; `ephemeral` keeps it in memory and leaves nothing."""
    from agentgate.local import embedded

    # Local defaults, before any function module is imported.
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1"))
    os.environ.setdefault("AWS_REGION", os.environ["AWS_DEFAULT_REGION"])
    # Nothing caches in front of us but our own gateway, which flushes in-process.
    os.environ["AGENTGATE_FLUSH_AUTHORIZER_CACHE"] = "false"
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "agentgate")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    # No CloudWatch here to read EMF lines; the gateway prints its own access line per request.
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    # Model names the seeds' and SDKs' examples bring (seed 003's qwen-plus, seed 001's gpt-4,
    # cozepy's doubao-pro-128k) answer with the local default model unless the operator maps them.
    os.environ.setdefault("AGENTGATE_MODEL_ALIASES", json.dumps(
        {name: os.environ.get("AGENTGATE_DEFAULT_MODEL") or "echo" for name in LOCAL_MODEL_ALIASES}))

    dev_dir = Path(workdir) / DEV_DIR
    dev_file = dev_dir / DEV_FILE
    # An ephemeral run leaves nothing behind: it puts back the dev.json it found (or none).
    previous_dev_file = dev_file.read_bytes() if ephemeral and dev_file.exists() else None
    dev_dir_existed = dev_dir.exists()

    info: dict = {}
    store_proc = None
    if _should_embed(store):
        where = None if ephemeral else Path(data_dir) if data_dir else default_data_dir(workdir)
        # The store starts while the gateway imports its functions; its endpoint is known already.
        store_proc = embedded.spawn_store(where)
        embedded.fake_credentials()
        embedded.use_endpoints(store_proc.endpoint, store_proc.endpoint)
    else:
        info.update(embedded=False)
    try:
        return _serve(host, port, template, info, dev_dir, dev_file, store_proc)
    finally:
        if store_proc is not None:
            store_proc.stop()
        if ephemeral:
            if previous_dev_file is not None:
                dev_file.write_bytes(previous_dev_file)
            else:
                dev_file.unlink(missing_ok=True)
                if not dev_dir_existed:  # ours alone (dev.json, the JWT secret): remove it all
                    import shutil

                    shutil.rmtree(dev_dir, ignore_errors=True)


def _uvicorn_server_class():
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn re-raises SIGINT/SIGTERM once it has drained, which would kill the process
        before it stops the embedded store and cleans up; return normally instead."""

        def handle_exit(self, sig, frame) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

    return Server


def _serve(host, port, template, info, dev_dir, dev_file, store_proc) -> int:
    import uvicorn

    from agentgate.local import embedded

    _Server = _uvicorn_server_class()
    from agentgate.local.gateway import build

    gateway = build(template, region=os.environ["AWS_DEFAULT_REGION"])
    if gateway.api.cors is not None:  # as the template's Globals give it to every function
        os.environ.setdefault("AGENTGATE_CORS_ALLOW_ORIGIN", gateway.api.cors.allow_origin)
    errors = gateway.loader.preload(gateway.api.functions.values())
    from agentgate import lifecycle

    lifecycle.run_init_hooks()  # what Lambda's init does: clients built before the first request
    for error in errors:
        print(f"warning: {error}", file=sys.stderr)

    if store_proc is not None:
        guessed = store_proc.endpoint
        store_proc.wait_ready()
        if store_proc.endpoint != guessed:  # its port was taken meanwhile: it serves elsewhere
            embedded.use_endpoints(store_proc.endpoint, store_proc.endpoint)
        where = store_proc.data_dir
        restored = store_proc.info.get("restored") or {}
        info.update(dynamodb_endpoint=store_proc.endpoint, s3_endpoint=store_proc.endpoint, embedded=True,
                    store_pid=store_proc.pid, data_dir=str(where.resolve()) if where else None)
        if where is None:
            print("embedded store: in memory (--ephemeral); nothing is kept", flush=True)
        else:
            print(f"embedded store: {where} ({restored.get('items', 0)} items, {restored.get('objects', 0)} "
                  f"files restored in {store_proc.info.get('restore_ms')} ms)", flush=True)
    embedded.ensure_storage(embedded=store_proc is not None)

    dev_dir.mkdir(parents=True, exist_ok=True)
    key = ensure_root_key(dev_file)
    if not os.environ.get("AGENTGATE_JWT_SECRET"):
        # The AgentChat signing secret is kept with the data (sessions survive a restart with
        # it); an ephemeral run makes one in memory; against AWS stores it lives in .agentgate/.
        from agentgate.auth.jwt_tokens import new_secret
        from agentgate.local.secrets import ensure_jwt_secret

        if store_proc is None:
            os.environ["AGENTGATE_JWT_SECRET"] = ensure_jwt_secret(dev_dir)
        elif store_proc.data_dir is None:
            os.environ["AGENTGATE_JWT_SECRET"] = new_secret()
        else:
            os.environ["AGENTGATE_JWT_SECRET"] = ensure_jwt_secret(store_proc.data_dir)

    config = uvicorn.Config(gateway, host=host, port=port, log_level="warning", access_log=False,
                            timeout_keep_alive=75, lifespan="off")
    server = _Server(config)

    async def announce_when_ready():
        import asyncio

        while not server.started:
            await asyncio.sleep(0.02)
        bound_port = port
        for srv in server.servers:
            for sock in srv.sockets:
                bound_port = sock.getsockname()[1]
        base_url = f"http://{host}:{bound_port}"
        info.update(base_url=base_url, admin_key=key, owner_id=DEV_OWNER, template=str(Path(template).resolve()),
                    pid=os.getpid())
        dev_file.write_text(json.dumps(info, indent=2))
        os.chmod(dev_file, 0o600)  # it holds a root key
        print(f"agentgate is ready at {base_url}", flush=True)
        print(f"root key (owner '{DEV_OWNER}'): {key}", flush=True)
        print(f"details in {dev_file}", flush=True)

    async def main():
        import asyncio

        announcer = asyncio.create_task(announce_when_ready())
        await server.serve()
        announcer.cancel()

    import asyncio

    asyncio.run(main())
    return 0
