"""The question path: validate the question once, load its case once, retrieve in memory,
answer with the configured answerer.

`CaseBot.prepare` checks a question and loads its case (entry points call it before anything
slow or streamed starts); `CaseBot.respond` retrieves and answers. Retrieval calls
vectorstore.hybrid directly: LangChain's LCEL chain and callbacks are where they serve users, in
the LLM backends (bot.answerers.llm), not a hop every extractive answer pays for.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from bot.answer import Answer, Evidence, Retrieved, Turn
from bot.answerers.abstention import about_figure
from bot.errors import CaseChoiceError, QuestionError
from bot.lang.english import with_shorthand_expanded, with_slips_corrected
from bot.rag.conversation import resolve_question
from bot.rag.guard import carries_instructions
from vectorstore.hybrid import DEFAULT_K, hybrid_search
from vectorstore.store import CaseLibrary, LoadedCase

MAX_QUESTION_CHARS = 2000


class Answerer(Protocol):
    """Turns evidence into an answer: text pieces as they are produced, then the final Answer."""

    name: str

    def stream(self, evidence: Evidence) -> Iterator[str | Answer]:
        """Text pieces as the answer is produced (an answer built whole is one piece), then the
        final Answer."""

    def warm_up(self) -> None:
        """Load now what the first answer would otherwise wait for."""

    def answer_pattern(self, question: str, query: str) -> re.Pattern[str] | None:
        """What a sentence holding the answer looks like, when retrieval should make sure one is
        among the paragraphs it returns; None when any sentence may answer."""

    def related_texts(self, question: str, query: str, case: LoadedCase) -> list[str]:
        """Texts the answerer will encode for this question: encoded with the retrieval query in
        one batch (the answerer then finds them in the embeddings' query cache)."""

    def guiding_question(self, evidence: Evidence, paragraphs: list[int]) -> str:
        """A question of the answerer's own sending the student to `paragraphs` (a hint for an
        assignment question); "" to leave the hint's question to bot.teaching."""


def final_answer(pieces: Iterable[str | Answer], who: str) -> Answer:
    """The final Answer of a stream of answer pieces (the text pieces are dropped); `who` names
    what produced them, for the error when there is none."""
    final = None
    for piece in pieces:
        if isinstance(piece, Answer):
            final = piece
    if final is None:
        raise RuntimeError(f"the {who} answerer produced no answer")
    return final


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


@dataclass(frozen=True)
class Asked:
    """A question checked and ready to answer: its cleaned text, the conversation so far, its
    case loaded, whether a hint is asked for, and when it was received (for the answer's latency)."""

    question: str
    history: tuple[Turn, ...]
    case: LoadedCase
    guide: bool
    received: float


class CaseBot:
    """Answers questions about the ingested cases."""

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

    def prepare(self, question: str, history: Sequence[Turn] = (), case: str = "",
                guide: bool = False) -> Asked:
        """The question checked (QuestionError) and its case loaded (CaseNotFoundError,
        CaseChoiceError, StoreError): the API, the chat and eval validate here and only here (the
        CLI also checks the text before it opens the index, to fail at once). `history` is already
        valid (bot.rag.conversation.parse_history or check_turns made it); `guide` asks for a hint
        (a session in guide mode); the server-wide mode needs no asking."""
        received = time.perf_counter()
        checked = check_question(question)
        return Asked(checked, tuple(history), self.library.load(case or self.default_case()),
                     guide, received)

    def _evidence(self, asked: Asked) -> Evidence:
        case = asked.case
        embeddings = self.library.embeddings
        # Chat shorthand ("ppl") and a slipped letter pair ("negotaitions") would leave the word
        # out of every match.
        question = with_slips_corrected(with_shorthand_expanded(asked.question), case.vocabulary,
                                        embeddings.whole_words())
        query = resolve_question(question, asked.history, case.vocabulary)
        # The query and what the answerer will encode, in one forward pass.
        vector = embeddings.encode_queries(
            [query, *self.answerer.related_texts(question, query, case)])[0]
        retrieved = hybrid_search(embeddings, case, query, vector, self.k,
                                  self.answerer.answer_pattern(question, query))
        hits = tuple(
            hit for hit in retrieved
            # Case text is data: a paragraph addressing the assistant with instructions is
            # withheld, so no answerer can follow (or repeat) what it tells them to do.
            # A figure exhibit's caption holds no facts: it is no evidence either.
            if not carries_instructions(hit.text) and not hit.unit.figure
        )
        # When the question's best match is a figure, an abstention says it cannot be read.
        figure = retrieved[0] if retrieved and retrieved[0].unit.figure else None
        return Evidence(question, query, asked.history, case, hits, vector, embeddings, figure,
                        guide=self.guide or asked.guide)

    def evidence(self, question: str, history: Sequence[Turn] = (), case: str = "") -> Evidence:
        """What the answerer receives for this question: the resolved query and the retrieved
        paragraphs, best first (for benchmarks and debugging)."""
        return self._evidence(self.prepare(question, history, case))

    def respond(self, asked: Asked) -> Iterator[str | Answer]:
        """Answer text pieces as they are produced, then the final Answer with the paragraphs
        retrieved and the latency since the question was received."""
        evidence = self._evidence(asked)
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
                piece = replace(piece, retrieved=retrieved,
                                latency_ms=(time.perf_counter() - asked.received) * 1000)
            yield piece

    def answer(self, asked: Asked) -> Answer:
        """The complete answer to a prepared question."""
        return final_answer(self.respond(asked), self.answerer.name)

    def stream(self, question: str, history: Sequence[Turn] = (), case: str = "",
               guide: bool = False) -> Iterator[str | Answer]:
        """`prepare`, then `respond`: text pieces, then the final Answer."""
        return self.respond(self.prepare(question, history, case, guide))

    def ask(self, question: str, history: Sequence[Turn] = (), case: str = "",
            guide: bool = False) -> Answer:
        """One complete answer."""
        return self.answer(self.prepare(question, history, case, guide))

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
