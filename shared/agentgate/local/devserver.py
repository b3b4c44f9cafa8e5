"""`agentgate dev`: the whole API on one port, on embedded defaults."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

DEV_DIR = ".agentgate"
DEV_FILE = "dev.json"
DEV_OWNER = "local"


def wait_until_ready(proc, workdir: str | Path, log_path: str | Path, timeout_s: float = 60) -> dict:
    """Wait for an `agentgate dev` subprocess started in `workdir` to write its dev.json, and
    return it (base_url, admin_key, ...). Raises, with the server's log, if it exits or times out.
    For tests, benchmarks and scripts that run the gateway as a child process."""
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
            if info.get("base_url"):
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


LOCAL_MODEL_ALIASES = ("qwen-plus", "gpt-4", "gpt-4o", "gpt-4o-mini", "gpt-3.5-turbo", "doubao-pro-128k",
                       "doubao-pro-32k")


def serve(host: str, port: int, template: str, store: str, workdir: str = ".") -> int:
    import uvicorn

    from agentgate.local import embedded

    # Local defaults, before any function module is imported.
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1"))
    os.environ.setdefault("AWS_REGION", os.environ["AWS_DEFAULT_REGION"])
    # Nothing caches in front of us but our own gateway, which flushes in-process.
    os.environ["AGENTGATE_FLUSH_AUTHORIZER_CACHE"] = "false"
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "agentgate")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    # Model names the seeds' and SDKs' examples bring (seed 003's qwen-plus, seed 001's gpt-4,
    # cozepy's doubao-pro-128k) answer with the local default model unless the operator maps them.
    os.environ.setdefault("AGENTGATE_MODEL_ALIASES", json.dumps(
        {name: os.environ.get("AGENTGATE_DEFAULT_MODEL") or "echo" for name in LOCAL_MODEL_ALIASES}))

    info: dict = {}
    if _should_embed(store):
        endpoint, _server = embedded.start_moto(host="127.0.0.1")
        embedded.fake_credentials()
        embedded.use_endpoints(endpoint, endpoint)
        info.update(dynamodb_endpoint=endpoint, s3_endpoint=endpoint, embedded=True)
    else:
        info.update(embedded=False)
    embedded.ensure_storage()

    from agentgate.local.gateway import build

    gateway = build(template, region=os.environ["AWS_DEFAULT_REGION"])
    if gateway.api.cors is not None:  # as the template's Globals give it to every function
        os.environ.setdefault("AGENTGATE_CORS_ALLOW_ORIGIN", gateway.api.cors.allow_origin)
    errors = gateway.loader.preload(gateway.api.functions.values())
    for error in errors:
        print(f"warning: {error}", file=sys.stderr)

    dev_dir = Path(workdir) / DEV_DIR
    dev_dir.mkdir(parents=True, exist_ok=True)
    dev_file = dev_dir / DEV_FILE
    key = ensure_root_key(dev_file)

    config = uvicorn.Config(gateway, host=host, port=port, log_level="warning", access_log=False,
                            timeout_keep_alive=75, lifespan="off")
    server = uvicorn.Server(config)

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
