"""THE hook where message content parts become runner content (files in chat).

`resolve_parts(owner_id, parts)` turns the parts of one message into OpenAI-style parts the runner
hands to any provider: {"type": "text", "text"} and {"type": "image_url", "image_url": {"url"}}.

What is accepted (anything else is a 400 before the first byte):

  Coze object_string items ({"type": ..., ...}):
    {"type": "text", "text"}                       the text
    {"type": "file"|"image", "file_id"}            the caller's uploaded file (/v1/files/upload)
    {"type": "file"|"image", "file_url"}           one of our presigned URLs (/api/v1/upload,
                                                   /v1/files/*) maps back to the owner's file;
                                                   an external URL passes through as an image
                                                   ("image" items: any http(s) URL; "file"
                                                   items: only URLs ending in an image extension)
    {"type": "audio", ...}                         415: audio cannot be used in chat
  OpenAI content parts:
    {"type": "text", "text"}
    {"type": "image_url", "image_url": {"url", "detail"?}} (or "image_url": "<url>")
        our presigned URL -> the owner's file (an image as a data: URL, a text file as its text);
        a data: URL or an external URL passes through untouched (the provider fetches it: the
        gateway itself never downloads an arbitrary URL)
    {"type": "file", "file": {"file_id"}}          the caller's uploaded file, as above
    {"type": "file", "file": {"file_data": "data:<mime>;base64,<...>" (or bare base64),
                              "filename"?}}         an inline file, never stored in S3: its type is
                                                   sniffed from the bytes (the declared MIME type
                                                   is ignored), then it becomes text or an image
                                                   like an upload; bounded by the upload limit
                                                   and by the turn's input cap
                                                   (AGENTGATE_MAX_INPUT_CHARS)
    {"type": "file", "file": {"file_url"}}         (an extension) as a Coze file_url item

A file becomes what the model receives: text-like files (txt, md, csv, json, pdf, docx) one text
part "<file name>:\\n<text>" cut to a budget (AGENTGATE_FILE_TEXT_CHARS per file, default 20000,
and AGENTGATE_MESSAGE_FILE_TEXT_CHARS for all files of one message, default 60000; a file never
gets less than 1000); images an image_url part (a data: URL up to 4 MiB, which Bedrock needs,
else a presigned URL).

Errors (agentgate.files.FileUnusable) become ApiError with the same status: 404 unknown file or
another owner's (never told apart), 415 a type the model cannot use, 400 a URL we will not use,
413 an inline file over the upload limit. Routes raise them before the first byte and before
anything is stored (chat.service resolves parts first).

Stored history keeps the original references (object_string) and re-resolves them on later
turns, leniently (`strict=False`): a file that cannot be used any more becomes a short text note
instead of failing the turn. Resolved files are kept in a small per-process LRU keyed by
(owner_id, file reference, budget), so re-resolving history does not read DynamoDB and S3 every
turn. Uploads are immutable; an entry holding a presigned URL lives at most half the URL's life.

Nothing heavy is imported here: agentgate.files.attachments (boto3, pypdf, python-docx behind it)
loads on the first file reference.
"""

from __future__ import annotations

import base64
import binascii
import copy
import logging
import os
import threading
import time
from collections import OrderedDict
from typing import Any

from agentgate.api.errors import ApiError
from agentgate.files.errors import FileError

log = logging.getLogger(__name__)

DEFAULT_FILE_TEXT_CHARS = 20_000
DEFAULT_MESSAGE_FILE_TEXT_CHARS = 60_000
MIN_FILE_TEXT_CHARS = 1_000
CACHE_MAX_ENTRIES = 256
CACHE_MAX_CHARS = 48 * 1024 * 1024  # data: URLs of images count by their length
CACHE_TTL_S = 3600.0


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError:
        return default


def file_text_chars() -> int:
    return max(1, _env_int("AGENTGATE_FILE_TEXT_CHARS", DEFAULT_FILE_TEXT_CHARS))


def message_file_text_chars() -> int:
    return max(1, _env_int("AGENTGATE_MESSAGE_FILE_TEXT_CHARS", DEFAULT_MESSAGE_FILE_TEXT_CHARS))


# ------------------------------------------------------------------------------------- cache


class _Cache:
    """A thread-safe LRU of resolved files: key -> (parts, expires_at, size)."""

    def __init__(self, max_entries: int = CACHE_MAX_ENTRIES, max_chars: int = CACHE_MAX_CHARS):
        self.max_entries = max_entries
        self.max_chars = max_chars
        self._items: OrderedDict[tuple, tuple[list[dict], float, int]] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple) -> list[dict] | None:
        with self._lock:
            item = self._items.get(key)
            if item is None or item[1] <= time.monotonic():
                if item is not None:
                    self._drop(key)
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return copy.deepcopy(item[0])

    def put(self, key: tuple, parts: list[dict], ttl_s: float) -> None:
        size = _size(parts)
        if size > self.max_chars or ttl_s <= 0:
            return
        with self._lock:
            if key in self._items:
                self._drop(key)
            self._items[key] = (copy.deepcopy(parts), time.monotonic() + ttl_s, size)
            self._chars += size
            while self._items and (len(self._items) > self.max_entries or self._chars > self.max_chars):
                self._drop(next(iter(self._items)))

    def _drop(self, key: tuple) -> None:
        _, _, size = self._items.pop(key)
        self._chars -= size

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._chars = 0
            self.hits = self.misses = 0

    def info(self) -> dict:
        with self._lock:
            return {"entries": len(self._items), "chars": self._chars, "hits": self.hits, "misses": self.misses}


def _size(parts: list[dict]) -> int:
    total = 0
    for part in parts:
        total += len(part.get("text") or "")
        image = part.get("image_url")
        if isinstance(image, dict):
            total += len(image.get("url") or "")
    return total


_cache = _Cache()


def cache_clear() -> None:
    _cache.clear()


def cache_info() -> dict:
    """{"entries", "chars", "hits", "misses"} of the per-process file cache."""
    return _cache.info()


def _ttl_for(parts: list[dict]) -> float:
    """Entries holding a presigned URL live at most half of the URL's life."""
    for part in parts:
        url = (part.get("image_url") or {}).get("url", "") if isinstance(part.get("image_url"), dict) else ""
        if url.startswith(("http://", "https://")):
            from agentgate.config import settings

            return min(CACHE_TTL_S, settings().presign_ttl_s / 2)
    return CACHE_TTL_S


# ------------------------------------------------------------------------------------- files


def _unusable(exc: FileError) -> ApiError:
    return ApiError(exc.status, exc.message, param="content")


def _attachment(owner_id: str, budget: int, *, file_id: str | None = None, file_url: str | None = None
                ) -> list[dict]:
    from agentgate.files import attachment_parts

    try:
        return attachment_parts(owner_id, file_id=file_id, file_url=file_url, budget_chars=budget)
    except FileError as exc:
        raise _unusable(exc) from None


def _cached(key: tuple, load) -> list[dict]:
    parts = _cache.get(key)
    if parts is None:
        parts = load()
        _cache.put(key, parts, _ttl_for(parts))
    return parts


def _by_file_id(owner_id: str, file_id: Any, budget: int) -> list[dict]:
    if isinstance(file_id, int) and not isinstance(file_id, bool):
        file_id = str(file_id)
    if not isinstance(file_id, str) or not file_id.strip():
        raise ApiError(400, "file_id must be a non-empty string", param="file_id")
    file_id = file_id.strip()
    return _cached((owner_id, "id", file_id, budget),
                   lambda: _attachment(owner_id, budget, file_id=file_id))


def _our_key(url: str) -> str | None:
    from agentgate.files import storage

    return storage.key_from_url(url)


def _by_file_url(owner_id: str, url: Any, budget: int) -> list[dict]:
    """A Coze file_url: ours -> the owner's file; data:image or an external image URL passes."""
    if not isinstance(url, str) or not url.strip():
        raise ApiError(400, "file_url must be a non-empty string", param="file_url")
    url = url.strip()
    key = None if url.startswith("data:") else _our_key(url)
    if key is None:  # no I/O to save: the check is local
        return _attachment(owner_id, budget, file_url=url)
    return _cached((owner_id, "key", key, budget), lambda: _attachment(owner_id, budget, file_url=url))


def _internal_url(url: str) -> bool:
    from urllib.parse import urlsplit

    from agentgate.net import hosts

    try:
        host = urlsplit(url).hostname
    except ValueError:  # e.g. an unbalanced [ in the netloc
        return True
    return not host or hosts.is_internal(host)


def _image(owner_id: str, url: Any, detail: Any, budget: int) -> list[dict]:
    """An image reference: ours -> the owner's file; anything else passes through as given."""
    if not isinstance(url, str) or not url.strip():
        raise ApiError(400, "an image part needs a url", param="image_url.url")
    url = url.strip()
    if not url.startswith("data:") and _our_key(url) is not None:
        parts = _by_file_url(owner_id, url, budget)
    else:
        if not url.startswith(("data:", "http://", "https://")):
            raise ApiError(400, "an image url must be an http(s) or data: URL", param="image_url.url")
        if not url.startswith("data:") and _internal_url(url):
            raise ApiError(400, "an image url points at a private or local address", param="image_url.url")
        parts = [{"type": "image_url", "image_url": {"url": url}}]
    if isinstance(detail, str):
        for part in parts:
            if part.get("type") == "image_url":
                part["image_url"]["detail"] = detail
    return parts


def _decode_file_data(raw: Any) -> bytes:
    if not isinstance(raw, str) or not raw.strip():
        raise ApiError(400, "file.file_data must be a base64 string or a data: URL", param="file.file_data")
    payload = raw.strip()
    if payload.startswith("data:"):
        header, sep, payload = payload.partition(",")
        if not sep or not header.endswith(";base64"):
            raise ApiError(400, "file.file_data must be a base64 data: URL (data:<type>;base64,...)",
                           param="file.file_data")
    try:
        return base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "file.file_data is not valid base64", param="file.file_data") from None


def _inline(data_url: Any, filename: Any, budget: int) -> list[dict]:
    """OpenAI's inline file: sniffed, then text or an image, like an upload (nothing stored)."""
    from agentgate.config import settings
    from agentgate.files import names, sniff

    data = _decode_file_data(data_url)
    if not data:
        raise ApiError(400, "file.file_data is empty", param="file.file_data")
    limit = settings().max_file_bytes
    if len(data) > limit:
        raise ApiError(413, f"the inline file is too large: the limit is {limit} bytes", param="file.file_data")
    name = names.display_name(filename if isinstance(filename, str) else None)
    content_type = sniff.sniff(data, name)
    if content_type in sniff.IMAGE_TYPES:
        url = f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"
        return [{"type": "image_url", "image_url": {"url": url}}]
    if content_type in sniff.TEXT_TYPES or content_type in (sniff.PDF, sniff.DOCX):
        from agentgate.files.extract import extract_text

        try:
            text, truncated = extract_text(data, content_type, max(0, budget))
        except FileError as exc:
            raise _unusable(exc) from None
        if not text.strip():
            text = "[no text could be extracted from this file]"
        elif truncated:
            text += f"\n[truncated: only the first {len(text)} characters of this file are shown]"
        return [{"type": "text", "text": f"{name}:\n{text}"}]
    raise ApiError(415, f"a file of type {content_type} cannot be used in chat", param="content")


def _openai_file(owner_id: str, spec: dict, budget: int) -> list[dict]:
    if spec.get("file_id"):
        return _by_file_id(owner_id, spec.get("file_id"), budget)
    if spec.get("file_data"):
        return _inline(spec.get("file_data"), spec.get("filename"), budget)
    if spec.get("file_url"):
        return _by_file_url(owner_id, spec.get("file_url"), budget)
    raise ApiError(400, "a file part needs file.file_id or file.file_data", param="file")


# ------------------------------------------------------------------------------------- parts


class _Budget:
    """Characters of file text left for one message."""

    def __init__(self):
        self.per_file = file_text_chars()
        self.left = message_file_text_chars()

    def next(self) -> int:
        return min(self.per_file, max(self.left, MIN_FILE_TEXT_CHARS))

    def spend(self, parts: list[dict]) -> None:
        self.left -= sum(len(p.get("text") or "") for p in parts if p.get("type") == "text")


def _resolve_one(owner_id: str, part: Any, budget: _Budget) -> list[dict]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text":
        text = part.get("text")
        if not isinstance(text, str):
            raise ApiError(400, "a text part needs a text string", param="text")
        return [{"type": "text", "text": text}]
    if kind == "image_url":  # OpenAI
        image = part.get("image_url")
        if isinstance(image, dict):
            return _image(owner_id, image.get("url"), image.get("detail"), budget.next())
        return _image(owner_id, image, None, budget.next())
    if kind == "file" and isinstance(part.get("file"), dict):  # OpenAI
        return _openai_file(owner_id, part["file"], budget.next())
    if kind in ("file", "image"):  # Coze object_string
        if part.get("file_id"):
            return _by_file_id(owner_id, part.get("file_id"), budget.next())
        if part.get("file_url"):
            if kind == "image":
                return _image(owner_id, part.get("file_url"), None, budget.next())
            return _by_file_url(owner_id, part.get("file_url"), budget.next())
        raise ApiError(400, f"a {kind} item needs file_id or file_url", param="content")
    if kind in ("audio", "input_audio"):
        raise ApiError(415, "audio cannot be used in chat", param="content")
    raise ApiError(400, f"unsupported content part type {kind!r}", param="content")


def _describe(part: Any) -> str:
    if not isinstance(part, dict):
        return "attachment"
    spec = part.get("file") if isinstance(part.get("file"), dict) else part
    ref = spec.get("file_id") or spec.get("filename") or spec.get("file_name")
    return f"{part.get('type') or 'attachment'} {ref}" if ref else str(part.get("type") or "attachment")


def resolve_parts(owner_id: str, parts: list[dict[str, Any]], *, strict: bool = True) -> list[dict[str, Any]]:
    """Message content parts -> runner content parts (see the module docstring).

    strict (this turn's input): raises ApiError (400, 404, 413, 415) for what cannot be used.
    Not strict (stored history): such a part becomes a text note and the turn goes on.
    """
    out: list[dict[str, Any]] = []
    budget = _Budget()
    for part in parts:
        try:
            resolved = _resolve_one(owner_id, part, budget)
        except ApiError as exc:
            if strict:
                raise
            resolved = [{"type": "text", "text": f"[{_describe(part)} is not available: {exc.message}]"}]
        except Exception:
            if strict:
                raise
            log.warning("re-resolving a stored attachment failed", exc_info=True)
            resolved = [{"type": "text", "text": f"[{_describe(part)} could not be read]"}]
        budget.spend(resolved)
        out.extend(resolved)
    return out
