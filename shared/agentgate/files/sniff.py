"""What a file is, judged from its bytes (never from the client's Content-Type).

A small signature table covers the types we accept; zip containers are told apart by the part
every Office format must hold; text is UTF-8 without NULs, refined by extension (md, csv) or by
parsing (json).
"""

from __future__ import annotations

import io
import json

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
GIF = "image/gif"
WEBP = "image/webp"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ZIP = "application/zip"
TEXT = "text/plain"
MARKDOWN = "text/markdown"
CSV = "text/csv"
JSON = "application/json"
BINARY = "application/octet-stream"

IMAGE_TYPES = frozenset({PNG, JPEG, GIF, WEBP})
TEXT_TYPES = frozenset({TEXT, MARKDOWN, CSV, JSON})
ALLOWED = frozenset({PDF, DOCX} | IMAGE_TYPES | TEXT_TYPES)

_OFFICE_PARTS = (("word/document.xml", DOCX), ("xl/workbook.xml", XLSX), ("ppt/presentation.xml", PPTX))
_TEXT_SAMPLE = 64 * 1024  # enough bytes to judge text without decoding a 10 MB file twice


def sniff(data: bytes, file_name: str = "") -> str:
    """The MIME type of `data`; `file_name` only picks among text flavours."""
    # Only leading whitespace before the PDF header: a text file that merely mentions "%PDF-" stays text.
    if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:5] == b"%PDF-":
        return PDF
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if data.startswith(b"PK\x03\x04"):
        return _zip_kind(data)
    if _is_text(data):
        return _text_kind(data, file_name)
    return BINARY


def _zip_kind(data: bytes) -> str:
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return BINARY
    for part, kind in _OFFICE_PARTS:
        if part in names:
            return kind
    return ZIP


def _is_text(data: bytes) -> bool:
    sample = data[:_TEXT_SAMPLE]
    if b"\x00" in sample:
        return False
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as err:
        # A multi-byte character cut by the sample's end is still text.
        if err.start < len(sample) - 3:
            return False
        text = sample[: err.start].decode("utf-8")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    return controls <= max(1, len(text) // 100)


def _text_kind(data: bytes, file_name: str) -> str:
    ext = file_name.rpartition(".")[2].lower() if "." in file_name else ""
    if ext in ("md", "markdown"):
        return MARKDOWN
    if ext == "csv":
        return CSV
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:1] in (b"{", b"["):
        try:
            json.loads(data.decode("utf-8-sig"))
            return JSON
        except (ValueError, RecursionError):  # nested too deep to parse is text too, never a 500
            pass
    return TEXT


def extension_for(content_type: str) -> str:
    return {PDF: "pdf", PNG: "png", JPEG: "jpg", GIF: "gif", WEBP: "webp", DOCX: "docx", TEXT: "txt",
            MARKDOWN: "md", CSV: "csv", JSON: "json"}.get(content_type, "bin")
