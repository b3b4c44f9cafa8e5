"""Uploaded files: metadata here, bytes in S3 under the owner's prefix."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from agentgate.store.base import register


@register(lambda s: s.files_table)
class FileRecord(Model):
    class Meta:
        table_name = "agentgate-files"

    file_id = UnicodeAttribute(hash_key=True)
    owner_id = UnicodeAttribute()
    file_name = UnicodeAttribute()  # sanitised for storage; the original Unicode kept for display
    bytes = NumberAttribute()
    content_type = UnicodeAttribute()  # sniffed from the bytes, not trusted from the client
    s3_key = UnicodeAttribute()
    created_at = NumberAttribute()  # seconds
    key_id = UnicodeAttribute(null=True)  # the key that uploaded it (a bot-bound key sees only its own)
