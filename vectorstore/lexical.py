"""Okapi BM25 over pre-tokenised texts: the lexical half of hybrid retrieval."""

from __future__ import annotations

import math
from collections import Counter


class BM25:
    """BM25 scores of a query against a fixed list of token lists."""

    def __init__(self, documents: list[list[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self.frequencies = [Counter(doc) for doc in documents]
        self.lengths = [len(doc) for doc in documents]
        self.average = sum(self.lengths) / len(documents) if documents else 0.0
        frequency = Counter(term for doc in self.frequencies for term in doc)
        count = len(documents)
        self.idf = {term: math.log(1 + (count - n + 0.5) / (n + 0.5)) for term, n in frequency.items()}

    def idf_of(self, term: str) -> float:
        """Inverse document frequency; a term absent from every document gets the highest."""
        count = len(self.lengths)
        return self.idf.get(term, math.log(1 + (count + 0.5) / 0.5))

    def scores(self, query: list[str]) -> list[float]:
        """One score per document, higher for better lexical matches."""
        terms = [term for term in dict.fromkeys(query) if term in self.idf]
        results = []
        for freq, length in zip(self.frequencies, self.lengths, strict=True):
            norm = self.k1 * (1 - self.b + self.b * length / self.average) if self.average else 0.0
            score = 0.0
            for term in terms:
                tf = freq.get(term, 0)
                if tf:
                    score += self.idf[term] * tf * (self.k1 + 1) / (tf + norm)
            results.append(score)
        return results
