"""The access policy's refusals. The apps' error handlers render them in the caller's protocol
shape, with their status and headers (api.errors)."""

from __future__ import annotations


class PolicyError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
