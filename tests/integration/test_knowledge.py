"""Knowledge bases through the real local gateway: cozepy's datasets and documents methods as
written, and bots that answer from an uploaded PDF through the stub upstream, which must see the
retrieved chunk (its own log, GET /_requests, is the proof)."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from unit.test_files_attachments import make_pdf

pytestmark = pytest.mark.integration

OWNER = "knowledge-it"


@pytest.fixture(scope="module")
def key(gateway) -> str:
    return gateway.create_key(OWNER, scopes=("admin",))


@pytest.fixture(scope="module")
def http(gateway, key):
    with gateway.client(key) as c:
        yield c


def unique(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8].upper()}"


def stub_bodies_with(stub_upstream: str, marker: str) -> list[dict]:
    base = stub_upstream.rsplit("/v1", 1)[0]
    bodies = httpx.get(f"{base}/_requests", timeout=10).json()
    return [b for b in bodies if marker in json.dumps(b, ensure_ascii=False)]


def test_cozepy_datasets_and_documents_against_the_gateway(gateway, key, tmp_path):
    from cozepy import (
        Coze,
        DocumentBase,
        DocumentChunkStrategy,
        DocumentFormatType,
        DocumentSourceInfo,
        DocumentStatus,
        TokenAuth,
    )

    coze = Coze(auth=TokenAuth(key), base_url=gateway.base_url)
    res = coze.datasets.create(name="test", space_id="your workspace id", format_type=DocumentFormatType.DOCUMENT)
    assert res.dataset_id.isdigit()
    path = tmp_path / "manual.pdf"
    path.write_bytes(make_pdf("The warranty lasts 24 months from delivery.", "Returns need the original box."))
    uploaded = coze.files.upload(file=path)
    docs = coze.datasets.documents.create(
        dataset_id=res.dataset_id,
        document_bases=[DocumentBase(name="manual.pdf", source_info=DocumentSourceInfo.build_file_id(uploaded.id)),
                        DocumentBase(name="note", source_info=DocumentSourceInfo.build_local_file("退货需要原包装。"))],
        chunk_strategy=DocumentChunkStrategy.build_custom(200, "\n"))
    assert [d.status for d in docs] == [DocumentStatus.COMPLETED] * 2 and docs[0].type == "pdf"
    progress = coze.datasets.process(dataset_id=res.dataset_id, document_ids=[d.document_id for d in docs])
    assert [p.progress for p in progress] == [100, 100]
    [ds] = [d for d in coze.datasets.list(space_id="x").items if d.dataset_id == res.dataset_id]
    assert ds.doc_count == 2 and ds.slice_count >= 2
    coze.datasets.update(dataset_id=res.dataset_id, name="manuals")
    coze.datasets.documents.update(document_id=docs[1].document_id, document_name="退货说明")
    listed = coze.datasets.documents.list(dataset_id=res.dataset_id)
    assert listed.total == 2 and "退货说明" in {d.name for d in listed.items}
    with gateway.client(key) as c:
        r = c.post("/v1/datasets/retrieve", json={"dataset_ids": [res.dataset_id], "query": "how long is the warranty"})
    assert r.status_code == 200 and "24 months" in r.json()["data"]["chunks"][0]["slice"]
    coze.datasets.documents.delete(document_ids=[docs[0].document_id])
    with gateway.client(key) as c:
        r = c.post("/v1/datasets/retrieve", json={"dataset_ids": [res.dataset_id], "query": "how long is the warranty"})
    assert all("24 months" not in ch["slice"] for ch in r.json()["data"]["chunks"])
    coze.datasets.delete(dataset_id=res.dataset_id)
    assert res.dataset_id not in {d.dataset_id for d in coze.datasets.list(space_id="x").items}


@pytest.fixture(scope="module")
def pdf_bot(http):
    """Seed 001's flow: upload a PDF, make a knowledge base of it, bind it to a bot on the stub."""
    secret = unique("HERON")
    url = http.post("/api/v1/upload", files={"file": ("handbook.pdf", make_pdf(
        "Office hours are nine to five.", f"The emergency door code is {secret}.", "Lunch is at noon."),
        "application/pdf")}).json()["data"]
    kid = http.post("/api/v1/knowledge/create", json={"knowledge_name": "handbook", "knowledge_desc": "staff"}
                    ).json()["data"]["knowledge_id"]
    r = http.post("/api/v1/knowledge_file/create", json={"knowledge_id": kid, "file_url": url})
    assert r.status_code == 200 and r.json()["data"]["status"] == "completed", r.text
    r = http.post("/v1/bot/create", json={"name": "handbook bot", "model": "stub/stub", "knowledge_ids": [kid]})
    assert r.status_code == 200, r.text
    bot_id = r.json()["data"]["bot_id"]
    assert http.post("/v1/bot/publish", json={"bot_id": bot_id}).status_code == 200
    return bot_id, kid, secret


def test_an_openai_client_gets_an_answer_from_the_pdf_and_its_sources(gateway, key, pdf_bot, stub_upstream):
    from openai import OpenAI

    bot_id, kid, secret = pdf_bot
    client = OpenAI(api_key=key, base_url=gateway.base_url + "/v1", max_retries=0)
    question = f"What is the emergency door code? ({unique('q')})"
    out = client.chat.completions.create(model=bot_id, messages=[{"role": "user", "content": question}])
    [body] = stub_bodies_with(stub_upstream, question)
    system = [m["content"] for m in body["messages"] if m["role"] == "system"]
    assert any(secret in s and "[1] handbook.pdf" in s for s in system)  # the chunk reached the model
    assert secret in out.choices[0].message.content  # the stub quotes what it saw
    sources = out.model_extra["knowledge"]
    assert sources[0]["knowledge_id"] == kid and secret in sources[0]["text"]
    stream = list(client.chat.completions.create(model=bot_id, stream=True,
                                                 messages=[{"role": "user", "content": question + " again"}]))
    assert stream[0].choices[0].delta.role == "assistant"  # the role chunk first, then the sources
    assert secret in stream[1].model_extra["knowledge"][0]["text"] and stream[1].choices[0].delta.content is None
    assert secret in "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def test_a_coze_stream_shows_the_recall_as_a_verbose_message(gateway, key, pdf_bot, stub_upstream):
    from cozepy import ChatEventType, Coze, Message, TokenAuth

    bot_id, kid, secret = pdf_bot
    coze = Coze(auth=TokenAuth(key), base_url=gateway.base_url)
    verbose, answer = [], ""
    for event in coze.chat.stream(bot_id=bot_id, user_id="u1",
                                  additional_messages=[Message.build_user_question_text("emergency door code?")]):
        if event.event == ChatEventType.CONVERSATION_MESSAGE_COMPLETED:
            if event.message.type == "verbose":
                verbose.append(json.loads(event.message.content))
            elif event.message.type == "answer":
                answer = event.message.content
    assert verbose and verbose[0]["msg_type"] == "knowledge_recall"
    chunks = json.loads(verbose[0]["data"])["chunks"]
    assert secret in chunks[0]["slice"] and chunks[0]["meta"]["dataset"]["id"] == kid
    assert secret in answer


def test_another_owner_cannot_bind_or_read_the_base(gateway, pdf_bot):
    _, kid, _ = pdf_bot
    with gateway.client(gateway.create_key("knowledge-intruder", scopes=("admin",))) as other:
        r = other.post("/v1/bot/create", json={"name": "thief", "model": "stub/stub", "knowledge_ids": [kid]})
        assert r.status_code == 404 and r.json()["code"] == 404
        r = other.post("/api/v1/knowledge/retrieval", json={"query": "door code", "knowledge_id": kid})
        assert r.status_code == 404 and r.json()["status_code"] == 404
