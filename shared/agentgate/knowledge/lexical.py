"""The lexical index: BM25 (Okapi, from rank_bm25) over agentgate.knowledge.tokenize's terms.

An index is built from chunk texts in memory (no network, no files), so it works the same in the
local gateway, in tests and in Lambda. Building costs about a millisecond per hundred chunks;
retrieval caches built indexes per knowledge-base version (agentgate.knowledge.retrieval).
"""

from __future__ import annotations

from agentgate.knowledge.tokenize import tokens

_okapi = None


def _bm25_class():
    """rank_bm25's BM25Okapi with Lucene's idf, log(1 + (N - n + 0.5) / (n + 0.5)).

    rank_bm25's own idf, log((N - n + 0.5) / (n + 0.5)), goes negative for a term in more than
    half the chunks, so a small base (one document, a few chunks) would score every chunk <= 0.
    Lucene's form is positive for every term and ranks the same way otherwise.
    """
    global _okapi
    if _okapi is None:
        import math

        from rank_bm25 import BM25Okapi

        class LuceneIdfBM25(BM25Okapi):
            def _calc_idf(self, nd):
                self.idf = {word: math.log(1.0 + (self.corpus_size - freq + 0.5) / (freq + 0.5))
                            for word, freq in nd.items()}

        _okapi = LuceneIdfBM25
    return _okapi


class LexicalIndex:
    def __init__(self, texts: list[str], token_lists: list[list[str]] | None = None):
        self.size = len(texts)
        self._tokens = token_lists if token_lists is not None else [tokens(t) for t in texts]
        self._bm25 = None
        if self.size and any(self._tokens):
            # An empty token list would divide by zero in rank_bm25's average length.
            self._bm25 = _bm25_class()([t or ["\x00"] for t in self._tokens])

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """(position, score) of the best `k` chunks with a positive score, best first."""
        if self._bm25 is None or k <= 0:
            return []
        terms = tokens(query)
        if not terms:
            return []
        scores = self._bm25.get_scores(terms)
        ranked = sorted(((i, float(s)) for i, s in enumerate(scores) if s > 0), key=lambda x: -x[1])
        return ranked[:k]
