"""What an answerer receives: the question, the resolved retrieval query, the retrieved
paragraphs and the case they come from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.conversation import Turn
from vectorstore.embeddings import SentenceEmbeddings
from vectorstore.hybrid import ScoredParagraph
from vectorstore.store import LoadedCase


@dataclass(frozen=True)
class Evidence:
    """Everything an answerer may use to answer one question."""

    question: str
    query: str
    history: tuple[Turn, ...]
    case: LoadedCase
    hits: tuple[ScoredParagraph, ...]
    query_vector: np.ndarray
    embeddings: SentenceEmbeddings

    @property
    def sources(self) -> dict[int, ScoredParagraph]:
        """Retrieved paragraphs by number: the only ones an answer may cite."""
        return {hit.paragraph: hit for hit in self.hits}
