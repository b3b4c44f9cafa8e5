"""Errors of the knowledge part, with the HTTP status a route should answer."""

from __future__ import annotations


class KnowledgeError(Exception):
    """Something the caller can fix: `status` is the HTTP status to answer."""

    def __init__(self, status: int, message: str, param: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param


def not_found(what: str, ident: str) -> KnowledgeError:
    return KnowledgeError(404, f"{what} not found: {ident}")
