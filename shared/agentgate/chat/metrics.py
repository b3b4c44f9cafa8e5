"""A counter of DynamoDB calls, for benchmarks and tests (calls per chat turn).

    with count_store_calls() as calls:
        ... one chat turn ...
    calls.total, calls.by_operation  # {"GetItem": 1, "Query": 1, "PutItem": 2, ...}

It hooks PynamoDB's pre-send signal (blinker), or wraps the connection when blinker is absent.
Nothing is registered unless a caller asks: the request path pays nothing.
"""

from __future__ import annotations

import threading
from collections import Counter
from contextlib import contextmanager


class StoreCalls:
    def __init__(self):
        self._lock = threading.Lock()
        self.by_operation: Counter[str] = Counter()
        self.by_table: Counter[str] = Counter()
        self._pairs: Counter[tuple[str, str]] = Counter()

    def add(self, operation: str, table: str | None) -> None:
        with self._lock:
            self.by_operation[operation] += 1
            self.by_table[table or "?"] += 1
            self._pairs[(operation, table or "?")] += 1

    def excluding(self, *tables: str) -> dict[str, int]:
        """Calls by operation, leaving out those on `tables` (e.g. the metering table)."""
        out: Counter[str] = Counter()
        for (operation, table), n in self._pairs.items():
            if table not in tables:
                out[operation] += n
        return dict(out)

    def conversation_data(self) -> dict[str, int]:
        """Calls by operation without the access policy's own (rate limits and metering: the
        usage table), whose cost per turn tests/unit/test_chat_openai.py counts separately."""
        from agentgate.config import settings

        return self.excluding(settings().usage_table)

    @property
    def total(self) -> int:
        return sum(self.by_operation.values())

    def reset(self) -> None:
        with self._lock:
            self.by_operation.clear()
            self.by_table.clear()
            self._pairs.clear()


@contextmanager
def count_store_calls():
    calls = StoreCalls()
    from pynamodb import signals

    if signals.signals_available:
        def receiver(sender, operation_name=None, table_name=None, req_uuid=None):
            calls.add(operation_name, table_name)

        signals.pre_dynamodb_send.connect(receiver)
        try:
            yield calls
        finally:
            signals.pre_dynamodb_send.disconnect(receiver)
        return

    from pynamodb.connection.base import Connection

    original = Connection._make_api_call

    def counted(self, operation_name, operation_kwargs):
        calls.add(operation_name, operation_kwargs.get("TableName"))
        return original(self, operation_name, operation_kwargs)

    Connection._make_api_call = counted
    try:
        yield calls
    finally:
        Connection._make_api_call = original


# ------------------------------------------------------------------------------ capacity units
# DynamoDB on-demand bills read request units (one per 4 KB read strongly consistently, half of
# one eventually consistently; a Query rounds the sum of what it returns, a GetItem each item,
# and a read that finds nothing still costs the minimum) and write request units (one per 1 KB
# written, twice that inside a transaction). measure_store_cost() estimates them from what each
# call sends and gets back. Estimates, not the bill: an UpdateItem is counted by what it sends
# (DynamoDB counts the larger of the item before and after), index writes are not counted.

READ_UNIT = 4096
WRITE_UNIT = 1024


def item_size(item: dict | None) -> int:
    """An item's size as DynamoDB counts it (names + values), from its wire form."""
    if not item:
        return 0
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict) -> int:
    (kind, v), = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        return (len(str(v).lstrip("-").replace(".", "")) + 1) // 2 + 1
    if kind == "B":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: x}) for x in v)
    if kind == "L":
        return 3 + sum(1 + _value_size(x) for x in v)
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + _value_size(x) for k, x in v.items())
    return 0


def _read_units(size: int, consistent: bool) -> float:
    units = max(1, -(-size // READ_UNIT))
    return float(units) if consistent else units / 2


def _write_units(size: int) -> float:
    return float(max(1, -(-size // WRITE_UNIT)))


class StoreCost(StoreCalls):
    """StoreCalls plus estimated read and write units, per operation and table."""

    def __init__(self):
        super().__init__()
        self.read_units = 0.0
        self.write_units = 0.0
        self.consistent_reads = 0
        self.rows: list[tuple[str, str, float, float]] = []  # (operation, table, read units, write units)

    def charge(self, operation: str, table: str | None, kwargs: dict, response: dict | None) -> None:
        response = response or {}
        reads = writes = 0.0
        consistent = bool(kwargs.get("ConsistentRead"))
        if operation == "GetItem":
            reads = _read_units(item_size(response.get("Item")), consistent)
        elif operation in ("Query", "Scan"):
            reads = _read_units(sum(item_size(i) for i in response.get("Items") or ()), consistent)
        elif operation == "BatchGetItem":
            for name, items in (response.get("Responses") or {}).items():
                strong = bool((kwargs.get("RequestItems") or {}).get(name, {}).get("ConsistentRead"))
                reads += sum(_read_units(item_size(i), strong) for i in items)
            asked = sum(len(spec.get("Keys") or ()) for spec in (kwargs.get("RequestItems") or {}).values())
            found = sum(len(items) for items in (response.get("Responses") or {}).values())
            reads += 0.5 * max(0, asked - found)  # misses: the minimum each
        elif operation == "TransactGetItems":
            reads = sum(2 * _read_units(item_size((r or {}).get("Item")), True) for r in response.get("Responses") or ())
        elif operation == "PutItem":
            writes = _write_units(item_size(kwargs.get("Item")))
        elif operation in ("UpdateItem", "DeleteItem"):
            sent = item_size(kwargs.get("Key")) + sum(_value_size(v) for v in (kwargs.get("ExpressionAttributeValues") or {}).values())
            writes = _write_units(sent)
        elif operation == "BatchWriteItem":
            for requests in (kwargs.get("RequestItems") or {}).values():
                for request in requests:
                    put = request.get("PutRequest")
                    writes += _write_units(item_size(put["Item"]) if put else 0)
        elif operation == "TransactWriteItems":
            for entry in kwargs.get("TransactItems") or ():
                (kind, spec), = entry.items()
                if kind == "Put":
                    writes += 2 * _write_units(item_size(spec.get("Item")))
                elif kind in ("Update", "Delete"):
                    writes += 2 * _write_units(item_size(spec.get("Key")))
                else:  # ConditionCheck: a read
                    reads += 2 * _read_units(0, True)
        with self._lock:
            self.read_units += reads
            self.write_units += writes
            self.consistent_reads += int(consistent and reads > 0)
            self.rows.append((operation, table or "?", reads, writes))

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.read_units = self.write_units = 0.0
            self.consistent_reads = 0
            self.rows = []


@contextmanager
def measure_store_cost():
    """Every DynamoDB call PynamoDB makes while open: counted, with estimated units (StoreCost)."""
    from pynamodb.connection.base import Connection

    cost = StoreCost()
    original = Connection._make_api_call

    def measured(self, operation_name, operation_kwargs, *args, **kwargs):
        table = operation_kwargs.get("TableName")
        if table is None and operation_kwargs.get("RequestItems"):
            table = ",".join(operation_kwargs["RequestItems"])
        response = original(self, operation_name, operation_kwargs, *args, **kwargs)
        cost.add(operation_name, table)
        cost.charge(operation_name, table, operation_kwargs, response)
        return response

    Connection._make_api_call = measured
    try:
        yield cost
    finally:
        Connection._make_api_call = original
