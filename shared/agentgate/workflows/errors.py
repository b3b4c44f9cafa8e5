"""Errors of the workflows part. Routes map them to the caller's protocol shape."""

from __future__ import annotations


class WorkflowError(Exception):
    """An error a caller can act on: HTTP status, a Coze-style numeric code, a message."""

    status = 400

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None,
                 param: str | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.code = code if code is not None else self.status
        self.param = param


class DefinitionError(WorkflowError):
    """A definition that does not validate; names the node (when there is one) and the problem."""

    def __init__(self, message: str, node: str | None = None):
        super().__init__(f"node '{node}': {message}" if node else message, status=400)
        self.node = node


class InputError(WorkflowError):
    """A run's parameters do not match the declared inputs."""


class NotFound(WorkflowError):
    status = 404


class Conflict(WorkflowError):
    status = 409


class NodeFailed(Exception):
    """A node could not produce its output: the run fails with this message."""

    def __init__(self, message: str, code: int = 500):
        super().__init__(message)
        self.message = message
        self.code = code
