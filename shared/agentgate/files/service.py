"""Storing an upload and describing a stored file: the rules, between the route and S3/DynamoDB."""

from __future__ import annotations

import logging

from pynamodb.exceptions import DoesNotExist

from agentgate import ids
from agentgate.config import settings
from agentgate.files import names, sniff, storage
from agentgate.files.errors import FileError, too_large
from agentgate.policy import bindings
from agentgate.store.files import FileRecord

log = logging.getLogger(__name__)

ALLOWED_DESCRIPTION = "pdf, docx, txt, md, csv, json, png, jpeg, gif, webp"


def store_upload(owner_id: str, raw_name: str | None, data: bytes, key_id: str | None = None) -> FileRecord:
    """Check, store and record one upload; the checks come first, so a refusal stores nothing."""
    max_bytes = settings().max_file_bytes
    if not data:
        raise FileError(400, "file is empty")
    if len(data) > max_bytes:
        raise too_large(max_bytes)
    display = names.display_name(raw_name)
    content_type = sniff.sniff(data, display)
    if content_type not in sniff.ALLOWED:
        raise FileError(415, f"unsupported file type ({content_type}); accepted: {ALLOWED_DESCRIPTION}")

    def create(file_id: str) -> FileRecord:
        key = storage.object_key(owner_id, file_id, names.key_name(display))
        # Bytes first, then the record: a record never points at nothing.
        storage.put(key, data, content_type)
        record = FileRecord(file_id=file_id, owner_id=owner_id, file_name=display, bytes=len(data),
                            content_type=content_type, s3_key=key, created_at=ids.now_s(), key_id=key_id)
        try:
            record.save(condition=FileRecord.file_id.does_not_exist())
        except Exception:
            try:
                storage.delete(key)
            except Exception:  # the orphan is harmless: nothing refers to it
                log.warning("could not remove orphan object %s", key)
            raise
        return record

    # A taken file_id (another instance, same millisecond): new id, new object.
    return ids.retry_on_collision(create)


def get_file(owner_id: str, file_id: str, principal=None) -> FileRecord | None:
    """The owner's file, or None (unknown, malformed id, someone else's, or outside a bound key's
    files: callers answer 404)."""
    if not ids.is_id(file_id):
        return None
    try:
        record = FileRecord.get(file_id)
    except DoesNotExist:
        return None
    if record.owner_id != owner_id or not bindings.file_visible(principal, record):
        return None
    return record


def signed_url(record: FileRecord) -> str:
    return storage.presigned_get_url(record.s3_key, content_type=record.content_type,
                                     display_name=record.file_name)


def describe(record: FileRecord) -> dict:
    """cozepy's File {id, bytes, created_at, file_name} and seed 002's fields, in one object."""
    ttl = settings().presign_ttl_s
    url = signed_url(record)
    size = int(record.bytes)
    return {
        "id": record.file_id,
        "bytes": size,
        "created_at": int(record.created_at),
        "file_name": record.file_name,
        "file_id": record.file_id,
        "file_size": size,
        "file_type": record.content_type,
        "upload_url": url,
        "url_expires_at": ids.now_s() + ttl,
    }
