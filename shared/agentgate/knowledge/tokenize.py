"""Tokens for the lexical index, for English and Chinese alike.

Chinese has no spaces between words. Word segmenters (jieba) ship as source only or with large
dictionaries; overlapping character bigrams are the standard dictionary-free alternative (as in
Lucene's CJKAnalyzer) and recall well with BM25: a two-character word is one bigram, a longer one
several. A lone CJK character (a one-character query, or a run of one) is kept as a unigram.
Latin text is lower-cased (NFKC first, so full-width letters and digits fold), split on anything
that is not a letter or a digit, stripped of a short list of stop words and lightly stemmed
(plural "s"), so "Documents" matches "document".
"""

from __future__ import annotations

import re
import unicodedata

# CJK Unified Ideographs (+ extension A, compatibility), Hiragana, Katakana, Hangul syllables.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u309f\u30a0-\u30ff\uac00-\ud7af"
_RUN = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+", re.UNICODE)
_IS_CJK = re.compile(rf"[{_CJK}]")

STOP_WORDS = frozenset(
    "a an and are as at be but by for from has have how i if in into is it its me my of on or our "
    "so that the their them then there these they this to was we were what when where which who "
    "why will with you your do does did can".split()
)


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def tokens(text: str) -> list[str]:
    """The index terms of `text`, in order (repeats kept: BM25 counts them)."""
    out: list[str] = []
    for run in _RUN.findall(unicodedata.normalize("NFKC", text).lower()):
        if _IS_CJK.match(run):
            if len(run) == 1:
                out.append(run)
            else:
                out.extend(run[i:i + 2] for i in range(len(run) - 1))
        elif run not in STOP_WORDS:
            out.append(_stem(run))
    return out


def has_cjk(text: str) -> bool:
    return _IS_CJK.search(text) is not None
