"""Vector indexes: Amazon S3 Vectors on AWS, or vectors kept beside the chunks (local, small bases).

S3 Vectors layout: one vector bucket (Settings.vector_bucket), ONE INDEX PER KNOWLEDGE BASE,
named "kb-<knowledge_id>". Why per base and not per owner: deleting a base is one DeleteIndex
instead of listing and deleting its vectors; an index's dimension is fixed, and a base records
the embedder it was built with, so bases built with different models can coexist; a query names
exactly the indexes it may read, so one owner's vectors are never candidates for another's
query (no metadata filter to get right); and a query over a base returns its own top k, with no
filter pruning results after the nearest-neighbour search. The cost is one QueryVectors per base
searched (the budget's "+1 round trip per knowledge index"). Each vector's key is the chunk id;
its metadata holds knowledge_id and document_id (filterable) and the chunk's text and document
name (non-filterable), so a hit needs no second read.

Local layout: the chunk item's `vector` attribute (float32), scored with numpy when the base's
chunks are read for the lexical index (no extra round trip).
"""

from __future__ import annotations

import struct
import threading

from agentgate.config import settings

_clients: dict[tuple, object] = {}
_lock = threading.Lock()
PUT_BATCH = 500
DELETE_BATCH = 500


def index_name(knowledge_id: str) -> str:
    return f"kb-{knowledge_id}"


def pack(vector: list[float]) -> bytes:
    return struct.pack(f"<{len(vector)}f", *vector)


def unpack(data: bytes) -> list[float]:
    return list(struct.unpack(f"<{len(data) // 4}f", data))


def enabled() -> bool:
    return bool(settings().vector_bucket)


def client():
    s = settings()
    key = (s.region,)
    found = _clients.get(key)
    if found is None:
        import boto3
        from botocore.config import Config

        with _lock:
            found = _clients.get(key)
            if found is None:
                found = boto3.client("s3vectors", region_name=s.region,
                                     config=Config(retries={"max_attempts": 3, "mode": "standard"}))
                _clients[key] = found
    return found


def reset_client() -> None:
    _clients.clear()


def _missing(err) -> bool:
    code = getattr(err, "response", {}).get("Error", {}).get("Code", "")
    return code in ("NotFoundException", "ResourceNotFoundException", "NoSuchIndex")


def ensure_index(knowledge_id: str, dims: int) -> None:
    from botocore.exceptions import ClientError

    c = client()
    try:
        c.create_index(vectorBucketName=settings().vector_bucket, indexName=index_name(knowledge_id),
                       dataType="float32", dimension=dims, distanceMetric="cosine",
                       metadataConfiguration={"nonFilterableMetadataKeys": ["text", "document_name"]})
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ConflictException":
            raise


def put(knowledge_id: str, items: list[dict]) -> None:
    """items: {key, vector, knowledge_id, document_id, text, document_name}."""
    c = client()
    for i in range(0, len(items), PUT_BATCH):
        c.put_vectors(vectorBucketName=settings().vector_bucket, indexName=index_name(knowledge_id), vectors=[
            {"key": it["key"], "data": {"float32": [float(v) for v in it["vector"]]},
             "metadata": {"knowledge_id": it["knowledge_id"], "document_id": it["document_id"],
                          "text": it["text"], "document_name": it.get("document_name", "")}}
            for it in items[i:i + PUT_BATCH]])


def delete(knowledge_id: str, keys: list[str]) -> None:
    from botocore.exceptions import ClientError

    c = client()
    for i in range(0, len(keys), DELETE_BATCH):
        try:
            c.delete_vectors(vectorBucketName=settings().vector_bucket, indexName=index_name(knowledge_id),
                             keys=keys[i:i + DELETE_BATCH])
        except ClientError as err:
            if not _missing(err):
                raise


def drop_index(knowledge_id: str) -> None:
    from botocore.exceptions import ClientError

    try:
        client().delete_index(vectorBucketName=settings().vector_bucket, indexName=index_name(knowledge_id))
    except ClientError as err:
        if not _missing(err):
            raise


def query(knowledge_id: str, vector: list[float], k: int) -> list[dict]:
    """[{key, score (cosine similarity), document_id, text, document_name}], best first."""
    from botocore.exceptions import ClientError

    try:
        resp = client().query_vectors(vectorBucketName=settings().vector_bucket, indexName=index_name(knowledge_id),
                                      topK=k, queryVector={"float32": [float(v) for v in vector]},
                                      returnMetadata=True, returnDistance=True)
    except ClientError as err:
        if _missing(err):
            return []  # a base whose documents had no vectors yet
        raise
    out = []
    for v in resp.get("vectors", []):
        meta = v.get("metadata") or {}
        out.append({"key": v["key"], "score": 1.0 - float(v.get("distance", 1.0)),
                    "document_id": meta.get("document_id", ""), "text": meta.get("text", ""),
                    "document_name": meta.get("document_name", "")})
    return out
