"""Hints instead of answers: an assignment question, or any question in guide mode, is met with
the paragraphs that bear on it (cited, with markers) and one guiding question built from the
student's question and the case's own words. A hint never repeats the case's sentences, so it
states no fact the student should find; its citations carry no `quote` to highlight."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import replace

from bot.answer import Answer, Citation, Evidence
from bot.rag.chain import Answerer, final_answer
from bot.rag.citations import build_citations, marker
from bot.teaching.assignment import AssignmentMatcher
from vectorstore.text import STOPWORDS, stem, tokens

# Paragraphs named for an assignment question: enough to start from, few enough to read first.
ASSIGNMENT_PARAGRAPHS = 3
# Words of the question named in the guiding question ("what does it say about A, B and C?").
GUIDING_TERMS = 3
# A word as the case writes it (its capitals kept).
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
# Question words and auxiliaries name no topic.
_ASKING = frozenset({"what", "which", "who", "whom", "whose", "why", "how", "when", "where", "did",
                     "does", "do", "was", "were", "is", "are", "can", "could", "would", "should",
                     "will", "has", "have", "had", "much", "many", "explain", "tell", "describe"})


class Teacher:
    """Decides whether a question gets an answer or a hint, and writes the hint."""

    def __init__(self, matcher: AssignmentMatcher) -> None:
        self.matcher = matcher

    def stream(self, evidence: Evidence, answerer: Answerer, guide: bool) -> Iterator[str | Answer]:
        """A hint when `guide` is on or the question is an assignment question, else the answer."""
        if guide:
            yield self.guided(evidence, final_answer(answerer.stream(evidence), answerer.name))
            return
        if self.matcher.match(evidence.query, evidence.query_vector, evidence.case) is not None:
            yield assignment_hint(evidence, answerer)
            return
        yield from answerer.stream(evidence)

    @staticmethod
    def guided(evidence: Evidence, answer: Answer) -> Answer:
        """The answer turned into a hint: where the case answers, and what to look for there.
        An answer that declines already states nothing and stays as it is."""
        if answer.abstained or not answer.citations:
            return answer
        cited = [replace(c, quote=()) for c in answer.citations]
        text = (f"The case answers this in {_places(cited)}. Read {cited[0].label}: "
                f"{guiding_question(evidence.question, cited[0].text)}")
        return Answer(text, False, tuple(cited), answer.case, answer.backend, guided=True)


def assignment_hint(evidence: Evidence, answerer: Answerer) -> Answer:
    """The reply to an assignment question: the paragraphs that bear on it and a guiding question
    (an LLM backend's Socratic one when it writes one that passes the checks, else built here)."""
    backend = answerer.name
    best = evidence.hits[:ASSIGNMENT_PARAGRAPHS]
    case_id = evidence.case.case_id
    draft = " ".join(marker(hit.paragraph) for hit in best)
    cited = [replace(c, quote=()) for c in build_citations(draft, case_id, evidence.sources)]
    if not cited:
        return Answer("This is one of your assignment questions, so I won't answer it for you. "
                      "Read the case with it in mind, and ask me about the facts you need.",
                      False, (), case_id, backend, guided=True)
    asked = answerer.guiding_question(evidence, [c.paragraph for c in cited])
    text = ("This is one of your assignment questions, so I won't answer it for you. "
            f"The case speaks to it in {_places(cited)}. " + (asked or (
                f"Start with {cited[0].label}: {guiding_question(evidence.question, cited[0].text)}")))
    return Answer(text, False, tuple(cited), case_id, backend, guided=True)


def guiding_question(question: str, paragraph: str) -> str:
    """"what does it say about A, B and C?": A, B and C are the words of the student's question
    as the paragraph writes them (the case's own words)."""
    bare = (w.removesuffix("'s").removesuffix("’s") for w in _WORD.findall(paragraph))
    written = {stem(word.lower()): word for word in bare}
    asked = [w for w in tokens(question) if w.isalpha() and w not in STOPWORDS and w not in _ASKING]
    terms = [t for t in dict.fromkeys(written.get(stem(w), "") for w in asked) if t][:GUIDING_TERMS]
    if not terms:
        return "what does it say that bears on your question?"
    return f"what does it say about {_listed(terms)}?"


def _places(cited: Sequence[Citation]) -> str:
    """"¶12 (Act II) [¶12] and ¶7 (Act I) [¶7]": each paragraph named with its section and marker."""
    named = [f"{c.label}{f' ({c.section})' if c.section else ''} {marker(c.paragraph)}" for c in cited]
    return _listed(named)


def _listed(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
