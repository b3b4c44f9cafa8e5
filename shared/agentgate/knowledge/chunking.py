"""Splitting a document's text into chunks of a configurable size with overlap.

Sizes are in characters, which suits Chinese (no spaces; a character is about a word) and English
alike. The text is cut at the strongest boundary that fits: paragraphs, then sentences (Chinese
。！？；… and Latin .!?; followed by a space), then clauses (，、,:), then, for a run with no
boundary at all, at the size itself. Chunks are then packed from these pieces up to `size`, and
each chunk after the first starts with the last pieces of the one before, up to `overlap`
characters, so an answer that straddles a cut is still whole in one chunk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_SIZE = 800
DEFAULT_OVERLAP = 100
MIN_SIZE = 50
MAX_SIZE = 8000

_PARAGRAPH = re.compile(r"(?<=\n)(?=\s*\n)")
_SENTENCE = re.compile(r"(?<=[。！？；…!?;\n])|(?<=[.])(?=\s)")
_CLAUSE = re.compile(r"(?<=[，、,:：])")
_SPACES = re.compile(r"[ \t\f\v\r]+")


@dataclass(frozen=True)
class ChunkSpec:
    size: int = DEFAULT_SIZE
    overlap: int = DEFAULT_OVERLAP
    separator: str | None = None  # a custom boundary (Coze's chunk_strategy.separator), tried first
    remove_extra_spaces: bool = False
    remove_urls_emails: bool = False

    def __post_init__(self):
        if not MIN_SIZE <= self.size <= MAX_SIZE:
            raise ValueError(f"chunk size must be between {MIN_SIZE} and {MAX_SIZE} characters")
        if not 0 <= self.overlap < self.size // 2 + 1:
            raise ValueError("chunk overlap must be at least 0 and at most half the chunk size")


_URL_EMAIL = re.compile(r"https?://\S+|www\.\S+|[\w.+-]+@[\w-]+\.[\w.-]+")


def clean(text: str, spec: ChunkSpec) -> str:
    text = text.replace("\r\n", "\n").replace("\x00", "")
    if spec.remove_urls_emails:
        text = _URL_EMAIL.sub("", text)
    if spec.remove_extra_spaces:
        text = re.sub(r"\n{3,}", "\n\n", _SPACES.sub(" ", text))
    return text


def _split(text: str, size: int, levels: list[re.Pattern | str]) -> list[str]:
    """Pieces of at most `size` characters, cut at the first level's boundaries that work."""
    if len(text) <= size:
        return [text]
    if not levels:
        return [text[i:i + size] for i in range(0, len(text), size)]
    level, rest = levels[0], levels[1:]
    parts = text.split(level) if isinstance(level, str) else level.split(text)
    if isinstance(level, str):
        parts = [p + level for p in parts[:-1]] + parts[-1:]
    if len(parts) == 1:
        return _split(text, size, rest)
    out: list[str] = []
    for part in parts:
        if part:
            out.extend(_split(part, size, rest))
    return out


def chunk_text(text: str, spec: ChunkSpec | None = None) -> list[str]:
    """The chunks of `text` (stripped, none empty), in document order."""
    spec = spec or ChunkSpec()
    text = clean(text, spec)
    levels: list[re.Pattern | str] = [_PARAGRAPH, _SENTENCE, _CLAUSE]
    if spec.separator:
        levels.insert(0, spec.separator.encode().decode("unicode_escape") if "\\" in spec.separator
                      else spec.separator)
    pieces = [p for p in _split(text, spec.size, levels) if p.strip()]
    chunks: list[str] = []
    current: list[str] = []
    length = 0
    for piece in pieces:
        if current and length + len(piece) > spec.size:
            chunks.append("".join(current))
            # carry the tail of this chunk into the next, up to `overlap` characters
            carried: list[str] = []
            kept = 0
            for prev in reversed(current):
                if kept + len(prev) > spec.overlap:
                    break
                carried.insert(0, prev)
                kept += len(prev)
            if spec.overlap and not carried and current:
                tail = current[-1][-spec.overlap:]
                carried, kept = [tail], len(tail)
            if kept + len(piece) > spec.size:
                carried, kept = [], 0
            current, length = carried, kept
        current.append(piece)
        length += len(piece)
    if current:
        chunks.append("".join(current))
    return [c.strip() for c in chunks if c.strip()]
