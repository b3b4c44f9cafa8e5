"""attachment_parts: stored files (and file URLs) as OpenAI-style content parts for the runner."""

from __future__ import annotations

import base64
import io

import pytest

from agentgate.files import FileUnusable, attachment_parts, service, sniff, storage
from agentgate.store.files import FileRecord

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")


def make_pdf(*page_texts: str) -> bytes:
    """A minimal PDF with one Helvetica text line per page, with a correct xref table."""
    count = len(page_texts)
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(count))
               + b"] /Count %d >>" % count,
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for i, text in enumerate(page_texts):
        stream = b"BT /F1 12 Tf 72 720 Td (" + text.encode("latin-1") + b") Tj ET"
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                       b"/Resources << /Font << /F1 3 0 R >> >> >>" % (5 + 2 * i))
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def make_docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph("Quarterly summary")
    document.add_paragraph("Revenue grew by 12%.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "region"
    table.rows[0].cells[1].text = "EMEA"
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


@pytest.fixture
def files(aws):
    storage.reset_client()

    def upload(name: str, data: bytes, owner: str = "alice") -> FileRecord:
        return service.store_upload(owner, name, data)

    yield upload
    storage.reset_client()


def _text(parts: list[dict]) -> str:
    assert len(parts) == 1 and parts[0]["type"] == "text"
    return parts[0]["text"]


@pytest.mark.parametrize("name, data, expected", [
    ("notes.txt", "plain notes, ünïcode".encode(), "plain notes, ünïcode"),
    ("readme.md", b"# Title\n\n- item", "# Title\n\n- item"),
    ("table.csv", b"a,b\n1,2\n", "a,b\n1,2"),
    ("data.json", b'{"k": [1, 2]}', '{"k": [1, 2]}'),
])
def test_text_files_become_one_text_part(files, name, data, expected):
    record = files(name, data)
    assert _text(attachment_parts("alice", file_id=record.file_id)) == f"{name}:\n{data.decode()}"
    assert expected in _text(attachment_parts("alice", file_id=record.file_id))


def test_text_is_cut_to_the_budget_with_a_note(files):
    record = files("long.txt", b"0123456789" * 10)
    text = _text(attachment_parts("alice", file_id=record.file_id, budget_chars=25))
    assert text.startswith("long.txt:\n0123456789012345678901234\n")
    assert "truncated" in text and "25" in text


def test_pdf_text_is_extracted(files):
    record = files("報告.pdf", make_pdf("Hello from page one", "And page two"))
    assert record.content_type == sniff.PDF
    text = _text(attachment_parts("alice", file_id=record.file_id))
    assert text.startswith("報告.pdf:\n") and "Hello from page one" in text and "And page two" in text
    short = _text(attachment_parts("alice", file_id=record.file_id, budget_chars=10))
    assert "Hello from" in short and "page two" not in short and "truncated" in short


def test_blank_and_encrypted_pdfs(files):
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    buf = io.BytesIO()
    writer.write(buf)
    blank = files("blank.pdf", buf.getvalue())
    assert "no text could be extracted" in _text(attachment_parts("alice", file_id=blank.file_id))

    writer.encrypt("secret")
    buf = io.BytesIO()
    writer.write(buf)
    locked = files("locked.pdf", buf.getvalue())
    with pytest.raises(FileUnusable) as err:
        attachment_parts("alice", file_id=locked.file_id)
    assert err.value.status == 415 and "encrypted" in err.value.message


def test_broken_pdf_is_415(files):
    record = files("broken.pdf", b"%PDF-1.4\nthis is not really a pdf\n")
    with pytest.raises(FileUnusable) as err:
        attachment_parts("alice", file_id=record.file_id)
    assert err.value.status == 415


def test_docx_text_is_extracted(files):
    record = files("summary.docx", make_docx())
    assert record.content_type == sniff.DOCX
    text = _text(attachment_parts("alice", file_id=record.file_id))
    assert "Quarterly summary" in text and "Revenue grew by 12%." in text and "region | EMEA" in text


def test_images_become_image_url_parts(files):
    record = files("dot.png", PNG)
    parts = attachment_parts("alice", file_id=record.file_id)
    assert parts == [{"type": "image_url",
                      "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()}}]
    big = attachment_parts("alice", file_id=record.file_id, inline_image_max=10)
    assert big[0]["type"] == "image_url" and big[0]["image_url"]["url"].startswith("https://")
    assert "X-Amz-Expires" in big[0]["image_url"]["url"]


def test_unknown_and_other_owners_files_are_404(files):
    record = files("notes.txt", b"mine")
    for owner, file_id in (("bob", record.file_id), ("alice", "1234567890123456789"), ("alice", "../x")):
        with pytest.raises(FileUnusable) as err:
            attachment_parts(owner, file_id=file_id)
        assert err.value.status == 404


def test_a_stored_type_the_model_cannot_use_is_415(files):
    record = files("notes.txt", b"x")
    record.content_type = sniff.XLSX  # as if an older allow-list had let it in
    record.save()
    with pytest.raises(FileUnusable) as err:
        attachment_parts("alice", file_id=record.file_id)
    assert err.value.status == 415


def test_our_presigned_urls_map_back_to_the_owners_file(files):
    record = files("notes.txt", b"from the url")
    url = service.signed_url(record)
    assert _text(attachment_parts("alice", file_url=url)) == "notes.txt:\nfrom the url"
    with pytest.raises(FileUnusable) as err:
        attachment_parts("bob", file_url=url)  # a leaked URL does not hand bob alice's file
    assert err.value.status == 404

    # A key naming alice's prefix but bob's file, or a file under the wrong name, is nobody's.
    bobs = files("b.txt", b"bob's", owner="bob")
    forged = url.replace(record.file_id, bobs.file_id)
    with pytest.raises(FileUnusable) as err:
        attachment_parts("alice", file_url=forged)
    assert err.value.status == 404


def test_external_image_urls_pass_through_and_the_rest_is_refused(files):
    url = "https://images.example.com/cat.PNG?size=large"
    assert attachment_parts("alice", file_url=url) == [{"type": "image_url", "image_url": {"url": url}}]
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert attachment_parts("alice", file_url=data_url)[0]["image_url"]["url"] == data_url

    refused = ["https://example.com/report.pdf", "http://localhost/cat.png", "http://127.0.0.1/cat.png",
               "http://169.254.169.254/latest/meta-data/x.png", "http://[::1]/cat.png", "http://10.0.0.5/a.jpg",
               "ftp://example.com/cat.png", "file:///etc/passwd", "not a url", "data:text/html;base64,PGI+"]
    for bad in refused:
        with pytest.raises(FileUnusable) as err:
            attachment_parts("alice", file_url=bad)
        assert err.value.status == 400, bad


def test_exactly_one_reference_is_required(files):
    with pytest.raises(FileUnusable) as err:
        attachment_parts("alice")
    assert err.value.status == 400
    with pytest.raises(FileUnusable):
        attachment_parts("alice", file_id="1", file_url="https://example.com/a.png")
