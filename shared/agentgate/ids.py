"""Time-ordered numeric IDs and millisecond clocks.

IDs are snowflake-like: milliseconds since 2024-01-01 shifted left 22 bits, plus 22 random bits,
plus 10**18 so every ID has exactly 19 digits. Fixed width means string order equals numeric and
time order (DynamoDB sort keys can be strings), and every ID fits a signed int64 (seed 002's
`[0-9]+` path patterns and int64 fields) for the next sixty years.
"""

from __future__ import annotations

import secrets
import threading
import time

_EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
_OFFSET = 10**18
_lock = threading.Lock()
_last = 0


def now_ms() -> int:
    return int(time.time() * 1000)


def now_s() -> int:
    return int(time.time())


def new_id() -> str:
    """A new 19-digit numeric ID, strictly increasing within this process."""
    global _last
    value = _OFFSET + ((now_ms() - _EPOCH_MS) << 22 | secrets.randbits(22))
    with _lock:
        if value <= _last:
            value = _last + 1
        _last = value
    return str(value)


def is_id(value: object) -> bool:
    return isinstance(value, str) and len(value) == 19 and value.isdigit()


def coerce_id(value):
    """Seed 002 sends ids as JSON numbers; they are numeric strings here. Anything else (bools
    included: they are ints to Python, never ids) is left for validation to refuse."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def id_time_ms(value: str) -> int:
    """The creation time encoded in an ID."""
    return ((int(value) - _OFFSET) >> 22) + _EPOCH_MS
