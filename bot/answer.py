"""The answer object of the contract (DESIGN.md): what `ask --json`, the API and eval return."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Citation:
    """A source paragraph an answer relies on."""

    id: str
    label: str
    paragraph: int
    section: str
    text: str
    score: float


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
    # When abstaining: the closest passages, as pointers for the student (never in `citations`).
    see_also: tuple[Citation, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the contract; optional fields appear only when set."""
        data: dict[str, Any] = {
            "answer": self.answer,
            "abstained": self.abstained,
            "citations": [asdict(c) for c in self.citations],
            "case": self.case,
            "backend": self.backend,
            "latency_ms": round(self.latency_ms, 1),
        }
        if self.abstained or self.see_also:
            data["see_also"] = [asdict(c) for c in self.see_also]
        if self.unsupported:
            data["unsupported"] = list(self.unsupported)
        if self.notice:
            data["notice"] = self.notice
        return data
