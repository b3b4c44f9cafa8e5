"""Errors of the files package, with the HTTP status a route should answer."""

from __future__ import annotations


class FileError(Exception):
    """An upload or lookup the caller can fix: `status` is the HTTP status to answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class FileUnusable(FileError):
    """A file (or file URL) that cannot become chat input: 404 unknown, 415 unusable type, 400 bad URL."""


def too_large(max_bytes: int) -> FileError:
    return FileError(413, f"file too large: the limit is {max_bytes} bytes ({max_bytes / 1048576:.1f} MiB)")
