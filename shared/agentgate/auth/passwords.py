"""Password hashing for AgentChat users: argon2id (argon2-cffi), never a plaintext, never a log.

The default parameters are argon2-cffi's RFC 9106 "low memory" profile (64 MiB, 3 passes):
memory-hard enough to make offline guessing expensive, and about 50 ms on a Lambda vCPU.
`AGENTGATE_ARGON2_MEMORY_KIB` / `AGENTGATE_ARGON2_TIME_COST` change them (the test suite makes them
cheap); a hash made with other parameters is upgraded at the next successful login.
"""

from __future__ import annotations

from functools import lru_cache


def _hasher():
    from agentgate.config import settings

    s = settings()
    return _hasher_for(s.argon2_memory_kib, s.argon2_time_cost)


@lru_cache(maxsize=4)
def _hasher_for(memory_kib: int, time_cost: int):
    import dataclasses

    from argon2 import PasswordHasher  # lazily: only the accounts routes pay for it
    from argon2.profiles import RFC_9106_LOW_MEMORY

    return PasswordHasher.from_parameters(dataclasses.replace(
        RFC_9106_LOW_MEMORY, memory_cost=max(8, memory_kib), time_cost=max(1, time_cost)))


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher().check_needs_rehash(stored_hash)


# A hash of nothing in particular: verifying against it when a user does not exist costs the same
# time as a real check, so response time does not tell whether a user name exists.
_decoys: dict[tuple, str] = {}


def decoy_hash() -> str:
    from agentgate.config import settings

    s = settings()
    key = (s.argon2_memory_kib, s.argon2_time_cost)
    if key not in _decoys:
        _decoys[key] = hash_password("agentgate-decoy-password")
    return _decoys[key]
