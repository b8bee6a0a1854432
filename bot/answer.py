"""The contract types: a conversation turn, the evidence an answerer receives, and the answer object
of DESIGN.md (what `ask --json`, the API and eval return)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from vectorstore.embeddings import SentenceEmbeddings
    from vectorstore.hybrid import ScoredParagraph
    from vectorstore.store import LoadedCase


@dataclass(frozen=True)
class Turn:
    """One message of a conversation."""

    role: str
    content: str


@dataclass(frozen=True)
class Citation:
    """A source paragraph an answer relies on."""

    id: str
    label: str
    paragraph: int
    section: str
    text: str
    score: float
    # The sentences of `text` the answer relies on, verbatim (for highlighting in the reader);
    # empty when the answer does not quote the paragraph.
    quote: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The citation object of the contract; `quote` appears only when set."""
        data = asdict(self)
        if self.quote:
            data["quote"] = list(self.quote)
        else:
            del data["quote"]
        return data


@dataclass(frozen=True)
class Retrieved:
    """A paragraph the retriever returned for a question, best first."""

    paragraph: int
    score: float


@dataclass(frozen=True)
class Answer:
    """One answer to one question about one case."""

    answer: str
    abstained: bool
    citations: tuple[Citation, ...]
    case: str
    backend: str
    latency_ms: float = 0.0
    retrieved: tuple[Retrieved, ...] = ()
    unsupported: tuple[str, ...] = ()
    notice: str = ""
    # Set when the records are on; student feedback refers to it.
    answer_id: str = ""
    # When abstaining: the passages closest to the question, as pointers for the student. They
    # are not evidence for anything, so they are never in `citations`.
    see_also: tuple[Citation, ...] = ()
    # True when the answer is a hint rather than an answer (an assignment question, or guide mode).
    guided: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the contract; optional fields appear only when set."""
        data: dict[str, Any] = {
            "answer": self.answer,
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
            "case": self.case,
            "backend": self.backend,
            "latency_ms": round(self.latency_ms, 1),
        }
        if self.unsupported:
            data["unsupported"] = list(self.unsupported)
        if self.notice:
            data["notice"] = self.notice
        if self.answer_id:
            data["answer_id"] = self.answer_id
        if self.see_also:
            data["see_also"] = [c.to_dict() for c in self.see_also]
        if self.guided:
            data["guided"] = True
        return data


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
    # Guide mode (server-wide or this session's): the answer is to be a hint (bot.teaching).
    guide: bool = False

    @property
    def sources(self) -> dict[int, ScoredParagraph]:
        """Retrieved paragraphs by number: the only ones an answer may cite."""
        return {hit.paragraph: hit for hit in self.hits}
