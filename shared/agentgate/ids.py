"""Time-ordered numeric IDs and millisecond clocks.

An ID is a numeric string that JavaScript keeps exact (at most 2**53 - 1; seed 002's JavaScript
clients pass ids as numbers) and that sorts by time as a string (DynamoDB sort keys are strings):

    value = 2 * 10**15 + ((ms since 2024-01-01) << 12 | 12 random bits)

Every new ID has exactly 16 digits and starts with 2..9, so string order is numeric and time
order, until 2078. IDs of the first scheme (19 digits, 10**18 + (ms << 22 | 22 random bits),
beginning with "1") keep working everywhere: `is_id` accepts both, `id_time_ms` decodes both, and
every old ID sorts (as a string) before every new one, which is also their time order.

Within one process IDs strictly increase. Across Lambda instances two IDs made in the same
millisecond collide with probability 1/4096: where an ID is an item's partition key, the write is
conditional (attribute_not_exists) and retried with a fresh ID (`retry_on_collision`).
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Callable, TypeVar

T = TypeVar("T")

_EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
_RANDOM_BITS = 12
_OFFSET = 2 * 10**15
MAX_ID = 2**53 - 1  # Number.MAX_SAFE_INTEGER
_LEGACY_OFFSET = 10**18
_LEGACY_RANDOM_BITS = 22
_lock = threading.Lock()
_last = 0


def now_ms() -> int:
    return int(time.time() * 1000)


def now_s() -> int:
    return int(time.time())


def new_id() -> str:
    """A new 16-digit numeric ID (<= 2**53 - 1), strictly increasing within this process."""
    global _last
    value = _OFFSET + ((now_ms() - _EPOCH_MS) << _RANDOM_BITS | secrets.randbits(_RANDOM_BITS))
    with _lock:
        if value <= _last:
            value = _last + 1
        _last = value
    if value > MAX_ID:  # 2078: time to widen the scheme
        raise OverflowError("the ID space of this scheme is exhausted")
    return str(value)


def is_id(value: object) -> bool:
    """A numeric string of either scheme: 16 digits (new) or 19 digits (the first scheme)."""
    return isinstance(value, str) and len(value) in (16, 19) and value.isdigit() and value[0] != "0"


def coerce_id(value):
    """Seed 002 sends ids as JSON numbers; they are numeric strings here. Anything else (bools
    included: they are ints to Python, never ids) is left for validation to refuse."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def id_time_ms(value: str) -> int:
    """The creation time encoded in an ID (either scheme)."""
    number = int(value)
    if number >= _LEGACY_OFFSET:
        return ((number - _LEGACY_OFFSET) >> _LEGACY_RANDOM_BITS) + _EPOCH_MS
    return ((number - _OFFSET) >> _RANDOM_BITS) + _EPOCH_MS


def is_collision(exc: BaseException) -> bool:
    """Whether a write failed because its condition (the ID is free) did not hold."""
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def retry_on_collision(create: Callable[[str], T], attempts: int = 5,
                       collided: Callable[[BaseException], bool] = is_collision) -> T:
    """Run `create(new_id())` until its conditional write does not collide with an existing
    item (another instance made the same ID in the same millisecond)."""
    for attempt in range(attempts):
        try:
            return create(new_id())
        except Exception as exc:
            if attempt == attempts - 1 or not collided(exc):
                raise
    raise AssertionError("unreachable")
