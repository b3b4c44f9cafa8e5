"""Seed 001's knowledge routes as written, their file routes, retrieval, bad input and owners."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from agentgate.api.files import app as files_app
from agentgate.api.knowledge import app
from agentgate.files import storage
from agentgate.knowledge import background, retrieval

ZH = ("知识库管理\n管理知识库的创建、查询、更新、删除和检索。知识库检索接口接收用户问题,返回最相关的文档片段。\n\n"
      "对话接口\n与AI助手进行实时对话的核心接口,支持流式响应,自动处理历史对话记录。")
EN = ("The authorizer checks the key's MD5 hash with one GetItem. Keys are never stored in plaintext.\n\n"
      "Streaming responses use server-sent events; a failure after the first byte is an error event.")


@pytest.fixture
def client(aws):
    storage.reset_client()
    retrieval.clear_cache()
    yield TestClient(app)
    storage.reset_client()


@pytest.fixture
def alice(as_owner):
    return as_owner("alice", "chat")


@pytest.fixture
def bob(as_owner):
    return as_owner("bob", "chat")


def _create(client, headers, name="手册", desc="产品手册") -> str:
    r = client.post("/api/v1/knowledge/create", json={"knowledge_name": name, "knowledge_desc": desc},
                    headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status_code"] == 200 and body["status_message"] == "SUCCESS"
    return body["data"]["knowledge_id"]


def _add_text(client, headers, kid, text, name="doc.txt"):
    r = client.post("/api/v1/knowledge_file/create", json={"knowledge_id": kid, "text": text, "file_name": name},
                    headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_seed_001_create_select_update_delete_as_written(client, alice):
    kid = _create(client, alice)
    assert kid.isdigit()
    listed = client.get("/api/v1/knowledge/select", headers=alice).json()
    assert listed["status_code"] == 200
    assert [(k["knowledge_id"], k["knowledge_name"], k["knowledge_desc"]) for k in listed["data"]] == \
        [(kid, "手册", "产品手册")]
    r = client.put("/api/v1/knowledge/update",
                   json={"knowledge_id": kid, "knowledge_name": "新名称", "knowledge_desc": "新描述"}, headers=alice)
    assert r.status_code == 200 and r.json()["data"]["knowledge_name"] == "新名称"
    assert client.get("/api/v1/knowledge/select", headers=alice).json()["data"][0]["knowledge_desc"] == "新描述"
    r = client.request("DELETE", "/api/v1/knowledge/delete", json={"knowledge_id": kid}, headers=alice)
    assert r.status_code == 200 and r.json()["status_code"] == 200
    assert client.get("/api/v1/knowledge/select", headers=alice).json()["data"] == []
    r = client.request("DELETE", "/api/v1/knowledge/delete", json={"knowledge_id": kid}, headers=alice)
    assert r.status_code == 404 and r.json()["status_code"] == 404 and kid in r.json()["status_message"]


def test_seed_001_retrieval_with_an_id_or_a_list_finds_the_passage(client, alice):
    zh = _create(client, alice, "中文")
    en = _create(client, alice, "english")
    assert _add_text(client, alice, zh, ZH)["status"] == "completed"
    _add_text(client, alice, en, EN)
    r = client.post("/api/v1/knowledge/retrieval", json={"query": "知识库检索返回什么", "knowledge_id": zh},
                    headers=alice)
    assert r.status_code == 200, r.text
    hits = r.json()["data"]
    assert hits and "最相关的文档片段" in hits[0]["text"] and hits[0]["knowledge_id"] == zh
    assert hits[0]["content"] == hits[0]["text"] and 0 < hits[0]["score"] <= 1
    assert hits[0]["document_name"] == "doc.txt" and hits[0]["document_id"].isdigit()
    r = client.post("/api/v1/knowledge/retrieval", json={"query": "how is the key hash checked?",
                                                         "knowledge_id": [zh, en]}, headers=alice)
    hits = r.json()["data"]
    assert hits[0]["knowledge_id"] == en and "GetItem" in hits[0]["text"]


def test_bad_input_answers_in_the_envelope_with_the_right_status(client, alice, monkeypatch):
    kid = _create(client, alice)
    cases = [
        ({"query": "", "knowledge_id": kid}, 400, "query"),
        ({"query": "   ", "knowledge_id": kid}, 400, "query"),
        ({"query": "x"}, 400, "knowledge_id"),
        ({"query": "x", "knowledge_id": "1234567890123456789"}, 404, "not found"),
    ]
    for body, status, word in cases:
        r = client.post("/api/v1/knowledge/retrieval", json=body, headers=alice)
        assert r.status_code == status, (body, r.text)
        assert r.json()["status_code"] == status and word in r.json()["status_message"]
    monkeypatch.setenv("AGENTGATE_KNOWLEDGE_MAX_PER_QUERY", "2")
    r = client.post("/api/v1/knowledge/retrieval", json={"query": "x", "knowledge_id": [kid, "1", "2"]}, headers=alice)
    assert r.status_code == 400 and "at most 2 knowledge bases" in r.json()["status_message"]
    monkeypatch.setenv("AGENTGATE_KNOWLEDGE_MAX_BASES", "1")
    r = client.post("/api/v1/knowledge/create", json={"knowledge_name": "two"}, headers=alice)
    assert r.status_code == 400 and "at most 1 knowledge bases" in r.json()["status_message"]
    r = client.post("/api/v1/knowledge/create", json={"knowledge_name": "  "}, headers=alice)
    assert r.status_code == 400


def test_files_unsupported_type_is_415_and_too_large_is_413(client, alice, monkeypatch):
    kid = _create(client, alice)
    files = TestClient(files_app)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    up = files.post("/v1/files/upload", files={"file": ("a.png", png, "image/png")}, headers=alice).json()
    r = client.post("/api/v1/knowledge_file/create", json={"knowledge_id": kid, "file_id": up["data"]["id"]},
                    headers=alice)
    assert r.status_code == 415 and r.json()["status_code"] == 415
    monkeypatch.setenv("AGENTGATE_KNOWLEDGE_MAX_TEXT_CHARS", "10")
    r = client.post("/api/v1/knowledge_file/create", json={"knowledge_id": kid, "text": "x" * 11}, headers=alice)
    assert r.status_code == 413
    r = client.post("/api/v1/knowledge_file/create", json={"knowledge_id": kid, "file_id": "1234567890123456789"},
                    headers=alice)
    assert r.status_code == 404
    r = client.post("/api/v1/knowledge_file/create",
                    json={"knowledge_id": kid, "file_url": "http://169.254.169.254/latest/meta-data"}, headers=alice)
    assert r.status_code == 400
    assert client.get(f"/api/v1/knowledge_file/select?knowledge_id={kid}", headers=alice).json()["data"] == []


def test_an_uploaded_file_by_url_is_indexed_and_deleting_it_removes_its_chunks(client, alice):
    kid = _create(client, alice)
    files = TestClient(files_app)
    url = files.post("/api/v1/upload", files={"file": ("faq.md", EN.encode(), "text/markdown")},
                     headers=alice).json()["data"]
    doc = client.post("/api/v1/knowledge_file/create", json={"knowledge_id": kid, "file_url": url},
                      headers=alice).json()["data"]
    assert doc["status"] == "completed" and doc["file_name"] == "faq.md" and doc["chunk_count"] >= 1
    ask = {"query": "server-sent events", "knowledge_id": kid}
    assert client.post("/api/v1/knowledge/retrieval", json=ask, headers=alice).json()["data"]
    r = client.request("DELETE", "/api/v1/knowledge_file/delete", json={"knowledge_file_id": doc["knowledge_file_id"]},
                       headers=alice)
    assert r.status_code == 200
    assert client.post("/api/v1/knowledge/retrieval", json=ask, headers=alice).json()["data"] == []
    from agentgate.store.knowledge import KnowledgeChunk

    assert list(KnowledgeChunk.query(kid)) == []


def test_a_large_document_is_processed_in_the_background(client, alice, monkeypatch):
    monkeypatch.setenv("AGENTGATE_KNOWLEDGE_SYNC_CHARS", "100")
    kid = _create(client, alice)
    doc = _add_text(client, alice, kid, EN * 5, name="big")
    assert doc["status"] in ("processing", "completed")
    background.wait_local()
    listed = client.get(f"/api/v1/knowledge_file/select?knowledge_id={kid}", headers=alice).json()["data"]
    assert [d["status"] for d in listed] == ["completed"] and listed[0]["chunk_count"] >= 1
    assert listed[0]["file_id"]  # kept as an uploaded file so the worker could read it again


def test_a_document_that_yields_no_text_fails_with_a_reason(client, alice, monkeypatch):
    monkeypatch.setenv("AGENTGATE_KNOWLEDGE_SYNC_CHARS", "10")
    kid = _create(client, alice)
    files = TestClient(files_app)
    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n" + b" " * 64
    fid = files.post("/v1/files/upload", files={"file": ("empty.pdf", pdf, "application/pdf")},
                     headers=alice).json()["data"]["id"]
    client.post("/api/v1/knowledge_file/create", json={"knowledge_id": kid, "file_id": fid}, headers=alice)
    background.wait_local()
    doc = client.get(f"/api/v1/knowledge_file/select?knowledge_id={kid}", headers=alice).json()["data"][0]
    assert doc["status"] == "failed" and doc["reason"]


def test_owners_are_isolated(client, alice, bob):
    kid = _create(client, alice)
    doc = _add_text(client, alice, kid, EN)
    assert client.get("/api/v1/knowledge/select", headers=bob).json()["data"] == []
    for method, path, body in [
        ("PUT", "/api/v1/knowledge/update", {"knowledge_id": kid, "knowledge_name": "mine"}),
        ("DELETE", "/api/v1/knowledge/delete", {"knowledge_id": kid}),
        ("POST", "/api/v1/knowledge/retrieval", {"query": "key", "knowledge_id": kid}),
        ("POST", "/api/v1/knowledge_file/create", {"knowledge_id": kid, "text": "planted"}),
        ("DELETE", "/api/v1/knowledge_file/delete", {"knowledge_file_id": doc["knowledge_file_id"]}),
    ]:
        r = client.request(method, path, json=body, headers=bob)
        assert r.status_code == 404, (path, r.text)
    r = client.get(f"/api/v1/knowledge_file/select?knowledge_id={kid}", headers=bob)
    assert r.status_code == 404
    hits = client.post("/api/v1/knowledge/retrieval", json={"query": "key", "knowledge_id": kid},
                       headers=alice).json()["data"]
    assert hits and client.get("/api/v1/knowledge/select", headers=alice).json()["data"][0]["knowledge_name"] == "手册"


def test_a_read_key_may_retrieve_but_not_write(client, as_owner, alice):
    kid = _create(client, alice)
    reader = as_owner("alice", "read")
    assert client.post("/api/v1/knowledge/create", json={"knowledge_name": "x"}, headers=reader).status_code == 403
    r = client.post("/api/v1/knowledge/retrieval", json={"query": "x", "knowledge_id": kid}, headers=reader)
    assert r.status_code == 200
