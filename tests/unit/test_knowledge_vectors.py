"""Vectors in Amazon S3 Vectors: storage and deletion checked against moto, QueryVectors (which
moto does not answer) with botocore's Stubber; and the offline vector path (hash embeddings
beside the chunks) that hybrid retrieval uses without a vector bucket."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import ANY, Stubber

from agentgate.config import settings
from agentgate.knowledge import bases, documents, embeddings, retrieval, vectors
from agentgate.store.knowledge import KnowledgeChunk

BUCKET = "agentgate-vectors-test"
TEXT = ("The warranty lasts 24 months from the day of delivery.\n\n"
        "保修期为交货之日起二十四个月。\n\n"
        "Returns are accepted within 30 days with the original box.")


@pytest.fixture
def hash_embeddings(aws, monkeypatch):
    monkeypatch.setenv("AGENTGATE_EMBEDDINGS", "hash")
    monkeypatch.setenv("AGENTGATE_KNOWLEDGE_CHUNK_SIZE", "60")
    monkeypatch.setenv("AGENTGATE_KNOWLEDGE_CHUNK_OVERLAP", "0")
    retrieval.clear_cache()
    vectors.reset_client()
    yield
    vectors.reset_client()


@pytest.fixture
def s3_vectors(hash_embeddings, monkeypatch):
    monkeypatch.setenv("AGENTGATE_VECTOR_BUCKET", BUCKET)
    client = boto3.client("s3vectors", region_name=settings().region)
    client.create_vector_bucket(vectorBucketName=BUCKET)
    yield client
    for index in client.list_indexes(vectorBucketName=BUCKET).get("indexes", []):
        client.delete_index(vectorBucketName=BUCKET, indexName=index["indexName"])
    client.delete_vector_bucket(vectorBucketName=BUCKET)


def _stored(client, knowledge_id: str) -> dict:
    listed = client.list_vectors(vectorBucketName=BUCKET, indexName=vectors.index_name(knowledge_id),
                                 returnMetadata=True, returnData=True)
    return {v["key"]: v for v in listed["vectors"]}


def test_vectors_go_to_one_index_per_base_with_text_in_metadata_and_leave_with_their_document(s3_vectors):
    base = bases.create_base("alice", "kb")
    [doc] = documents.add_documents("alice", base.knowledge_id, [documents.Source(name="warranty", text=TEXT)])
    assert doc.status == "completed" and doc.chunk_count >= 3
    index = s3_vectors.get_index(vectorBucketName=BUCKET, indexName=f"kb-{base.knowledge_id}")["index"]
    assert index["dimension"] == 512 and index["distanceMetric"] == "cosine"
    stored = _stored(s3_vectors, base.knowledge_id)
    chunks = list(KnowledgeChunk.query(base.knowledge_id))
    assert set(stored) == {c.chunk_id for c in chunks}
    assert all(c.vector is None for c in chunks)  # the vectors live in S3 Vectors, not DynamoDB
    first = stored[chunks[0].chunk_id]
    assert first["metadata"]["text"] == chunks[0].text and first["metadata"]["document_id"] == doc.document_id
    assert len(first["data"]["float32"]) == 512
    assert bases.get_base("alice", base.knowledge_id).embedding == "hash/512"

    documents.delete_documents("alice", [doc.document_id])
    assert _stored(s3_vectors, base.knowledge_id) == {}
    bases.delete_base("alice", base.knowledge_id)
    names = [i["indexName"] for i in s3_vectors.list_indexes(vectorBucketName=BUCKET).get("indexes", [])]
    assert f"kb-{base.knowledge_id}" not in names


def test_query_vectors_is_one_call_per_base_and_its_hits_are_merged_with_bm25(s3_vectors):
    base = bases.create_base("alice", "kb")
    documents.add_documents("alice", base.knowledge_id, [documents.Source(name="warranty", text=TEXT)])
    chunks = {c.text: c.chunk_id for c in KnowledgeChunk.query(base.knowledge_id)}
    zh = next(cid for text, cid in chunks.items() if "保修期" in text)
    returns = next(cid for text, cid in chunks.items() if "Returns" in text)
    client = vectors.client()
    with Stubber(client) as stub:
        stub.add_response("query_vectors", {"vectors": [
            {"key": zh, "distance": 0.1, "metadata": {"text": "保修期为交货之日起二十四个月。", "document_id": "x"}},
            {"key": returns, "distance": 0.6, "metadata": {"text": "Returns", "document_id": "x"}},
            {"key": "gone#000001", "distance": 0.2, "metadata": {"text": "a deleted chunk", "document_id": "y"}},
        ], "distanceMetric": "cosine"}, expected_params={"vectorBucketName": BUCKET, "indexName": f"kb-{base.knowledge_id}", "topK": 20,
                             "queryVector": {"float32": ANY}, "returnMetadata": True, "returnDistance": True})
        result = retrieval.retrieve("alice", base.knowledge_id, "保修多久", mode="vector")
        stub.assert_no_pending_responses()
    assert result.mode == "vector"
    assert [h.chunk_id for h in result.hits] == [zh, returns]  # the unknown key is dropped
    assert result.hits[0].vector_score == pytest.approx(0.9) and result.hits[0].score == pytest.approx(1.0)

    with Stubber(client) as stub:
        stub.add_response("query_vectors", {"vectors": [{"key": returns, "distance": 0.3, "metadata": {}}],
                                              "distanceMetric": "cosine"})
        result = retrieval.retrieve("alice", base.knowledge_id, "warranty months", mode="hybrid")
    assert result.mode == "hybrid"
    by_id = {h.chunk_id: h for h in result.hits}
    assert by_id[returns].vector_score == pytest.approx(0.7)
    assert any(h.lexical_score and "24 months" in h.text for h in result.hits)


def test_without_a_vector_bucket_hash_vectors_stay_beside_the_chunks_and_hybrid_uses_them(hash_embeddings):
    base = bases.create_base("alice", "kb")
    documents.add_documents("alice", base.knowledge_id, [documents.Source(name="warranty", text=TEXT)])
    chunks = list(KnowledgeChunk.query(base.knowledge_id))
    assert all(c.vector is not None and len(vectors.unpack(c.vector)) == 512 for c in chunks)
    result = retrieval.retrieve("alice", base.knowledge_id, "保修期是多久", mode="hybrid")
    assert result.mode == "hybrid" and "保修期" in result.hits[0].text
    assert result.hits[0].vector_score > 0 and result.hits[0].lexical_score > 0
    only = retrieval.retrieve("alice", base.knowledge_id, "returns within thirty days box", mode="vector")
    assert "Returns" in only.hits[0].text


def test_vector_mode_without_vectors_is_a_clear_error(aws):
    retrieval.clear_cache()
    base = bases.create_base("alice", "kb")
    documents.add_documents("alice", base.knowledge_id, [documents.Source(name="w", text=TEXT)])
    from agentgate.knowledge.errors import KnowledgeError

    with pytest.raises(KnowledgeError) as err:
        retrieval.retrieve("alice", base.knowledge_id, "warranty", mode="vector")
    assert err.value.status == 409
    assert retrieval.retrieve("alice", base.knowledge_id, "warranty").mode == "lexical"


def test_titan_embeddings_request_and_answer(monkeypatch):
    emb = embeddings.BedrockEmbedder("amazon.titan-embed-text-v2:0", 256)
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    emb._client = client
    import io
    import json

    from botocore.response import StreamingBody

    body = json.dumps({"embedding": [0.1] * 256}).encode()
    with Stubber(client) as stub:
        stub.add_response("invoke_model", {"body": StreamingBody(io.BytesIO(body), len(body)),
                                           "contentType": "application/json"},
                          expected_params={"modelId": "amazon.titan-embed-text-v2:0", "accept": "application/json",
                                           "contentType": "application/json",
                                           "body": json.dumps({"inputText": "你好", "dimensions": 256,
                                                               "normalize": True})})
        assert emb.embed(["你好"]) == [[0.1] * 256]
