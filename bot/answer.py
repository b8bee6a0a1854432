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


def lone_surrogate(text: str) -> bool:
    """Whether `text` holds a lone surrogate ("\\ud800" arrives as a JSON escape): it is not text,
    and no encoder (the response's, the database's) can write it."""
    return not text.isascii() and any("\ud800" <= ch <= "\udfff" for ch in text)


@dataclass(frozen=True)
class Turn:
    """One message of a conversation."""

    role: str
    content: str


def page_of(pages: tuple[int, int] | None) -> int | list[int] | None:
    """The `page` of the contract: one page, [first, last], or None for a case without pages."""
    if pages is None:
        return None
    return pages[0] if pages[0] == pages[1] else list(pages)


def page_text(page: int | list[int] | None) -> str:
    """A citation's page as people write it: "p. 3", "pp. 3–4", or "" for a case without pages."""
    if isinstance(page, list):
        return f"pp. {page[0]}–{page[-1]}"
    return f"p. {page}" if page else ""


def place_of(label: str, page: int | list[int] | None) -> str:
    """Where a cited paragraph is: "¶12 · p. 3", "Exhibit 1 · pp. 5–6", or the label alone."""
    return f"{label} · {page_text(page)}" if page else label


@dataclass(frozen=True)
class Citation:
    """A source paragraph an answer relies on. `kind` is exhibit or note, None for a paragraph;
    `page` the page (or [first, last]) of a case read from pages, None for a case without pages.
    (None, not "paragraph": the contract leaves both out when they say nothing, and the HTTP API
    drops None values.)"""

    id: str
    label: str
    paragraph: int
    section: str
    text: str
    score: float
    kind: str | None = None
    page: int | list[int] | None = None
    # The sentences of `text` the answer relies on, verbatim (for highlighting in the reader);
    # empty when the answer does not quote the paragraph.
    quote: tuple[str, ...] = ()

    @classmethod
    def of(cls, case_id: str, hit: ScoredParagraph, quote: tuple[str, ...] = ()) -> Citation:
        """The citation of a retrieved paragraph (with the sentences of it the answer quotes)."""
        unit = hit.unit
        kind = None if unit.kind == "paragraph" else unit.kind
        return cls(f"{case_id}:{hit.paragraph}", unit.label or f"¶{hit.paragraph}", hit.paragraph,
                   hit.section, hit.text, round(hit.score, 4), kind, page_of(unit.pages), quote)

    @property
    def place(self) -> str:
        """"¶12 · p. 3", or the label alone for a case without pages."""
        return place_of(self.label, self.page)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the contract: `kind` only when not a paragraph, `page` only when
        the case has pages, `quote` only when the answer quotes the paragraph."""
        data = {key: value for key, value in asdict(self).items()
                if value is not None or key not in ("kind", "page")}
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
    # A hint that points to where the case answers, rather than the answer (guide mode, or an
    # assignment question).
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
    # The figure exhibit (a chart, an image: nothing to read) the question matched best, if any.
    figure: ScoredParagraph | None = None
    # Guide mode (server-wide or this session's): the answer is to be a hint (bot.teaching).
    guide: bool = False

    @property
    def sources(self) -> dict[int, ScoredParagraph]:
        """Retrieved paragraphs by number: the only ones an answer may cite."""
        return {hit.paragraph: hit for hit in self.hits}
