"""Request-body parsing shared by the protocols: JSON in, a validated pydantic model out, or an
ApiError the route renders in the caller's protocol shape (nothing is stored before this passes)."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from agentgate import jsonlimits
from agentgate.api.errors import ApiError

M = TypeVar("M", bound=BaseModel)


def load_json_object(raw: bytes, status: int = 400) -> dict:
    if not raw or not raw.strip():
        raise ApiError(status, "the request body must be a JSON object")
    try:
        body = jsonlimits.loads(raw, integral_floats=True)
    except jsonlimits.JsonTooDeep as exc:
        raise ApiError(400, f"the request body is {exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"malformed JSON body: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return body


def describe(exc: ValidationError) -> tuple[str, str | None]:
    """A one-line message naming the first few bad fields, and the first field's path."""
    parts: list[str] = []
    param = None
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()))
        param = param or where or None
        if err.get("type") == "missing":
            parts.append(f"{where} is required")
        else:
            msg = str(err.get("msg", "invalid"))
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
            parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts) or "invalid request", param


def parse(model: type[M], body: dict, status: int) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        message, param = describe(exc)
        raise ApiError(status, message, param=param) from None
