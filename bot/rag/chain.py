"""The retrieval-augmented chain (LangChain LCEL): resolve the question against the history,
retrieve paragraphs with the hybrid retriever, answer with the configured answerer."""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any, Protocol

from langchain_core.runnables import Runnable, RunnableGenerator, RunnableLambda

from bot.answer import Answer, Evidence, Retrieved, Turn
from bot.answerers.abstention import about_figure
from bot.errors import CaseChoiceError, QuestionError
from bot.lang.english import with_slips_corrected
from bot.rag.conversation import resolve_question
from bot.rag.guard import carries_instructions
from vectorstore.hybrid import DEFAULT_K, HybridRetriever, ScoredParagraph
from vectorstore.store import CaseLibrary

MAX_QUESTION_CHARS = 2000


class Answerer(Protocol):
    """Turns evidence into an answer: text pieces as they come, then the final Answer."""

    name: str

    def stream(self, evidence: Evidence) -> Iterator[str | Answer]: ...

    def warm_up(self) -> None:
        """Load now what the first answer would otherwise wait for."""


class Tutor(Protocol):
    """Decides whether a question gets an answer or a hint (bot.teaching.hints.Teacher)."""

    def stream(self, evidence: Evidence, answerer: Answerer, guide: bool) -> Iterator[str | Answer]: ...


def check_question(question: Any) -> str:
    """The question with outer whitespace removed; QuestionError when it cannot be asked."""
    if not isinstance(question, str):
        raise QuestionError("The question must be text.")
    # Control characters and invisible format characters (zero-width, bidirectional overrides,
    # which can make a question display differently from what it says) are dropped, and so are
    # lone surrogates ("\ud800" sent as a JSON escape), which no encoder can write.
    cleaned = "".join(ch for ch in question
                      if ch in "\t\n" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs")).strip()
    if not cleaned:
        raise QuestionError("The question is empty. Type a question about the case.")
    if len(cleaned) > MAX_QUESTION_CHARS:
        raise QuestionError(f"The question is {len(cleaned):,} characters long; "
                            f"keep it under {MAX_QUESTION_CHARS:,}.")
    return cleaned


class CaseBot:
    """Answers questions about the ingested cases through one LCEL chain."""

    def __init__(self, library: CaseLibrary, answerer: Answerer, k: int = DEFAULT_K,
                 default: str = "", teacher: Tutor | None = None, guide: bool = False) -> None:
        self.library = library
        self.default = default
        self.answerer = answerer
        self.k = k
        # With a teacher, assignment questions get hints; `guide` (the server-wide mode) makes
        # every answer one, whatever a session asks for.
        self.teacher = teacher
        self.guide = guide
        self._chain = RunnableLambda(self._evidence) | RunnableGenerator(self._answer)

    def _evidence(self, inputs: dict[str, Any]) -> Evidence:
        case = self.library.load(inputs["case"])
        # A slipped letter pair ("negotaitions") would leave the word out of every match.
        question = with_slips_corrected(inputs["question"], case.vocabulary,
                                        self.library.embeddings.whole_words())
        history: tuple[Turn, ...] = inputs["history"]
        query = resolve_question(question, history, case.vocabulary)
        # Encode the query with whatever else the answerer will need, in one forward pass.
        related = getattr(self.answerer, "related_texts", None)
        self.library.embeddings.encode_queries(
            [query, *(related(question, query, case) if related else [])])
        wanted = getattr(self.answerer, "answer_pattern", None)
        retriever = HybridRetriever(library=self.library, case_id=case.case_id, k=self.k,
                                    answer_pattern=wanted(question, query) if wanted else None)
        retrieved = [ScoredParagraph.from_document(doc) for doc in retriever.invoke(query)]
        hits = tuple(
            hit for hit in retrieved
            # Case text is data: a paragraph addressing the assistant with instructions is
            # withheld, so no answerer can follow (or repeat) what it tells them to do.
            # A figure exhibit's caption holds no facts: it is no evidence either.
            if not carries_instructions(hit.text) and not hit.unit.figure
        )
        # When the question's best match is a figure, an abstention says it cannot be read.
        figure = retrieved[0] if retrieved and retrieved[0].unit.figure else None
        return Evidence(question, query, history, case, hits,
                        self.library.embeddings.encode_query(query), self.library.embeddings,
                        figure, guide=self.guide or bool(inputs.get("guide")))

    def evidence(self, question: str, history: Sequence[Turn] = (), case: str = "") -> Evidence:
        """What the answerer receives for this question: the resolved query and the retrieved
        paragraphs, best first (for benchmarks and debugging; asking goes through the chain)."""
        return self._evidence({"question": check_question(question), "history": tuple(history),
                               "case": case or self.default_case()})

    def _answer(self, evidences: Iterator[Evidence]) -> Iterator[str | Answer]:
        for evidence in evidences:
            figure = about_figure(evidence, self.answerer.name)
            if figure is not None:
                pieces: Iterator[str | Answer] = iter([figure])
            elif self.teacher is None:
                pieces = self.answerer.stream(evidence)
            else:
                pieces = self.teacher.stream(evidence, self.answerer, evidence.guide)
            for piece in pieces:
                if isinstance(piece, Answer):
                    retrieved = tuple(Retrieved(h.paragraph, h.score) for h in evidence.hits)
                    piece = replace(piece, retrieved=retrieved)
                yield piece

    def chain(self) -> Runnable[dict[str, Any], str | Answer]:
        """question + history + case -> retriever -> answerer, as an LCEL runnable (built once)."""
        return self._chain

    def stream(self, question: str, history: Sequence[Turn] = (), case: str = "",
               guide: bool = False) -> Iterator[str | Answer]:
        """Answer text pieces as they are produced, then the final Answer with its latency.
        `guide` asks for a hint (a session in guide mode); the server-wide mode needs no asking."""
        started = time.perf_counter()
        inputs = {"question": check_question(question), "history": tuple(history),
                  "case": case or self.default_case(), "guide": guide}
        for piece in self.chain().stream(inputs):
            if isinstance(piece, Answer):
                piece = replace(piece, latency_ms=(time.perf_counter() - started) * 1000)
            yield piece

    def ask(self, question: str, history: Sequence[Turn] = (), case: str = "",
            guide: bool = False) -> Answer:
        """One complete answer."""
        final = None
        for piece in self.stream(question, history, case, guide):
            if isinstance(piece, Answer):
                final = piece
        if final is None:
            raise RuntimeError(f"the {self.answerer.name} answerer produced no answer")
        return final

    def warm_up(self, case: str = "") -> None:
        """Load the models and a case's index now, so the first student does not wait for them."""
        loaded = self.library.load(case or self.default_case())
        loaded.word_vectors(self.library.embeddings)
        self.answerer.warm_up()

    def default_case(self) -> str:
        """The one rule for the case of a question that names none: the configured default
        (CASEBOT_DEFAULT_CASE), else the bundled case when ingested, else the only case.

        CaseNotFoundError when the default is not ingested or there is no case; CaseChoiceError
        when several cases are ingested and none of these rules picks one.
        """
        from bot.settings import DEFAULT_CASE
        from vectorstore.store import CaseNotFoundError

        known = [c.case_id for c in self.library.cases()]
        if self.default:
            if self.default not in known:
                raise CaseNotFoundError(self.default, known)
            return self.default
        if DEFAULT_CASE in known:
            return DEFAULT_CASE
        if len(known) == 1:
            return known[0]
        if not known:
            raise CaseNotFoundError("(none)", [])
        raise CaseChoiceError(known)
