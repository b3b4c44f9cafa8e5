"""Personal access token material: generation, hashing, masking. Never log a plaintext key."""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "pat_"
RANDOM_BYTES = 32  # 256 bits of entropy, url-safe base64 -> 43 characters


def generate() -> str:
    return PREFIX + secrets.token_urlsafe(RANDOM_BYTES)


def hash_key(plaintext: str) -> str:
    """MD5 hex of the whole key, as seed 002 stores it. The key's 256 random bits make MD5's
    weaknesses (collisions, speed against low-entropy input) irrelevant for this lookup."""
    return hashlib.md5(plaintext.encode("utf-8")).hexdigest()


def mask(plaintext: str) -> str:
    """What lists show: the prefix and the last four characters (a chosen key's last four only
    when it is long enough that they give little away)."""
    if plaintext.startswith(PREFIX):
        return f"{PREFIX}{'*' * 8}{plaintext[-4:]}"
    return "*" * 8 + (plaintext[-4:] if len(plaintext) >= 16 else "")


def parse_authorization(header: str | None) -> str | None:
    """The key from an Authorization header: `Bearer <key>` or the bare key (seed 004)."""
    if not header:
        return None
    value = header.strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        value = rest.strip()
    return value or None
