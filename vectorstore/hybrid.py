"""Hybrid retrieval: dense (Chroma, MiniLM) and lexical (BM25) rankings of passages and
sentences, fused by reciprocal rank fusion into a ranking of paragraphs."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from vectorstore.store import NEAR_WORD_SIMILARITY, CaseLibrary, LoadedCase, Unit
from vectorstore.text import STOPWORDS, content_terms, stem, tokens

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

    def document(self) -> Document:
        return Document(page_content=self.text, metadata={
            "case": self.case_id, "paragraph": self.paragraph, "section": self.section,
            "score": self.score, "fused": self.fused, "unit": self.unit,
        })

    @classmethod
    def from_document(cls, document: Document) -> ScoredParagraph:
        """The retrieved paragraph a document of HybridRetriever stands for."""
        meta = document.metadata
        return cls(str(meta["case"]), int(meta["paragraph"]), str(meta["section"]),
                   document.page_content, float(meta["score"]), float(meta["fused"]),
                   meta.get("unit", Unit()))


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


def hybrid_search(library: CaseLibrary, case: LoadedCase, query: str, k: int = DEFAULT_K,
                  answer_pattern: re.Pattern[str] | None = None) -> list[ScoredParagraph]:
    """The `k` paragraphs of `case` that best match `query`, best first, then the paragraphs
    those cannot be read without. With `answer_pattern` (the kind of answer the question wants:
    an amount, a date), the best paragraph with a sentence holding such an answer and speaking of
    something the query does (see related_terms) is among them."""
    vector = library.embeddings.encode_query(query)
    row_of = {rid: i for i, rid in enumerate(case.ids)}
    dense = [(row_of[rid], sim) for rid, sim in library.dense_search(case, vector, max(3 * k, 10))
             if rid in row_of]
    sentence_sims = case.vectors[case.sentence_rows] @ vector if case.sentence_rows else np.zeros(0)
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
        about = related_terms(library, case, query)
        typed = [i for i, row in enumerate(case.sentence_rows)
                 if answer_pattern.search(case.texts[row]) and case.terms[row] & about]
        best = _paragraph_ranking(case, [case.sentence_rows[i] for i in typed], sentence_sims[typed], False)
        top += [p for p in best[:1] if p not in top]
    top = with_neighbours(case, top)
    return [ScoredParagraph(case.case_id, p, case.paragraphs[p][0], case.paragraphs[p][1],
                            round(similarity[p], 4), round(fused[p], 6), case.units[p]) for p in top]


def related_terms(library: CaseLibrary, case: LoadedCase, query: str) -> frozenset[str]:
    """The query's terms and the case's words nearest in meaning to them ("cash" -> "financial"),
    without the names the whole case is about."""
    terms = set(content_terms(query))
    words = [word for word in dict.fromkeys(tokens(query)) if word.isalpha() and word not in STOPWORDS]
    library.embeddings.encode_queries(words)  # one batch; nearest_word then finds them cached
    for word in words:
        near, similarity = case.nearest_word(word, library.embeddings)
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


class HybridRetriever(BaseRetriever):
    """A LangChain retriever over one case: documents are whole paragraphs, best first."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    library: CaseLibrary
    case_id: str
    k: int = DEFAULT_K
    # The kind of answer the question wants, when known (see hybrid_search).
    answer_pattern: re.Pattern[str] | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun
                                ) -> list[Document]:
        case = self.library.load(self.case_id)
        return [hit.document() for hit in hybrid_search(self.library, case, query, self.k,
                                                        self.answer_pattern)]
