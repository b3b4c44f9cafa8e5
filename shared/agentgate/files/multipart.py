"""Reading the `file` field of a multipart/form-data body, with the size limit enforced while reading.

Starlette's form parser would spool the whole body before a route could say no; this one checks
Content-Length first, then counts bytes as they arrive and stops at the limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import AsyncIterator

from agentgate.files.errors import FileError, too_large

FIELD = "file"
# Room for the boundaries, part headers and small extra fields around the file itself.
ENVELOPE_SLACK = 64 * 1024
MISSING = f"multipart field '{FIELD}' is required"


@dataclass
class Upload:
    file_name: str | None
    data: bytes
    declared_type: str | None  # what the client claimed; informational only


def _multipart():
    # python-multipart >= 0.0.13 is `python_multipart`; older releases (the floor is 0.0.9) `multipart`.
    try:
        from python_multipart import exceptions, multipart
    except ImportError:  # pragma: no cover
        from multipart import exceptions, multipart
    return multipart, exceptions


def _header_params(value: bytes) -> tuple[bytes, dict[bytes, bytes]]:
    return _multipart()[0].parse_options_header(value)


# A multipart body opens with "--" + its boundary (RFC 2046: 1-70 characters, no trailing space) + CRLF.
_OPENING = re.compile(rb"--([0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?])\r\n")
_OPENING_MAX = 2 + 70 + 2


async def _sniff_boundary(chunks: AsyncIterator[bytes]) -> tuple[bytes | None, AsyncIterator[bytes]]:
    """The boundary a multipart body opens with, when its Content-Type does not say it, and the
    body's chunks again (what was read to find it included)."""
    head = b""
    stream = chunks.__aiter__()
    while len(head) < _OPENING_MAX and b"\r\n" not in head:
        try:
            head += await stream.__anext__()
        except StopAsyncIteration:
            break
    match = _OPENING.match(head)

    async def again() -> AsyncIterator[bytes]:
        yield head
        async for chunk in stream:
            yield chunk

    return (match.group(1) if match else None), again()


async def read_file_field(content_type: str | None, content_length: str | None,
                          chunks: AsyncIterator[bytes], *, max_bytes: int) -> Upload:
    multipart, exceptions = _multipart()
    ctype, params = _header_params((content_type or "").encode("latin-1", "replace"))
    body_limit = max_bytes + ENVELOPE_SLACK
    if content_length and content_length.strip().isdigit() and int(content_length) > body_limit:
        raise too_large(max_bytes)
    if ctype != b"multipart/form-data" or not params.get(b"boundary"):
        # Seed 002's Python client sets `Content-Type: application/json` on its requests.Session,
        # and requests then keeps it for a `files=` upload too: the body is multipart all the same.
        # Such a body names its boundary on its first line; anything else is refused.
        boundary, chunks = await _sniff_boundary(chunks)
        if boundary is None:
            raise FileError(400, f"expected a multipart/form-data body: {MISSING}")
        params = {b"boundary": boundary}

    state = _PartCollector(max_bytes)
    parser = multipart.MultipartParser(params[b"boundary"], callbacks=state.callbacks())
    received = 0
    try:
        async for chunk in chunks:
            received += len(chunk)
            if received > body_limit:
                raise too_large(max_bytes)
            if chunk:
                parser.write(chunk)
        parser.finalize()
    except exceptions.MultipartParseError as err:
        raise FileError(400, f"malformed multipart body: {err}") from err
    if state.found is None:
        raise FileError(400, MISSING)
    return state.found


class _PartCollector:
    """Callbacks for python-multipart: keeps the first `file` part, counting its bytes."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.found: Upload | None = None
        self._headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""
        self._collecting = False
        self._buf = bytearray()
        self._name: str | None = None
        self._type: str | None = None

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self._field = self._value = b""
        self._collecting = False

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        _, disposition = _header_params(self._headers.get(b"content-disposition", b""))
        if self.found is None and disposition.get(b"name") == FIELD.encode():
            self._collecting = True
            self._buf = bytearray()
            raw_name = disposition.get(b"filename")
            # Header bytes are raw UTF-8 from browsers and SDKs (RFC 7578 4.2).
            self._name = raw_name.decode("utf-8", "replace") if raw_name is not None else None
            declared = self._headers.get(b"content-type")
            self._type = declared.decode("latin-1") if declared else None

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._collecting:
            return
        self._buf += data[start:end]
        if len(self._buf) > self.max_bytes:
            raise too_large(self.max_bytes)

    def _part_end(self) -> None:
        if self._collecting:
            self.found = Upload(self._name, bytes(self._buf), self._type)
            self._collecting = False
