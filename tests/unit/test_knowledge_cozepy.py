"""cozepy 0.20's datasets and documents methods, unchanged, against the knowledge app."""

from __future__ import annotations

import warnings

import pytest
from cozepy import (
    CozeAPIError,
    DocumentBase,
    DocumentChunkStrategy,
    DocumentFormatType,
    DocumentSourceInfo,
    DocumentStatus,
)

from agentgate.api.files import app as files_app
from agentgate.api.knowledge import app
from agentgate.files import storage
from agentgate.knowledge import retrieval
from fastapi.testclient import TestClient

from cozepy_asgi import coze_for

TEXT = ("Refunds are accepted within 30 days of purchase with the original receipt.\n\n"
        "退货需要在购买后三十天内办理,并出示原始收据。")


@pytest.fixture
def coze(aws, as_owner):
    storage.reset_client()
    retrieval.clear_cache()
    return coze_for(app, as_owner("alice", "chat"))


def test_dataset_create_list_update_delete(coze):
    # examples/dataset_create.py, as written
    res = coze.datasets.create(name="test", space_id="7400000000000000000", format_type=DocumentFormatType.DOCUMENT)
    assert res.dataset_id.isdigit()
    page = coze.datasets.list(space_id="7400000000000000000")
    assert page.total == 1
    [ds] = page.items
    assert ds.dataset_id == res.dataset_id and ds.name == "test" and ds.status == 1
    assert ds.format_type == DocumentFormatType.DOCUMENT and ds.doc_count == 0
    coze.datasets.update(dataset_id=res.dataset_id, name="renamed", description="about refunds")
    [ds] = coze.datasets.list(space_id="x", name="REN").items
    assert ds.description == "about refunds"
    assert coze.datasets.list(space_id="x", name="nothing").items == []
    coze.datasets.delete(dataset_id=res.dataset_id)
    assert coze.datasets.list(space_id="x").total == 0
    with pytest.raises(CozeAPIError) as err:
        coze.datasets.delete(dataset_id=res.dataset_id)
    assert err.value.code == 404


def test_documents_create_from_base64_and_file_id_list_update_process_delete(coze, as_owner):
    ds = coze.datasets.create(name="kb", space_id="1", format_type=DocumentFormatType.DOCUMENT).dataset_id
    uploaded = coze_for(files_app, as_owner("alice", "chat")).files.upload(file=("policy.md", TEXT.encode()))
    docs = coze.datasets.documents.create(
        dataset_id=ds,
        document_bases=[DocumentBase(name="policy.txt", source_info=DocumentSourceInfo.build_local_file(TEXT)),
                        DocumentBase(name="from file", source_info=DocumentSourceInfo.build_file_id(uploaded.id))],
        chunk_strategy=DocumentChunkStrategy.build_custom(400, "\n"),
    )
    assert len(docs) == 2 and all(d.status == DocumentStatus.COMPLETED for d in docs)
    assert docs[0].name == "policy.txt" and docs[0].type == "txt" and docs[0].slice_count >= 1
    assert docs[1].type == "md" and docs[1].char_count == len(TEXT)
    listed = coze.datasets.documents.list(dataset_id=ds)
    assert listed.total == 2 and {d.document_id for d in listed.items} == {d.document_id for d in docs}
    coze.datasets.documents.update(document_id=docs[0].document_id, document_name="退货政策")
    assert {d.name for d in coze.datasets.documents.list(dataset_id=ds).items} == {"退货政策", "from file"}
    progress = coze.datasets.process(dataset_id=ds, document_ids=[d.document_id for d in docs])
    assert [p.status for p in progress] == [DocumentStatus.COMPLETED] * 2 and progress[0].progress == 100
    coze.datasets.documents.delete(document_ids=[docs[0].document_id])
    assert coze.datasets.documents.list(dataset_id=ds).total == 1
    with pytest.raises(CozeAPIError) as err:
        coze.datasets.process(dataset_id=ds, document_ids=[docs[0].document_id])
    assert err.value.code == 404


def test_the_deprecated_knowledge_documents_client_works_too(coze):
    ds = coze.datasets.create(name="kb", space_id="1", format_type=DocumentFormatType.DOCUMENT).dataset_id
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        docs = coze.knowledge.documents.create(dataset_id=ds, document_bases=[
            DocumentBase(name="a", source_info=DocumentSourceInfo.build_local_file(TEXT))])
        assert [d.name for d in coze.knowledge.documents.list(dataset_id=ds).items] == ["a"]
        coze.knowledge.documents.update(document_id=docs[0].document_id, document_name="b")
        coze.knowledge.documents.delete(document_ids=[docs[0].document_id])
        assert coze.knowledge.documents.list(dataset_id=ds).total == 0


def test_bad_document_input_raises_coze_errors(coze, as_owner):
    ds = coze.datasets.create(name="kb", space_id="1", format_type=DocumentFormatType.DOCUMENT).dataset_id
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    image = coze_for(files_app, as_owner("alice", "chat")).files.upload(file=("a.png", png))
    cases = [
        (DocumentSourceInfo.build_file_id(image.id), 415),
        (DocumentSourceInfo.build_web_page("https://example.com/"), 400),
        (DocumentSourceInfo.build_file_id("1234567890123456789"), 404),
    ]
    for info, code in cases:
        with pytest.raises(CozeAPIError) as err:
            coze.datasets.documents.create(dataset_id=ds, document_bases=[DocumentBase(name="x", source_info=info)])
        assert err.value.code == code, info
    assert coze.datasets.documents.list(dataset_id=ds).total == 0  # nothing half-stored
    with pytest.raises(CozeAPIError) as err:
        coze.datasets.documents.list(dataset_id="1234567890123456789")
    assert err.value.code == 404


def test_another_owner_sees_none_of_it(coze, as_owner):
    ds = coze.datasets.create(name="kb", space_id="1", format_type=DocumentFormatType.DOCUMENT).dataset_id
    [doc] = coze.datasets.documents.create(dataset_id=ds, document_bases=[
        DocumentBase(name="a", source_info=DocumentSourceInfo.build_local_file(TEXT))])
    mallory = coze_for(app, as_owner("mallory", "admin"))
    assert mallory.datasets.list(space_id="1").total == 0
    for call in (lambda: mallory.datasets.update(dataset_id=ds, name="x"),
                 lambda: mallory.datasets.delete(dataset_id=ds),
                 lambda: mallory.datasets.process(dataset_id=ds, document_ids=[doc.document_id]),
                 lambda: mallory.datasets.documents.list(dataset_id=ds),
                 lambda: mallory.datasets.documents.update(document_id=doc.document_id, document_name="x"),
                 lambda: mallory.datasets.documents.delete(document_ids=[doc.document_id])):
        with pytest.raises(CozeAPIError) as err:
            call()
        assert err.value.code == 404
    assert coze.datasets.documents.list(dataset_id=ds).items[0].name == "a"


def test_coze_style_retrieval_route(coze, as_owner):
    ds = coze.datasets.create(name="kb", space_id="1", format_type=DocumentFormatType.DOCUMENT).dataset_id
    coze.datasets.documents.create(dataset_id=ds, document_bases=[
        DocumentBase(name="a", source_info=DocumentSourceInfo.build_local_file(TEXT))],
        chunk_strategy=DocumentChunkStrategy.build_custom(100, "\n"))
    client = TestClient(app)
    r = client.post("/v1/datasets/retrieve", json={"dataset_ids": [ds], "query": "退货要多少天内办理", "top_k": 1},
                    headers=as_owner("alice", "read"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["code"] == 0 and body["data"]["mode"] == "lexical"
    [chunk] = body["data"]["chunks"]
    assert "三十天" in chunk["slice"] and chunk["dataset_id"] == ds and chunk["document_name"] == "a"
    r = client.post("/v1/datasets/retrieve", json={"dataset_ids": [ds], "query": ""}, headers=as_owner("alice"))
    assert r.status_code == 400 and r.json()["code"] == 400 and r.json()["msg"]
