"""Okapi BM25 over pre-tokenised texts: the lexical half of hybrid retrieval.

Scoring is bm25s's (sparse, precomputed per term): on a 3,000-sentence case it scores a query
in about 0.3 ms where a loop over the documents took 43 ms (docs/decisions/bm25-library.md); on a short
case the two are equally fast. Scores are Lucene's BM25 times (k1 + 1), which is the classic
Okapi form; the ranking is the same either way.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence


class BM25:
    """BM25 scores of a query against a fixed list of token lists."""

    def __init__(self, documents: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> None:
        import bm25s

        # bm25s sets its own logger to DEBUG on import, which would print on every case load.
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        self.k1 = k1
        self.count = len(documents)
        frequency = Counter(term for doc in documents for term in set(doc))
        self.idf = {term: math.log(1 + (self.count - n + 0.5) / (n + 0.5)) for term, n in frequency.items()}
        vocabulary: dict[str, int] = {}
        ids = [[vocabulary.setdefault(term, len(vocabulary)) for term in doc] for doc in documents]
        self._index = bm25s.BM25(k1=k1, b=b, method="lucene")
        if vocabulary:
            self._index.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocabulary), show_progress=False)

    def idf_of(self, term: str) -> float:
        """Inverse document frequency; a term absent from every document gets the highest."""
        return self.idf.get(term, math.log(1 + (self.count + 0.5) / 0.5))

    def scores(self, query: Sequence[str]) -> list[float]:
        """One score per document, higher for better lexical matches."""
        terms = [term for term in dict.fromkeys(query) if term in self.idf]
        if not terms:
            return [0.0] * self.count
        return [float(score) * (self.k1 + 1) for score in self._index.get_scores(terms)]
