"""Knowledge retrieval quality and latency, offline: recall@5 and MRR for lexical (BM25), vector
(the offline `hash` embedder) and hybrid retrieval over the five seed documents.

    .venv/bin/python bench/knowledge.py [--chunk-size 800] [--overlap 100] [--alpha 0.5]

The labelled set (bench/knowledge_questions.json): 64 questions, 32 in Chinese and 32 in English,
each with the exact answer text from one seed; a chunk is relevant when it contains that text.
The English questions ask about Chinese documents through the terms they share (paths, fields,
code), as a developer would. Everything runs in-process on moto (no network): the real stores,
the real chunker, indexes and fusion. The `hash` embedder is hashed character n-grams, not a
trained model: its "vector" numbers measure surface similarity, and say nothing about what Titan
or another trained embedder would reach (not measurable here without network).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEEDS = sorted((ROOT.parent / "shared" / "seeds").glob("*.txt")) or sorted(Path("/work/shared/seeds").glob("*.txt"))
QUESTIONS = Path(__file__).with_name("knowledge_questions.json")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunk-size", type=int, default=800)
    ap.add_argument("--overlap", type=int, default=100)
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--k", type=int, default=5)
    args = ap.parse_args()

    os.environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="bench",
                      AWS_SECRET_ACCESS_KEY="bench", AGENTGATE_EMBEDDINGS="hash",
                      AGENTGATE_KNOWLEDGE_CHUNK_SIZE=str(args.chunk_size),
                      AGENTGATE_KNOWLEDGE_CHUNK_OVERLAP=str(args.overlap),
                      AGENTGATE_KNOWLEDGE_SYNC_CHARS=str(10**9))
    for name in ("AGENTGATE_DYNAMODB_ENDPOINT", "AGENTGATE_S3_ENDPOINT", "AGENTGATE_VECTOR_BUCKET"):
        os.environ.pop(name, None)
    from moto import mock_aws

    with mock_aws():
        import importlib
        import pkgutil

        import agentgate.store as store_pkg
        from agentgate.store import base as store_base

        for mod in pkgutil.iter_modules(store_pkg.__path__):
            importlib.import_module(f"agentgate.store.{mod.name}")
        store_base.configure_models()
        store_base.create_tables()
        return run(args)


def run(args) -> int:
    from agentgate.knowledge import bases, documents, retrieval
    from agentgate.store.knowledge import KnowledgeChunk

    questions = json.loads(QUESTIONS.read_text())
    if not SEEDS:
        print("no seed documents found", file=sys.stderr)
        return 1
    base = bases.create_base("bench", "seeds")
    t0 = time.perf_counter()
    docs = documents.add_documents("bench", base.knowledge_id, [
        documents.Source(name=p.name, text=p.read_text(encoding="utf-8")) for p in SEEDS])
    index_s = time.perf_counter() - t0
    chunks = list(KnowledgeChunk.query(base.knowledge_id))
    chars = sum(len(p.read_text(encoding="utf-8")) for p in SEEDS)
    print(f"corpus: {len(SEEDS)} seed documents, {chars} characters, {len(chunks)} chunks "
          f"(size {args.chunk_size}, overlap {args.overlap}); indexed (chunk + hash-embed + store) in {index_s:.2f} s")
    assert all(d.status == "completed" for d in docs)
    relevant = {}
    unreachable = 0
    for i, q in enumerate(questions):
        relevant[i] = {c.chunk_id for c in chunks if q["a"] in c.text}
        unreachable += not relevant[i]
    print(f"questions: {len(questions)} ({sum(q['lang'] == 'zh' for q in questions)} Chinese, "
          f"{sum(q['lang'] == 'en' for q in questions)} English); answers split across chunks: {unreachable}")

    found = bases.get_bases("bench", [base.knowledge_id])
    retrieval.clear_cache()
    t0 = time.perf_counter()
    retrieval.search(found, "warm up", top_k=args.k, mode="hybrid", alpha=args.alpha)
    cold_ms = (time.perf_counter() - t0) * 1000
    print(f"first retrieval (reads the base's chunks, builds BM25, loads vectors): {cold_ms:.1f} ms")
    print()
    print(f"{'mode':<8} {'lang':<4} {'recall@' + str(args.k):>9} {'MRR':>6}  {'p50 ms':>7} {'p95 ms':>7}")
    worst = {}
    for mode in ("lexical", "vector", "hybrid"):
        per_lang: dict[str, list[tuple[float, float]]] = {"zh": [], "en": [], "all": []}
        times = []
        misses = []
        for i, q in enumerate(questions):
            t0 = time.perf_counter()
            result = retrieval.search(found, q["q"], top_k=args.k, mode=mode, alpha=args.alpha)
            times.append((time.perf_counter() - t0) * 1000)
            ranks = [r for r, h in enumerate(result.hits, 1) if h.chunk_id in relevant[i]]
            hit = 1.0 if ranks else 0.0
            rr = 1.0 / ranks[0] if ranks else 0.0
            per_lang[q["lang"]].append((hit, rr))
            per_lang["all"].append((hit, rr))
            if not ranks:
                misses.append(q["q"])
        for lang in ("zh", "en", "all"):
            rows = per_lang[lang]
            recall = sum(h for h, _ in rows) / len(rows)
            mrr = sum(r for _, r in rows) / len(rows)
            p50 = statistics.median(times)
            p95 = sorted(times)[int(0.95 * (len(times) - 1))]
            timing = f"{p50:7.2f} {p95:7.2f}" if lang == "all" else ""
            print(f"{mode:<8} {lang:<4} {recall:9.3f} {mrr:6.3f}  {timing}")
        worst[mode] = misses
    print()
    print(f"hybrid misses ({len(worst['hybrid'])}):")
    for q in worst["hybrid"]:
        print("  -", q)
    print("\nhybrid = alpha * vector/max + (1 - alpha) * bm25/max, alpha =", args.alpha,
          "; vector = offline hash embeddings (not a trained model)")
    print("round trips per retrieval: 1 BatchGetItem (bases) + 0 (cached chunks) or 2 Queries (chunks, "
          "document names) per base; with S3 Vectors + 1 QueryVectors per base")
    return 0


if __name__ == "__main__":
    sys.exit(main())
