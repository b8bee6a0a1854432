"""Hybrid retrieval: dense (Chroma, MiniLM) and lexical (BM25) rankings of passages and
sentences, fused by reciprocal rank fusion into a ranking of paragraphs."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from vectorstore.store import CaseLibrary, LoadedCase
from vectorstore.text import content_terms

RRF_K = 60
DEFAULT_K = 5


@dataclass(frozen=True)
class ScoredParagraph:
    """A retrieved paragraph: `score` is its best cosine similarity to the query, `fused` its RRF score."""

    case_id: str
    paragraph: int
    section: str
    text: str
    score: float
    fused: float

    def document(self) -> Document:
        return Document(page_content=self.text, metadata={
            "case": self.case_id, "paragraph": self.paragraph, "section": self.section,
            "score": self.score, "fused": self.fused,
        })


def _paragraph_ranking(case: LoadedCase, rows: list[int], scores: list[float] | np.ndarray,
                       positive_only: bool) -> list[int]:
    """Paragraph numbers ordered by the best score of any of their rows."""
    best: dict[int, float] = {}
    for row, score in zip(rows, scores, strict=True):
        if positive_only and score <= 0:
            continue
        paragraph = int(case.metadatas[row]["paragraph"])
        best[paragraph] = max(best.get(paragraph, float("-inf")), float(score))
    return sorted(best, key=lambda p: -best[p])


def hybrid_search(library: CaseLibrary, case: LoadedCase, query: str, k: int = DEFAULT_K
                  ) -> list[ScoredParagraph]:
    """The `k` paragraphs of `case` that best match `query`, best first, then the paragraphs
    those cannot be read without."""
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
        paragraph = int(case.metadatas[row]["paragraph"])
        similarity[paragraph] = max(similarity[paragraph], float(sim))
    for row, sim in dense:
        paragraph = int(case.metadatas[row]["paragraph"])
        similarity[paragraph] = max(similarity[paragraph], sim)
    top = with_neighbours(case, sorted(fused, key=lambda p: (-fused[p], p))[:k])
    return [ScoredParagraph(case.case_id, p, case.paragraphs[p][0], case.paragraphs[p][1],
                            round(similarity[p], 4), round(fused[p], 6)) for p in top]


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

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun
                                ) -> list[Document]:
        case = self.library.load(self.case_id)
        return [hit.document() for hit in hybrid_search(self.library, case, query, self.k)]
