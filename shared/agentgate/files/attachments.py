"""Files as chat input: OpenAI-style content parts the runner hands to any provider.

Text-like files become one text part (name, then the text, cut to a budget with a note); images
become an image_url part (a data: URL when small, so no provider has to reach S3; else a
presigned URL). A file_url is either one of our presigned URLs (mapped back to the owner's file
by its key) or an external image URL passed through untouched. Nothing else is fetched: the
server never downloads an arbitrary URL (SSRF).
"""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

from agentgate.files import service, sniff, storage
from agentgate.net import hosts
from agentgate.files.errors import FileUnusable
from agentgate.store.files import FileRecord

INLINE_IMAGE_MAX = 4 * 1024 * 1024  # bytes; bigger images go by presigned URL
_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".webp")
_DATA_IMAGE_PREFIXES = tuple(f"data:{t};base64," for t in sorted(sniff.IMAGE_TYPES))


def attachment_parts(owner_id: str, *, file_id: str | None = None, file_url: str | None = None,
                     budget_chars: int = 20000, inline_image_max: int = INLINE_IMAGE_MAX) -> list[dict]:
    """Content parts for one attached file, named by `file_id` or by `file_url`.

    Raises FileUnusable: 404 unknown file (or another owner's), 415 a type the model cannot use,
    400 a URL we will not use.
    """
    if bool(file_id) == bool(file_url):
        raise FileUnusable(400, "give exactly one of file_id and file_url")
    if file_id:
        record = service.get_file(owner_id, str(file_id))
        if record is None:
            raise FileUnusable(404, f"file not found: {file_id}")
        return record_parts(record, budget_chars=budget_chars, inline_image_max=inline_image_max)
    return _url_parts(owner_id, file_url.strip(), budget_chars, inline_image_max)


def record_parts(record: FileRecord, *, budget_chars: int = 20000, inline_image_max: int = INLINE_IMAGE_MAX
                 ) -> list[dict]:
    """Content parts for a file record the caller already checked the owner of."""
    content_type = record.content_type
    if content_type in sniff.IMAGE_TYPES:
        if int(record.bytes) <= inline_image_max:
            data = storage.get(record.s3_key)
            url = f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"
        else:
            url = service.signed_url(record)
        return [{"type": "image_url", "image_url": {"url": url}}]
    if content_type in sniff.TEXT_TYPES or content_type in (sniff.PDF, sniff.DOCX):
        from agentgate.files.extract import extract_text

        text, truncated = extract_text(storage.get(record.s3_key), content_type, max(0, budget_chars))
        if not text.strip():
            text = "[no text could be extracted from this file]"
        elif truncated:
            text += f"\n[truncated: only the first {len(text)} characters of this file are shown]"
        return [{"type": "text", "text": f"{record.file_name}:\n{text}"}]
    raise FileUnusable(415, f"a file of type {content_type} cannot be used in chat")


def _url_parts(owner_id: str, url: str, budget_chars: int, inline_image_max: int) -> list[dict]:
    if url.startswith(_DATA_IMAGE_PREFIXES):
        return [{"type": "image_url", "image_url": {"url": url}}]
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:  # e.g. "http://[::1" (an unbalanced bracket)
        raise FileUnusable(400, "file_url is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise FileUnusable(400, "file_url must be an http(s) URL")
    key = storage.key_from_url(url)
    if key is not None:
        return record_parts(_record_for_key(owner_id, key), budget_chars=budget_chars,
                            inline_image_max=inline_image_max)
    if hosts.is_internal(hostname):
        raise FileUnusable(400, "file_url points at a private or local address")
    if parts.path.lower().endswith(_IMAGE_EXTENSIONS):
        # The model provider fetches it, as with any image URL a client sends.
        return [{"type": "image_url", "image_url": {"url": url}}]
    raise FileUnusable(400, "only image URLs can be attached from elsewhere; upload other files first "
                            "(POST /api/v1/upload or /v1/files/upload) and pass the URL or file_id returned")


def _record_for_key(owner_id: str, key: str) -> FileRecord:
    parsed = storage.parse_key(key)
    record = None
    if parsed is not None and parsed[0] == owner_id:
        record = service.get_file(owner_id, parsed[1])
    if record is None or record.s3_key != key:
        raise FileUnusable(404, "file not found for this file_url")
    return record
