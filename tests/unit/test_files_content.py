"""Pure parts of the files package: name cleaning, type sniffing, S3 key and URL mapping."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile

import pytest

from agentgate.files import names, sniff, storage


@pytest.mark.parametrize("raw, shown", [
    ("../../etc/passwd", "passwd"),
    ("a\\b.txt", "b.txt"),
    ("\x00evil.txt", "evil.txt"),
    ("line\nbreak\r.txt", "linebreak.txt"),
    ("/etc/", "file"),
    ("...", "file"),
    (".hidden", "hidden"),
    ("  spaced.txt  ", "spaced.txt"),
    ("報告.pdf", "報告.pdf"),
    ("cafe\u0301.txt", "café.txt"),  # NFC
    ("x\u202egpj.exe", "xgpj.exe"),  # a bidi override cannot disguise the extension
    (None, "file"),
    ("", "file"),
])
def test_display_name(raw, shown):
    assert names.display_name(raw) == shown


def test_display_name_is_capped_keeping_the_extension():
    shown = names.display_name("報" * 500 + ".pdf")
    assert len(shown) == 200 and shown.endswith(".pdf")
    assert len(names.display_name("x" * 1000)) == 200


@pytest.mark.parametrize("display, key", [
    ("報告.pdf", "file.pdf"),
    ("my report (final).docx", "my_report_final.docx"),
    ("café.txt", "cafe.txt"),
    ("報告", "file"),
    ("noext", "noext"),
    ("weird.ext$$", "weird.ext"),
])
def test_key_name_is_ascii_and_safe(display, key):
    got = names.key_name(display)
    assert got == key
    assert got.isascii() and "/" not in got and "\\" not in got and ".." not in got


def test_key_name_is_capped():
    assert len(names.key_name("a" * 500 + ".txt")) <= 100


def _zip(*parts: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for part in parts:
            archive.writestr(part, "<x/>")
    return buf.getvalue()


@pytest.mark.parametrize("data, name, expected", [
    (b"%PDF-1.7\n...", "x.bin", sniff.PDF),
    (b"\r\n%PDF-1.4\n...", "", sniff.PDF),
    (b"The header is %PDF-1.7, see?", "a.txt", sniff.TEXT),
    (b"\x89PNG\r\n\x1a\n....", "x.jpg", sniff.PNG),
    (b"\xff\xd8\xff\xe0....", "", sniff.JPEG),
    (b"GIF89a....", "", sniff.GIF),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "", sniff.WEBP),
    (_zip("word/document.xml"), "x.zip", sniff.DOCX),
    (_zip("xl/workbook.xml"), "x.docx", sniff.XLSX),
    (_zip("ppt/presentation.xml"), "", sniff.PPTX),
    (_zip("other.txt"), "", sniff.ZIP),
    (b"plain words\n", "a.txt", sniff.TEXT),
    ("中文内容\n".encode(), "a", sniff.TEXT),
    (b"# Title\n", "readme.md", sniff.MARKDOWN),
    (b"a,b\n1,2\n", "t.csv", sniff.CSV),
    (b' {"a": [1, 2]}\n', "data.txt", sniff.JSON),
    (b"\xef\xbb\xbf[1]", "", sniff.JSON),
    (b"{not json", "", sniff.TEXT),
    (b"\x7fELF\x02\x01", "a.txt", sniff.BINARY),
    (b"text\x00with nul", "a.txt", sniff.BINARY),
    (b"\xff\xfe\xfd bad utf8 " * 10, "a.txt", sniff.BINARY),
])
def test_sniff(data, name, expected):
    assert sniff.sniff(data, name) == expected


def test_sniff_text_cut_inside_a_multibyte_character():
    data = ("é" * 40_000).encode()  # the 64 KiB sample ends mid-character
    assert sniff.sniff(data, "a.txt") == sniff.TEXT


def test_object_keys_round_trip_and_owner_ids_cannot_escape_their_prefix():
    key = storage.object_key("alice", "1382477153175480905", "a.txt")
    assert key == "alice/1382477153175480905/a.txt"
    assert storage.parse_key(key) == ("alice", "1382477153175480905", "a.txt")
    sneaky = storage.object_key("../bob/x", "1", "a.txt")
    assert sneaky.count("/") == 2 and storage.parse_key(sneaky)[0] == "../bob/x"
    assert storage.parse_key("a/b") is None and storage.parse_key("a//c") is None


@pytest.mark.parametrize("url, key", [
    ("https://agentgate-files.s3.amazonaws.com/alice/1/a.txt?X-Amz-Expires=1", "alice/1/a.txt"),
    ("https://agentgate-files.s3.us-east-1.amazonaws.com/alice/1/a%20b.txt", "alice/1/a b.txt"),
    ("https://s3.us-east-1.amazonaws.com/agentgate-files/alice/1/a.txt", "alice/1/a.txt"),
    ("https://evil.example.com/agentgate-files/alice/1/a.txt", None),
    ("https://agentgate-files.s3.amazonaws.com.evil.com/alice/1/a.txt", None),
    ("https://other-bucket.s3.amazonaws.com/alice/1/a.txt", None),
    ("ftp://agentgate-files.s3.amazonaws.com/alice/1/a.txt", None),
])
def test_key_from_url(url, key, monkeypatch):
    monkeypatch.delenv("AGENTGATE_S3_ENDPOINT", raising=False)
    assert storage.key_from_url(url) == key


def test_key_from_url_with_a_local_endpoint(monkeypatch):
    monkeypatch.setenv("AGENTGATE_S3_ENDPOINT", "http://127.0.0.1:4566")
    assert storage.key_from_url("http://127.0.0.1:4566/agentgate-files/alice/1/a.txt?x=1") == "alice/1/a.txt"
    assert storage.key_from_url("http://127.0.0.1:9999/agentgate-files/alice/1/a.txt") is None
    assert storage.key_from_url("https://agentgate-files.s3.amazonaws.com/alice/1/a.txt") is None


def test_heavy_libraries_load_only_when_used():
    code = ("import sys, agentgate.api.files, agentgate.api.conversations, agentgate.files.attachments;"
            "heavy = [m for m in ('pypdf', 'docx', 'boto3') if m in sys.modules];"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
