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
