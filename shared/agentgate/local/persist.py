"""The embedded store's state on disk: every DynamoDB table and S3 bucket moto holds, in SQLite.

Generic over tables: whatever tables exist in moto (every PynamoDB model registered in
agentgate.store, and any other) are saved with their schema, and restored at the next start.

How writes reach the disk (`Persister`):
- Item writes are tracked per item: hooks on moto's Table.put_item / Table.delete_item and on the
  backend's update_item (which edits items in place) record (table, key). Transactions, batch
  writes and PartiQL all go through them.
- Table changes (create, delete, update, TTL) are found by comparing each table's spec with the
  saved one after any DynamoDB write request; a table object not seen before is written whole.
- S3: after any write request the buckets are compared with what was saved (an object whose
  FakeKey changed is rewritten, a missing one deleted). Only each key's latest version is kept.
- A flusher thread writes what changed DEBOUNCE_S after the first write of a burst, in one SQLite
  transaction (WAL), so a crash loses at most that window; `close()` writes the rest on a stop.
The caller serialises moto requests and flushes with one lock (`lock`), so a flush never sees
half a request (nor half a transaction).
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

DB_NAME = "store.sqlite3"
FORMAT_VERSION = "1"
DEBOUNCE_S = 0.2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ddb_tables (account TEXT, region TEXT, name TEXT, spec TEXT NOT NULL,
    PRIMARY KEY (account, region, name));
CREATE TABLE IF NOT EXISTS ddb_items (account TEXT, region TEXT, tbl TEXT, hk TEXT, rk TEXT,
    item TEXT NOT NULL, PRIMARY KEY (account, region, tbl, hk, rk));
CREATE TABLE IF NOT EXISTS s3_buckets (account TEXT, name TEXT, region TEXT NOT NULL,
    PRIMARY KEY (account, name));
CREATE TABLE IF NOT EXISTS s3_objects (account TEXT, bucket TEXT, key TEXT, meta TEXT NOT NULL,
    body BLOB NOT NULL, PRIMARY KEY (account, bucket, key));
"""


def _dumps(value) -> str:
    """JSON of moto's attribute values, whose binaries (B, BS) are bytes."""
    return json.dumps(value, sort_keys=True, default=_encode_bytes)


def _encode_bytes(value):
    if isinstance(value, (bytes, bytearray)):
        return {"__bytes__": base64.b64encode(value).decode()}
    raise TypeError(f"cannot save {type(value).__name__}")


def _decode_bytes(obj: dict):
    if len(obj) == 1 and "__bytes__" in obj:
        return base64.b64decode(obj["__bytes__"])
    return obj


def _loads(text: str):
    return json.loads(text, object_hook=_decode_bytes)


def _key_json(value) -> str:
    return "" if value is None else _dumps(value.to_json())


def table_spec(table) -> dict[str, Any]:
    """What it takes to create this table again (moto's create_table arguments, plus TTL)."""
    return {
        "schema": table.schema,
        "attr": table.attr,
        "throughput": None if table.billing_mode == "PAY_PER_REQUEST" else
        {k: v for k, v in table.throughput.items() if k in ("ReadCapacityUnits", "WriteCapacityUnits")},
        "billing_mode": table.billing_mode,
        "global_indexes": [{k: v for k, v in gsi.describe().items() if k in
                            ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")}
                           for gsi in table.global_indexes],
        "indexes": [lsi.describe() for lsi in table.indexes],
        "streams": table.stream_specification if (table.stream_specification or {}).get("StreamEnabled") else None,
        "sse_specification": table.sse_specification,
        "tags": table.tags,
        "deletion_protection_enabled": table.deletion_protection_enabled,
        "ttl": table.ttl,
    }


def _ddb_backends():
    from moto.dynamodb.models import dynamodb_backends

    for account, regions in list(dynamodb_backends.items()):
        for region, backend in list(regions.items()):
            yield account, region, backend


def _s3_backends():
    from moto.s3.models import s3_backends

    for account, regions in list(s3_backends.items()):
        for _region, backend in list(regions.items()):
            yield account, backend


_ACTIVE: "Persister | None" = None


def _install_hooks() -> None:
    """Wrap moto's item writes once per process; they report to the active Persister."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    if getattr(Table.put_item, "_agentgate_hook", False):
        return
    put_item, delete_item, update_item = Table.put_item, Table.delete_item, DynamoDBBackend.update_item

    def touch(table, hash_value, range_value) -> None:
        if _ACTIVE is not None:
            _ACTIVE.touch_item(table, hash_value, range_value)

    def hooked_put(self, item_attrs, *args, **kwargs):
        item = put_item(self, item_attrs, *args, **kwargs)
        touch(self, item.hash_key, item.range_key)
        return item

    def hooked_delete(self, hash_key, range_key):
        item = delete_item(self, hash_key, range_key)
        touch(self, hash_key, range_key)
        return item

    def hooked_update(self, table_name, key, *args, **kwargs):
        try:
            return update_item(self, table_name, key, *args, **kwargs)
        finally:  # an update may fail after editing the item in place: save what is there
            try:
                table = self.get_table(table_name)
                touch(table, *self.get_keys_value(table, key))
            except Exception:  # noqa: BLE001 - no such table or key: nothing changed
                pass

    for fn in (hooked_put, hooked_delete, hooked_update):
        fn._agentgate_hook = True
    Table.put_item, Table.delete_item, DynamoDBBackend.update_item = hooked_put, hooked_delete, hooked_update


class Persister:
    def __init__(self, data_dir: Path, lock: threading.RLock):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.lock = lock
        self.db = sqlite3.connect(self.data_dir / DB_NAME, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        row = self.db.execute("SELECT v FROM meta WHERE k='format'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO meta VALUES ('format', ?)", (FORMAT_VERSION,))
        elif row[0] != FORMAT_VERSION:
            raise RuntimeError(f"{self.data_dir / DB_NAME} has format {row[0]}, expected {FORMAT_VERSION}")
        self._tracking = False
        self._dirty_items: set[tuple] = set()  # (account, region, table, hash DynamoType, range)
        self._ddb_dirty = False
        self._s3_dirty = False
        self._specs: dict[tuple, str] = {}  # (account, region, table) -> saved spec JSON
        self._table_ids: dict[tuple, int] = {}  # (account, region, table) -> id() of the moto Table saved
        self._objects: dict[tuple, int] = {}  # (account, bucket, key) -> id() of the FakeKey saved
        self._buckets: dict[tuple, str] = {}  # (account, bucket) -> region
        self._db_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.flushes = 0

    # ------------------------------------------------------------------------------ tracking

    def touch_item(self, table, hash_value, range_value) -> None:
        if self._tracking:
            self._dirty_items.add((table.account_id, table.region_name, table.name, hash_value, range_value))

    def request_done(self, service: str) -> None:
        """A write request finished (service 'dynamodb' or 's3'): flush soon."""
        if service == "dynamodb":
            self._ddb_dirty = True
        else:
            self._s3_dirty = True
        self._wake.set()

    def install_hooks(self) -> None:
        """Route moto's item writes in this process to this persister (the last one installed)."""
        global _ACTIVE
        _install_hooks()
        _ACTIVE = self

    # ------------------------------------------------------------------------------- restore

    def restore(self) -> dict[str, int]:
        """Load everything saved into moto's backends (call before serving). Returns counts."""
        from moto.dynamodb.models import dynamodb_backends
        from moto.s3.models import s3_backends

        counts = {"tables": 0, "items": 0, "buckets": 0, "objects": 0}
        tables = {}
        for account, region, name, spec_json in self.db.execute("SELECT account, region, name, spec FROM ddb_tables"):
            spec = json.loads(spec_json)
            backend = dynamodb_backends[account][region]
            table = backend.create_table(
                name, schema=spec["schema"], throughput=spec["throughput"], attr=spec["attr"],
                global_indexes=spec["global_indexes"], indexes=spec["indexes"], streams=spec["streams"],
                billing_mode=spec["billing_mode"], sse_specification=spec["sse_specification"],
                tags=spec["tags"], deletion_protection_enabled=spec["deletion_protection_enabled"],
                warm_throughput=None)
            table.ttl = spec["ttl"]
            tables[(account, region, name)] = table
            self._specs[(account, region, name)] = json.dumps(table_spec(table), sort_keys=True, default=str)
            self._table_ids[(account, region, name)] = id(table)
            counts["tables"] += 1
        for account, region, name, item_json in self.db.execute(
                "SELECT account, region, tbl, item FROM ddb_items"):
            table = tables.get((account, region, name))
            if table is not None:
                table.put_item(_loads(item_json), overwrite=True)
                counts["items"] += 1
        for account, name, region in self.db.execute("SELECT account, name, region FROM s3_buckets"):
            s3_backends[account]["global"].create_bucket(name, region)
            self._buckets[(account, name)] = region
            counts["buckets"] += 1
        for account, bucket, key, meta_json, body in self.db.execute(
                "SELECT account, bucket, key, meta, body FROM s3_objects"):
            meta = json.loads(meta_json)
            backend = s3_backends[account]["global"]
            fake = backend.put_object(bucket, key, bytes(body), storage=meta.get("storage"),
                                      disable_notification=True)
            fake.set_metadata(meta.get("metadata") or {})
            if meta.get("last_modified"):
                fake.last_modified = datetime.fromisoformat(meta["last_modified"])
            self._objects[(account, bucket, key)] = id(fake)
            counts["objects"] += 1
        return counts

    # --------------------------------------------------------------------------------- flush

    def start(self) -> None:
        """Start tracking writes and the flusher thread."""
        self._tracking = True
        self._thread = threading.Thread(target=self._run, name="store-flusher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            if self._stop.wait(DEBOUNCE_S):
                break
            self._wake.clear()
            self.flush()

    def flush(self) -> int:
        """Write every change since the last flush; returns the number of rows written."""
        with self.lock:
            ops = self._collect()
        if not ops:
            return 0
        with self._db_lock:  # the flusher thread, or close() after it stopped
            self.db.execute("BEGIN")
            try:
                for sql, args in ops:
                    self.db.execute(sql, args)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        self.flushes += 1
        return len(ops)

    def _collect(self) -> list[tuple[str, tuple]]:
        """Under the request lock: what to write, as SQL statements (cheap; no I/O)."""
        ops: list[tuple[str, tuple]] = []
        if self._ddb_dirty or self._dirty_items:
            self._ddb_dirty = False
            ops += self._collect_tables()
            dirty, self._dirty_items = self._dirty_items, set()
            for account, region, name, hash_value, range_value in dirty:
                ident = (account, region, name)
                if ident not in self._table_ids:
                    continue  # the table is gone (or was just written whole)
                from moto.dynamodb.models import dynamodb_backends

                table = dynamodb_backends[account][region].tables.get(name)
                if table is None:
                    continue
                item = table.get_item(hash_value, range_value) if hash_value is not None else None
                key = (account, region, name, _key_json(hash_value), _key_json(range_value))
                if item is None:
                    ops.append(("DELETE FROM ddb_items WHERE account=? AND region=? AND tbl=? AND hk=? AND rk=?", key))
                else:
                    ops.append(("INSERT OR REPLACE INTO ddb_items VALUES (?, ?, ?, ?, ?, ?)",
                                key + (_dumps(item.to_json()["Attributes"]),)))
        if self._s3_dirty:
            self._s3_dirty = False
            ops += self._collect_s3()
        return ops

    def _collect_tables(self) -> list[tuple[str, tuple]]:
        ops = []
        seen = set()
        for account, region, backend in _ddb_backends():
            for name, table in list(backend.tables.items()):
                ident = (account, region, name)
                seen.add(ident)
                spec = json.dumps(table_spec(table), sort_keys=True, default=str)
                if self._table_ids.get(ident) != id(table):
                    # new (or recreated) table: write it whole
                    ops.append(("DELETE FROM ddb_items WHERE account=? AND region=? AND tbl=?", ident))
                    for item in table.all_items():
                        ops.append(("INSERT OR REPLACE INTO ddb_items VALUES (?, ?, ?, ?, ?, ?)",
                                    ident + (_key_json(item.hash_key), _key_json(item.range_key),
                                             _dumps(item.to_json()["Attributes"]))))
                    self._table_ids[ident] = id(table)
                    self._specs.pop(ident, None)
                if self._specs.get(ident) != spec:
                    ops.append(("INSERT OR REPLACE INTO ddb_tables VALUES (?, ?, ?, ?)", ident + (spec,)))
                    self._specs[ident] = spec
        for ident in [i for i in self._table_ids if i not in seen]:
            ops.append(("DELETE FROM ddb_tables WHERE account=? AND region=? AND name=?", ident))
            ops.append(("DELETE FROM ddb_items WHERE account=? AND region=? AND tbl=?", ident))
            self._table_ids.pop(ident, None)
            self._specs.pop(ident, None)
        return ops

    def _collect_s3(self) -> list[tuple[str, tuple]]:
        from moto.s3.models import FakeKey

        ops = []
        buckets: dict[tuple, str] = {}
        objects: dict[tuple, int] = {}
        for account, backend in _s3_backends():
            for name, bucket in list(backend.buckets.items()):
                buckets[(account, name)] = bucket.region_name
                for key_name, fake in bucket.keys.items():
                    if not isinstance(fake, FakeKey):
                        continue  # a delete marker
                    ident = (account, name, key_name)
                    objects[ident] = id(fake)
                    if self._objects.get(ident) != id(fake):
                        meta = {"metadata": dict(fake.metadata), "storage": fake.storage_class,
                                "last_modified": fake.last_modified.isoformat()}
                        ops.append(("INSERT OR REPLACE INTO s3_objects VALUES (?, ?, ?, ?, ?)",
                                    ident + (json.dumps(meta), fake.value)))
        for ident, region in buckets.items():
            if self._buckets.get(ident) != region:
                ops.append(("INSERT OR REPLACE INTO s3_buckets VALUES (?, ?, ?)", ident + (region,)))
        for ident in self._buckets.keys() - buckets.keys():
            ops.append(("DELETE FROM s3_buckets WHERE account=? AND name=?", ident))
        for ident in self._objects.keys() - objects.keys():
            ops.append(("DELETE FROM s3_objects WHERE account=? AND bucket=? AND key=?", ident))
        self._buckets, self._objects = buckets, objects
        return ops

    def close(self) -> None:
        """Stop the flusher and write whatever is left (call after the server stopped)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()
        self.db.close()
        global _ACTIVE
        if _ACTIVE is self:
            _ACTIVE = None
