"""The embedded stores: moto's DynamoDB and S3 in a process of their own (store_process.py).

`start_store(data_dir)` starts it and waits until it serves; `data_dir=None` is a throwaway
store in memory. See store_process.py for what it keeps on disk and how.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def remembered_port(data_dir: str | Path | None) -> int:
    """The port the store of this data dir served on last time (0: none)."""
    from agentgate.local.store_process import PORT_FILE

    if data_dir is None:
        return 0
    try:
        return int(json.loads((Path(data_dir) / PORT_FILE).read_text())["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


@dataclass
class Store:
    """A store process: `endpoint` is where it will serve (known at spawn, so the gateway can
    import its functions meanwhile); wait_ready() confirms it, or corrects it if the port was taken."""

    endpoint: str
    data_dir: Path | None
    proc: subprocess.Popen
    pid: int = 0
    info: dict = field(default_factory=dict)

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> "Store":
        """Read the store's ready line; raises if it exits or times out first."""
        import select
        import time

        if self.info:
            return self
        proc = self.proc
        deadline = time.monotonic() + timeout_s
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, min(remaining, 0.5)))
            if ready:
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                line += chunk
            elif proc.poll() is not None or remaining <= 0:
                break
        proc.stdout.close()
        try:
            info = json.loads(line)
        except ValueError:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            raise RuntimeError(f"the embedded store did not start (exit code {proc.returncode}); see above") from None
        self.info, self.endpoint, self.pid = info, info["endpoint"], info["pid"]
        return self

    def stop(self) -> int | None:
        """Ask it to write what is left and exit (SIGTERM); returns its exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdin:
            self.proc.stdin.close()
        return self.proc.returncode


def spawn_store(data_dir: str | Path | None, host: str = "127.0.0.1") -> Store:
    """Start the store process (state in data_dir, or memory only) without waiting for it.

    The port is chosen here: the one remembered in the data dir, else a free one. Presigned file
    URLs name it, which is why it is kept across restarts."""
    port = remembered_port(data_dir) or _free_port(host)
    cmd = [sys.executable, "-m", "agentgate.local.store_process", "--host", host, "--port", str(port)]
    if data_dir is not None:
        cmd += ["--data-dir", str(data_dir)]
    # stdin stays open for the store's life: it stops when it reads EOF, so it never outlives us.
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None)
    return Store(endpoint=f"http://{host}:{port}", data_dir=Path(data_dir) if data_dir else None, proc=proc,
                 pid=proc.pid)


def start_store(data_dir: str | Path | None, host: str = "127.0.0.1") -> Store:
    """Start the store process and wait until it serves."""
    return spawn_store(data_dir, host).wait_ready()


def use_endpoints(dynamodb_endpoint: str | None, s3_endpoint: str | None) -> None:
    """Point agentgate (and any boto3 client it makes) at these endpoints."""
    if dynamodb_endpoint:
        os.environ["AGENTGATE_DYNAMODB_ENDPOINT"] = dynamodb_endpoint
    if s3_endpoint:
        os.environ["AGENTGATE_S3_ENDPOINT"] = s3_endpoint


def fake_credentials() -> None:
    """moto accepts any credentials; set some so boto3 never looks for real ones."""
    os.environ["AWS_ACCESS_KEY_ID"] = "agentgate-local"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "agentgate-local"
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)


def add_missing_indexes(models, client) -> list[str]:
    """Give tables kept from an earlier run the global secondary indexes their models declare now.

    A data dir outlives code: when a model gains an index, the table restored from disk lacks it
    and every query on it would fail. moto builds an index from the items when asked, so adding
    the definition is all it takes. Returns "table.index" names added."""
    added = []
    for model in models:
        schema = model._get_schema()
        table = model.Meta.table_name
        existing = client.describe_table(TableName=table)["Table"]
        have = {i["IndexName"] for i in existing.get("GlobalSecondaryIndexes") or ()}
        for index in schema.get("global_secondary_indexes") or ():
            if index["index_name"] in have:
                continue
            known = {a["AttributeName"] for a in existing["AttributeDefinitions"]}
            definitions = existing["AttributeDefinitions"] + [
                a for a in index["attribute_definitions"] if a["AttributeName"] not in known]
            client.update_table(TableName=table, AttributeDefinitions=definitions, GlobalSecondaryIndexUpdates=[
                {"Create": {"IndexName": index["index_name"], "KeySchema": index["key_schema"],
                            "Projection": index["projection"]}}])
            existing = client.describe_table(TableName=table)["Table"]
            have.add(index["index_name"])
            added.append(f"{table}.{index['index_name']}")
    return added


def ensure_storage(embedded: bool = False) -> None:
    """Create every table and the files bucket if they do not exist yet (and, on the embedded
    store, the indexes a kept table lacks)."""
    import importlib
    import pkgutil

    import boto3

    import agentgate.store as store_pkg
    from agentgate.config import settings
    from agentgate.store import base

    for mod in pkgutil.iter_modules(store_pkg.__path__):
        importlib.import_module(f"agentgate.store.{mod.name}")
    base.configure_models()
    base.create_tables()
    s = settings()
    if embedded:
        ddb = boto3.client("dynamodb", region_name=s.region, endpoint_url=s.dynamodb_endpoint)
        for name in add_missing_indexes(base.all_models(), ddb):
            print(f"embedded store: added index {name} to a table kept from an earlier run", flush=True)
    s3 = boto3.client("s3", region_name=s.region, endpoint_url=s.s3_endpoint)
    try:
        s3.head_bucket(Bucket=s.files_bucket)
    except Exception:  # noqa: BLE001 - missing bucket: create it
        kwargs = {} if s.region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": s.region}}
        s3.create_bucket(Bucket=s.files_bucket, **kwargs)
