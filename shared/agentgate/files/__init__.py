"""Uploaded files: limits, names, type sniffing, S3 storage, and their use as chat attachments.

Nothing heavy is imported here: boto3, pypdf and python-docx load on first use (cold start).
"""

from agentgate.files.errors import FileError, FileUnusable

__all__ = ["FileError", "FileUnusable", "attachment_parts"]


def attachment_parts(owner_id: str, *, file_id: str | None = None, file_url: str | None = None,
                     budget_chars: int = 20000, **kwargs) -> list[dict]:
    """See agentgate.files.attachments.attachment_parts (imported on first call)."""
    from agentgate.files.attachments import attachment_parts as _parts

    return _parts(owner_id, file_id=file_id, file_url=file_url, budget_chars=budget_chars, **kwargs)
