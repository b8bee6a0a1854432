"""Hybrid retrieval: dense (MiniLM) and lexical (BM25) rankings of passages and sentences, fused
by reciprocal rank fusion into a ranking of paragraphs.

Every vector of a loaded case is in memory (vectorstore.store.LoadedCase), so the dense rankings
are one matrix product each rather than a query to Chroma: the store stays the record, and the
loaded version is checked against it at each load (a replaced case is loaded again).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from vectorstore.analysis import NEAR_WORD_SIMILARITY
from vectorstore.store import LoadedCase, Unit
from vectorstore.text import STOPWORDS, content_terms, stem, tokens

if TYPE_CHECKING:
    from vectorstore.embeddings import SentenceEmbeddings

RRF_K = 60
DEFAULT_K = 5


@dataclass(frozen=True)
class ScoredParagraph:
    """A retrieved paragraph: `score` is its best cosine similarity to the query, `fused` its RRF
    score, `unit` what it is (a paragraph, an exhibit, a note) and on which pages."""

    case_id: str
    paragraph: int
    section: str
    text: str
    score: float
    fused: float
    unit: Unit = field(default_factory=Unit)


def _paragraph_ranking(case: LoadedCase, rows: list[int], scores: list[float] | np.ndarray,
                       positive_only: bool) -> list[int]:
    """Paragraph numbers ordered by the best score of any of their rows."""
    best: dict[int, float] = {}
    for row, score in zip(rows, scores, strict=True):
        if positive_only and score <= 0:
            continue
        paragraph = case.paragraph_of(row)
        best[paragraph] = max(best.get(paragraph, float("-inf")), float(score))
    return sorted(best, key=lambda p: -best[p])


def hybrid_search(embeddings: SentenceEmbeddings, case: LoadedCase, query: str, vector: np.ndarray,
                  k: int = DEFAULT_K, answer_pattern: re.Pattern[str] | None = None
                  ) -> list[ScoredParagraph]:
    """The `k` paragraphs of `case` that best match `query` (whose unit vector is `vector`), best
    first, then the paragraphs those cannot be read without. With `answer_pattern` (the kind of
    answer the question wants: an amount, a date), the best paragraph with a sentence holding
    such an answer and speaking of something the query does (see related_terms) is among them."""
    passage_sims = case.passage_vectors @ vector
    nearest = np.argsort(-passage_sims, kind="stable")[:max(3 * k, 10)]
    dense = [(case.passage_rows[i], float(passage_sims[i])) for i in nearest]
    sentence_sims = case.sentence_vectors @ vector
    terms = content_terms(query)
    rankings = [
        _paragraph_ranking(case, [row for row, _ in dense], [sim for _, sim in dense], False),
        _paragraph_ranking(case, case.sentence_rows, sentence_sims, positive_only=False),
        _paragraph_ranking(case, case.passage_rows, case.passage_index.scores(terms), True),
        _paragraph_ranking(case, case.sentence_rows, case.sentence_index.scores(terms), True),
    ]
    fused: dict[int, float] = defaultdict(float)
    for ranking in rankings:
        for rank, paragraph in enumerate(ranking):
            fused[paragraph] += 1.0 / (RRF_K + rank + 1)
    similarity: dict[int, float] = defaultdict(lambda: -1.0)
    for row, sim in zip(case.sentence_rows, sentence_sims, strict=True):
        paragraph = case.paragraph_of(row)
        similarity[paragraph] = max(similarity[paragraph], float(sim))
    for row, sim in dense:
        paragraph = case.paragraph_of(row)
        similarity[paragraph] = max(similarity[paragraph], sim)
    top = sorted(fused, key=lambda p: (-fused[p], p))[:k]
    if answer_pattern is not None:
        # The question wants a kind of answer (an amount, a date): the best paragraph with a
        # sentence holding one, about something the question speaks of, is always a candidate.
        about = related_terms(embeddings, case, query)
        typed = [i for i, row in enumerate(case.sentence_rows)
                 if answer_pattern.search(case.texts[row]) and case.terms[row] & about]
        best = _paragraph_ranking(case, [case.sentence_rows[i] for i in typed], sentence_sims[typed], False)
        top += [p for p in best[:1] if p not in top]
    top = with_neighbours(case, top)
    return [ScoredParagraph(case.case_id, p, case.paragraphs[p][0], case.paragraphs[p][1],
                            round(similarity[p], 4), round(fused[p], 6), case.units[p]) for p in top]


def related_terms(embeddings: SentenceEmbeddings, case: LoadedCase, query: str) -> frozenset[str]:
    """The query's terms and the case's words nearest in meaning to them ("cash" -> "financial"),
    without the names the whole case is about."""
    terms = set(content_terms(query))
    words = [word for word in dict.fromkeys(tokens(query)) if word.isalpha() and word not in STOPWORDS]
    for near, similarity in case.nearest_words(words, embeddings):
        if similarity >= NEAR_WORD_SIMILARITY:
            terms.add(stem(near))
    return frozenset(terms - case.subject_names)


def with_neighbours(case: LoadedCase, top: list[int]) -> list[int]:
    """`top`, followed by the paragraphs they cannot be read without: the one a retrieved paragraph
    goes on from ("Second, it provided ...") and the ones that go on from a retrieved paragraph."""
    result = list(top)
    for paragraph in top:
        before = paragraph
        while before - 1 in case.paragraphs and case.continued_by(before - 1) == before:
            before -= 1
            if before not in result:
                result.append(before)
        after = paragraph
        while (following := case.continued_by(after)) is not None:
            after = following
            if after not in result:
                result.append(after)
    return result
