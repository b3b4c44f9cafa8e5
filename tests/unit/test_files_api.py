"""Uploads and retrieval through the files app: both answer shapes, limits, types, names, owners."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from fastapi.testclient import TestClient

from agentgate.api.files import app
from agentgate.config import settings
from agentgate.files import storage

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def client(aws):
    storage.reset_client()
    yield TestClient(app)
    storage.reset_client()


@pytest.fixture
def alice(as_owner):
    return as_owner("alice", "chat")


def _upload(client, headers, name="notes.txt", data=b"hello", path="/v1/files/upload", ctype="text/plain"):
    return client.post(path, files={"file": (name, data, ctype)}, headers=headers)


def _objects() -> list[str]:
    listed = boto3.client("s3", region_name=settings().region).list_objects_v2(Bucket=settings().files_bucket)
    return [o["Key"] for o in listed.get("Contents", [])]


def _records() -> int:
    table = boto3.resource("dynamodb", region_name=settings().region).Table(settings().files_table)
    return table.scan(Select="COUNT")["Count"]


def test_upload_answers_cozepy_and_seed_002_fields_and_retrieve_matches(client, alice):
    r = _upload(client, alice, "報告.pdf", PDF, ctype="application/octet-stream")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["code"] == 0 and body["msg"] == ""
    data = body["data"]
    # cozepy's File
    assert data["id"].isdigit() and data["bytes"] == len(PDF) and isinstance(data["created_at"], int)
    assert data["file_name"] == "報告.pdf"
    # seed 002's fields, in data and flat
    assert data["file_id"] == data["id"] and data["file_size"] == len(PDF)
    assert data["file_type"] == "application/pdf"  # sniffed, not the client's octet-stream
    assert data["upload_url"].startswith("https://")
    assert body["file_id"] == data["id"] and body["upload_url"] == data["upload_url"]

    got = client.get("/v1/files/retrieve", params={"file_id": data["id"]}, headers=alice)
    assert got.status_code == 200
    again = got.json()["data"]
    assert {k: again[k] for k in ("id", "bytes", "created_at", "file_name", "file_type")} == \
           {k: data[k] for k in ("id", "bytes", "created_at", "file_name", "file_type")}
    key = _objects()[0]
    assert key.startswith(f"alice/{data['id']}/") and key.endswith(".pdf")


def test_presigned_url_expires_and_serves_the_bytes(client, alice, monkeypatch):
    monkeypatch.setenv("AGENTGATE_PRESIGN_TTL_S", "120")
    data = _upload(client, alice, "a.txt", b"the content").json()["data"]
    query = parse_qs(urlsplit(data["upload_url"]).query)
    assert query["X-Amz-Expires"] == ["120"] and "X-Amz-Signature" in query
    fetched = requests.get(data["upload_url"], timeout=5)  # moto answers the signed GET
    assert fetched.status_code == 200 and fetched.content == b"the content"
    assert fetched.headers["content-type"] == "text/plain"


def test_agentchat_upload_answers_the_signed_url(client, alice):
    r = _upload(client, alice, "doc.md", b"# title\n", path="/api/v1/upload")
    assert r.status_code == 200
    body = r.json()
    assert body["status_code"] == 200 and body["status_message"] == "SUCCESS"
    assert body["data"].startswith("https://") and "X-Amz-Expires" in body["data"]
    assert requests.get(body["data"], timeout=5).content == b"# title\n"


@pytest.mark.parametrize("path", ["/v1/files/upload", "/api/v1/upload"])
def test_empty_and_missing_file_are_400_in_each_shape(client, alice, path):
    r = _upload(client, alice, "empty.txt", b"", path=path)
    assert r.status_code == 400
    err = r.json()
    message = err["msg"] if path.startswith("/v1") else err["status_message"]
    assert message == "file is empty"
    if path.startswith("/api"):
        assert err["status_code"] == 400 and err["data"] is None
    else:
        assert err["code"] == 400 and err["message"] == message and "request_id" in err

    r = client.post(path, files={"other": ("a.txt", b"x", "text/plain")}, headers=alice)
    assert r.status_code == 400
    assert "multipart field 'file' is required" in r.text
    r = client.post(path, data={"file": "just text"}, headers=alice)  # urlencoded, not multipart
    assert r.status_code == 400 and "multipart field 'file' is required" in r.text
    r = client.post(path, json={"file": "x"}, headers=alice)
    assert r.status_code == 400 and "multipart field 'file' is required" in r.text


def test_too_large_is_413_and_stores_nothing(client, alice, monkeypatch):
    monkeypatch.setenv("AGENTGATE_MAX_FILE_BYTES", "1024")
    assert _upload(client, alice, "ok.txt", b"a" * 1024).status_code == 200
    before = (_objects(), _records())
    r = _upload(client, alice, "big.txt", b"a" * 1025)
    assert r.status_code == 413 and "1024 bytes" in r.json()["msg"]
    r = _upload(client, alice, "huge.txt", b"a" * 200_000, path="/api/v1/upload")  # Content-Length refuses it
    assert r.status_code == 413 and r.json()["status_code"] == 413
    assert (_objects(), _records()) == before


def test_too_large_without_content_length_is_counted_while_reading(client, alice, monkeypatch):
    monkeypatch.setenv("AGENTGATE_MAX_FILE_BYTES", "1024")
    boundary = "XyZ"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
            f"Content-Type: text/plain\r\n\r\n").encode() + b"a" * 5000 + f"\r\n--{boundary}--\r\n".encode()

    def chunks():
        for i in range(0, len(body), 700):
            yield body[i:i + 700]

    r = client.post("/v1/files/upload", content=chunks(),
                    headers={**alice, "content-type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 413
    assert _objects() == []


@pytest.mark.parametrize("data", [
    b"\x7fELF\x02\x01\x01" + b"\x00" * 64,  # an executable
    b"MZ\x90\x00" + b"\x00" * 64,
    b"PK\x03\x04" + b"\x00" * 64,  # a broken zip
    bytes(range(256)) * 4,  # binary noise
])
def test_unsupported_types_are_415(client, alice, data):
    r = _upload(client, alice, "innocent.txt", data)
    assert r.status_code == 415 and r.json()["msg"].startswith("unsupported file type")
    assert _objects() == [] and _records() == 0


def test_xlsx_is_sniffed_and_refused(client, alice):
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    r = _upload(client, alice, "sheet.docx", buf.getvalue())
    assert r.status_code == 415 and "spreadsheetml" in r.json()["msg"]


@pytest.mark.parametrize("raw, shown", [
    ("../../etc/passwd", "passwd"),
    ("a\\b.txt", "b.txt"),
    ("C:\\Users\\me\\report.txt", "report.txt"),
    ("\x00evil.txt", "evil.txt"),
    ("/absolute/path/x.txt", "x.txt"),
    ("..", "file"),
    ("報告.txt", "報告.txt"),
    ("spoof\u202etxt.exe", "spooftxt.exe"),
])
def test_hostile_names_are_cleaned(client, alice, raw, shown):
    # A hand-made body: HTTP clients would percent-escape some of these bytes themselves.
    name = raw.replace("\\", "\\\\").replace('"', '\\"').encode("utf-8")
    body = (b'--B0\r\nContent-Disposition: form-data; name="file"; filename="' + name + b'"\r\n'
            b"Content-Type: text/plain\r\n\r\ntext\r\n--B0--\r\n")
    r = client.post("/v1/files/upload", content=body,
                    headers={**alice, "content-type": "multipart/form-data; boundary=B0"})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["file_name"] == shown
    key = _objects()[0]
    owner, file_id, name = key.split("/")
    assert owner == "alice" and file_id == data["id"]
    assert name and ".." not in name and "\\" not in name and name.isascii() and "\x00" not in name


def test_very_long_names_are_capped(client, alice):
    data = _upload(client, alice, "n" * 500 + ".txt", b"text").json()["data"]
    assert len(data["file_name"]) <= 200 and data["file_name"].endswith(".txt")
    assert len(_objects()[0].split("/")[-1]) <= 100


def test_files_belong_to_their_owner(client, alice, as_owner):
    file_id = _upload(client, alice).json()["data"]["id"]
    r = client.get("/v1/files/retrieve", params={"file_id": file_id}, headers=as_owner("bob", "admin"))
    assert r.status_code == 404 and r.json()["code"] == 404
    assert client.get("/v1/files/retrieve", params={"file_id": "1234567890123456789"},
                      headers=alice).status_code == 404
    assert client.get("/v1/files/retrieve", params={"file_id": "../x"}, headers=alice).status_code == 404
    assert client.get("/v1/files/retrieve", headers=alice).status_code == 422


def test_scopes_upload_needs_chat_retrieve_needs_read(client, alice, as_owner):
    file_id = _upload(client, alice).json()["data"]["id"]
    reader = as_owner("alice", "read")
    assert client.get("/v1/files/retrieve", params={"file_id": file_id}, headers=reader).status_code == 200
    assert _upload(client, reader).status_code == 403
    r = _upload(client, reader, path="/api/v1/upload")
    assert r.status_code == 403 and r.json()["status_code"] == 403
    assert _upload(client, {}).status_code == 401


def test_cozepy_files_upload_and_retrieve(client, alice, tmp_path):
    from cozepy import CozeAPIError

    from cozepy_asgi import coze_for

    coze = coze_for(app, alice)
    path = tmp_path / "image.png"
    path.write_bytes(PNG)
    uploaded = coze.files.upload(file=path)
    assert uploaded.id and uploaded.bytes == len(PNG) and uploaded.file_name == "image.png"
    assert coze.files.retrieve(file_id=uploaded.id).id == uploaded.id
    with pytest.raises(CozeAPIError) as err:
        coze.files.upload(file=("empty.txt", b""))
    assert err.value.code == 400 and err.value.msg == "file is empty"


def test_upload_through_mangum_with_a_base64_api_gateway_event(client):
    """What API Gateway sends a buffered function: the multipart body base64-encoded (BinaryMediaTypes)."""
    import base64
    import json as jsonlib

    from mangum import Mangum

    body = (b'--B1\r\nContent-Disposition: form-data; name="file"; filename="\xe5\xa0\xb1\xe5\x91\x8a.png"\r\n'
            b"Content-Type: image/png\r\n\r\n" + PNG + b"\r\n--B1--\r\n")
    headers = {"Content-Type": "multipart/form-data; boundary=B1", "Content-Length": str(len(body)),
               "Host": "abcdef1234.execute-api.us-east-1.amazonaws.com"}
    event = {
        "resource": "/v1/files/upload", "path": "/v1/files/upload", "httpMethod": "POST",
        "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None, "multiValueQueryStringParameters": None, "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"resourcePath": "/v1/files/upload", "httpMethod": "POST", "path": "/prod/v1/files/upload",
                           "stage": "prod", "apiId": "abcdef1234", "requestId": "req-1",
                           "identity": {"sourceIp": "203.0.113.10"},
                           "authorizer": {"key_id": "1", "owner_id": "acme", "scopes": "chat"}},
        "body": base64.b64encode(body).decode(), "isBase64Encoded": True,
    }
    answer = Mangum(app, lifespan="off", api_gateway_base_path="/")(event, None)
    assert answer["statusCode"] == 200, answer
    data = jsonlib.loads(answer["body"])["data"]
    assert data["file_name"] == "報告.png" and data["file_type"] == "image/png" and data["bytes"] == len(PNG)
    assert _objects() == [f"acme/{data['id']}/file.png"]


@pytest.mark.parametrize("body, ctype", [
    (b"garbage without any boundary", "multipart/form-data; boundary=B2"),
    (b"--B2\r\nbroken header line without colon\r\n\r\nx\r\n--B2--\r\n", "multipart/form-data; boundary=B2"),
    (b"--B2\r\nContent-Disposition: form-data; name=\"file\"", "multipart/form-data"),  # no boundary
])
def test_malformed_multipart_is_400(client, alice, body, ctype):
    r = client.post("/v1/files/upload", content=body, headers={**alice, "content-type": ctype})
    assert r.status_code == 400 and r.json()["code"] == 400
    assert _objects() == []


def test_seed002_session_upload_keeps_its_json_content_type_and_still_uploads(client, alice, tmp_path):
    # Seed 002's CozePlusClient sets `Content-Type: application/json` on its requests.Session, and
    # requests keeps the session's Content-Type for `files=` too: a multipart body under a JSON type.
    session = requests.Session()
    session.headers.update({**alice, "Content-Type": "application/json"})
    path = tmp_path / "document.txt"
    path.write_bytes(b"seed 002's document\r\n--not a boundary\r\n")
    with open(path, "rb") as f:
        prepared = session.prepare_request(requests.Request("POST", "http://testserver/v1/files/upload",
                                                            files={"file": f}))
    assert prepared.headers["Content-Type"] == "application/json" and prepared.body.startswith(b"--")
    r = client.post("/v1/files/upload", content=prepared.body, headers=dict(prepared.headers))
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["file_name"] == "document.txt" and data["bytes"] == path.stat().st_size
    # a JSON (or any other) body that is not multipart is still refused
    r = client.post("/v1/files/upload", content=b'{"file": "x"}', headers={**alice, "content-type": "application/json"})
    assert r.status_code == 400 and "multipart" in r.json()["msg"]
    assert _records() == 1
