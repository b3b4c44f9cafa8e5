"""Retrieval over one or more knowledge bases: lexical (BM25), vector (cosine), or both (hybrid).

Round trips: one BatchGetItem for the bases (owner and version), then per base either nothing
(its chunks are cached for that version in this process) or one Query of its chunks (plus one
of its documents, for their current names); with S3 Vectors, one QueryVectors per base. Local
vectors come with the chunks, so local hybrid costs no more than lexical.

Hybrid scores: each list is normalised by its best score (BM25 scores have no fixed scale; cosine
similarities of one query are comparable), then combined as alpha * vector + (1 - alpha) *
lexical (a convex combination, as in Weaviate and Elasticsearch's linear retriever). BM25 runs
over the union of the bases searched, so its scores are comparable across them. With no
embedder configured (or bases indexed without vectors), hybrid is lexical and says so.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, field

from agentgate.config import settings
from agentgate.knowledge import bases as bases_mod
from agentgate.knowledge.errors import KnowledgeError
from agentgate.knowledge.lexical import LexicalIndex
from agentgate.knowledge.tokenize import tokens
from agentgate.store.knowledge import KnowledgeChunk, KnowledgeDocument

MODES = ("hybrid", "lexical", "vector")
MAX_TOP_K = 50
QUERY_MAX_CHARS = 2000
DEFAULT_ALPHA = 0.5
_CORPUS_CACHE = 32
_INDEX_CACHE = 16


@dataclass
class Hit:
    chunk_id: str
    knowledge_id: str
    document_id: str
    document_name: str
    text: str
    score: float
    lexical_score: float | None = None
    vector_score: float | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["score"] = round(self.score, 6)
        for k in ("lexical_score", "vector_score"):
            if d[k] is not None:
                d[k] = round(d[k], 6)
        return d


@dataclass
class Result:
    hits: list[Hit]
    mode: str  # the mode that actually ran ("lexical" when no vectors exist)
    searched: list[str] = field(default_factory=list)


@dataclass
class _Corpus:
    knowledge_id: str
    chunk_ids: list[str]
    document_ids: list[str]
    texts: list[str]
    names: list[str]
    tokens: list[list[str]]
    vectors: object = None  # numpy matrix (rows L2-normalised) of local vectors, or None


_corpora: OrderedDict[tuple, _Corpus] = OrderedDict()
_indexes: OrderedDict[tuple, LexicalIndex] = OrderedDict()
_lock = threading.Lock()


def clear_cache() -> None:
    with _lock:
        _corpora.clear()
        _indexes.clear()


def _remember(cache: OrderedDict, key, value, limit: int):
    with _lock:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > limit:
            cache.popitem(last=False)
    return value


def _corpus(base) -> _Corpus:
    key = (base.knowledge_id, int(base.version))
    found = _corpora.get(key)
    if found is not None:
        return found
    names = {d.document_id: d.name for d in KnowledgeDocument.query(
        base.knowledge_id, attributes_to_get=["knowledge_id", "document_id", "name"])}
    chunk_ids, doc_ids, texts, doc_names, vecs = [], [], [], [], []
    for c in KnowledgeChunk.query(base.knowledge_id):
        if c.owner_id != base.owner_id or c.document_id not in names:
            continue  # a deleted document's chunk still being removed
        chunk_ids.append(c.chunk_id)
        doc_ids.append(c.document_id)
        texts.append(c.text)
        doc_names.append(names[c.document_id])
        vecs.append(c.vector)
    matrix = None
    if texts and all(v is not None for v in vecs):
        import numpy as np

        matrix = np.stack([np.frombuffer(v, dtype="<f4") for v in vecs])
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        matrix = matrix / np.where(norms == 0, 1, norms)
    corpus = _Corpus(base.knowledge_id, chunk_ids, doc_ids, texts, doc_names, [tokens(t) for t in texts], matrix)
    return _remember(_corpora, key, corpus, _CORPUS_CACHE)


def _lexical_index(corpora: list[_Corpus], key: tuple) -> LexicalIndex:
    found = _indexes.get(key)
    if found is not None:
        return found
    texts = [t for c in corpora for t in c.texts]
    token_lists = [t for c in corpora for t in c.tokens]
    return _remember(_indexes, key, LexicalIndex(texts, token_lists), _INDEX_CACHE)


def normalise_ids(knowledge_id) -> list[str]:
    if knowledge_id is None or knowledge_id == "" or knowledge_id == []:
        raise KnowledgeError(400, "knowledge_id is required (an id or a list of ids)", param="knowledge_id")
    values = knowledge_id if isinstance(knowledge_id, list) else [knowledge_id]
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (str, int)) or not str(v).strip():
            raise KnowledgeError(400, "knowledge_id must be an id or a list of ids", param="knowledge_id")
        out.append(str(v).strip())
    out = list(dict.fromkeys(out))
    cap = settings().knowledge_max_per_query
    if len(out) > cap:
        raise KnowledgeError(400, f"a retrieval searches at most {cap} knowledge bases; {len(out)} were given",
                             param="knowledge_id")
    return out


def check_query(query) -> str:
    if not isinstance(query, str) or not query.strip():
        raise KnowledgeError(400, "query must be a non-empty string", param="query")
    if len(query) > QUERY_MAX_CHARS:
        raise KnowledgeError(400, f"query is longer than {QUERY_MAX_CHARS} characters", param="query")
    return query.strip()


def retrieve(owner_id: str, knowledge_ids, query: str, *, top_k: int = 5, mode: str = "hybrid",
             alpha: float = DEFAULT_ALPHA, min_score: float = 0.0) -> Result:
    """The best `top_k` chunks of the owner's bases for `query`. Raises KnowledgeError."""
    query = check_query(query)
    ids = normalise_ids(knowledge_ids)
    if mode not in MODES:
        raise KnowledgeError(400, f"mode must be one of {', '.join(MODES)}", param="mode")
    if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= MAX_TOP_K:
        raise KnowledgeError(400, f"top_k must be between 1 and {MAX_TOP_K}", param="top_k")
    if not 0.0 <= float(alpha) <= 1.0:
        raise KnowledgeError(400, "alpha must be between 0 and 1", param="alpha")
    found = bases_mod.get_bases(owner_id, ids)
    return search(found, query, top_k=top_k, mode=mode, alpha=float(alpha), min_score=min_score)


def search(found: list, query: str, *, top_k: int, mode: str, alpha: float, min_score: float = 0.0) -> Result:
    corpora = [_corpus(b) for b in found]
    candidates = max(top_k * 4, 20)
    by_key: dict[str, Hit] = {}
    where: dict[str, tuple[_Corpus, int]] = {}
    offset = 0
    for c in corpora:
        for i, cid in enumerate(c.chunk_ids):
            where[cid] = (c, i)
        offset += len(c.chunk_ids)

    def hit_for(corpus: _Corpus, i: int) -> Hit:
        cid = corpus.chunk_ids[i]
        hit = by_key.get(cid)
        if hit is None:
            hit = by_key[cid] = Hit(chunk_id=cid, knowledge_id=corpus.knowledge_id,
                                    document_id=corpus.document_ids[i], document_name=corpus.names[i],
                                    text=corpus.texts[i], score=0.0)
        return hit

    ran_lexical = ran_vector = False
    if mode in ("hybrid", "lexical"):
        key = tuple((c.knowledge_id, b.version) for c, b in zip(corpora, found))
        index = _lexical_index(corpora, key)
        flat = [(c, i) for c in corpora for i in range(len(c.chunk_ids))]
        for pos, score in index.search(query, candidates):
            corpus, i = flat[pos]
            hit_for(corpus, i).lexical_score = score
        ran_lexical = True
    if mode in ("hybrid", "vector"):
        ran_vector = _vector_search(found, corpora, query, candidates, hit_for, where)
        if mode == "vector" and not ran_vector:
            raise KnowledgeError(409, "these knowledge bases have no vectors (no embedder is configured); "
                                      "use mode 'lexical' or 'hybrid'")
    lex_max = max((h.lexical_score or 0.0 for h in by_key.values()), default=0.0) or 1.0
    vec_max = max((h.vector_score or 0.0 for h in by_key.values()), default=0.0) or 1.0
    weight = alpha if (ran_lexical and ran_vector) else (1.0 if ran_vector else 0.0)
    for h in by_key.values():
        lex = max(h.lexical_score or 0.0, 0.0) / lex_max
        vec = max(h.vector_score or 0.0, 0.0) / vec_max
        h.score = weight * vec + (1.0 - weight) * lex
    hits = sorted((h for h in by_key.values() if h.score > min_score), key=lambda h: (-h.score, h.chunk_id))
    used = "hybrid" if ran_lexical and ran_vector else ("vector" if ran_vector else "lexical")
    return Result(hits=hits[:top_k], mode=used, searched=[b.knowledge_id for b in found])


def _vector_search(found, corpora, query, candidates, hit_for, where) -> bool:
    from agentgate.knowledge import embeddings, vectors

    ran = False
    query_vectors: dict[str, list[float]] = {}
    for base, corpus in zip(found, corpora):
        emb = embeddings.for_base(base.embedding)
        if emb is None:
            continue
        qv = query_vectors.get(emb.name)
        if qv is None:
            qv = query_vectors[emb.name] = emb.embed([query], query=True)[0]
        if vectors.enabled():
            for item in vectors.query(base.knowledge_id, qv, candidates):
                loc = where.get(item["key"])
                if loc is None:  # indexed, but its chunk is gone: skip it
                    continue
                hit_for(*loc).vector_score = item["score"]
            ran = True
        elif corpus.vectors is not None:
            import numpy as np

            q = np.asarray(qv, dtype="float32")
            q = q / (np.linalg.norm(q) or 1.0)
            sims = corpus.vectors @ q
            for i in np.argsort(-sims)[:candidates]:
                if sims[i] > 0:
                    hit_for(corpus, int(i)).vector_score = float(sims[i])
            ran = True
    return ran
