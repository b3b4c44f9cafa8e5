"""File names: a clean Unicode name to show, and an ASCII-safe one for the S3 key.

Clients send anything: directories ("../../etc/passwd", "C:\\x\\a.txt"), NUL and control
characters, bidi overrides that disguise an extension, names of thousands of characters.
"""

from __future__ import annotations

import re
import unicodedata

DISPLAY_MAX = 200  # characters
KEY_MAX = 100  # characters of the last S3 key segment
FALLBACK = "file"

_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def _cap(name: str, limit: int) -> str:
    """Shorten to `limit` characters, keeping a short extension."""
    if len(name) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    if dot and stem and 0 < len(ext) <= 16:
        return stem[: limit - len(ext) - 1] + "." + ext
    return name[:limit]


def display_name(raw: str | None) -> str:
    """The name we show and answer: the last path segment, without control or format characters.

    Unicode stays ("報告.pdf" is kept); what is only a path trick ("..", ".") becomes "file".
    """
    name = unicodedata.normalize("NFC", raw or "")
    # Category C* (Cc control incl. NUL, Cf format such as U+202E, Co, Cs, Cn) never belongs in a name.
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    name = re.split(r"[\\/]", name)[-1]  # both separators: Windows clients send backslashes
    name = name.strip().strip(".").strip()  # no hidden files, no "..", no trailing dots (Windows)
    return _cap(name, DISPLAY_MAX) or FALLBACK


def key_name(display: str) -> str:
    """An ASCII-only name for the S3 key (the key already holds the file id, so it need not be unique)."""
    stem, dot, ext = display.rpartition(".")
    if not dot:
        stem, ext = display, ""
    stem = _UNSAFE_KEY_CHARS.sub("_", unicodedata.normalize("NFKD", stem)).strip("._-")
    ext = _UNSAFE_KEY_CHARS.sub("", ext)[:16]
    stem = stem or FALLBACK
    return _cap(f"{stem}.{ext}" if ext else stem, KEY_MAX)
