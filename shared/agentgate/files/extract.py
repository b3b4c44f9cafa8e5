"""Text out of a stored file, for the model to read. pypdf and python-docx load only when needed.

Each extractor stops once it has `budget` characters (plus one, to know it truncated), so a
thousand-page PDF costs no more than the pages that fit.
"""

from __future__ import annotations

import importlib
import io

from agentgate.files import sniff
from agentgate.files.errors import FileUnusable

# A reader's module -> (pip package, the agentgate extra that installs it).
OPTIONAL_READERS = {"pypdf": ("pypdf", "files"), "docx": ("python-docx", "files")}


def _require(module: str, what: str):
    """Import an optional reader, or refuse clearly (501, naming what to install): never a 500."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        package, extra = OPTIONAL_READERS[module]
        raise FileUnusable(501, f"reading {what} files needs the optional package {package}, which this "
                                f"installation lacks: pip install 'agentgate[{extra}]' (a Lambda layer: add "
                                f"{package} to shared/requirements.txt)") from err


def extract_text(data: bytes, content_type: str, budget: int) -> tuple[str, bool]:
    """(text, truncated): at most `budget` characters of the file's text."""
    if content_type in sniff.TEXT_TYPES:
        text = data.decode("utf-8-sig", errors="replace")
    elif content_type == sniff.PDF:
        text = _pdf_text(data, budget + 1)
    elif content_type == sniff.DOCX:
        text = _docx_text(data, budget + 1)
    else:
        raise FileUnusable(415, f"no text can be read from a file of type {content_type}")
    return text[:budget], len(text) > budget


def _pdf_text(data: bytes, want: int) -> str:
    pypdf = _require("pypdf", "PDF")
    PdfReader, PdfReadError = pypdf.PdfReader, pypdf.errors.PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise FileUnusable(415, "the PDF is encrypted; upload it without a password")
        pages: list[str] = []
        size = 0
        for page in reader.pages:
            text = (page.extract_text() or "").strip()
            if text:
                pages.append(text)
                size += len(text) + 2
            if size >= want:
                break
    except FileUnusable:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as err:
        raise FileUnusable(415, f"the PDF could not be read: {err}") from err
    return "\n\n".join(pages)


def _docx_text(data: bytes, want: int) -> str:
    docx = _require("docx", "DOCX")

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as err:  # python-docx raises a spread of zip/XML/KeyError types on bad input
        raise FileUnusable(415, f"the DOCX could not be read: {err}") from err
    lines: list[str] = []
    size = 0
    for paragraph in document.paragraphs:
        lines.append(paragraph.text)
        size += len(paragraph.text) + 1
        if size >= want:
            return "\n".join(lines)
    for table in document.tables:
        for row in table.rows:
            line = " | ".join(cell.text.strip() for cell in row.cells)
            lines.append(line)
            size += len(line) + 1
            if size >= want:
                return "\n".join(lines)
    return "\n".join(lines).strip()
