"""Per-case page text: the title and the suggested questions of the case being shown, never
another case's. Suggestions come from the case folder's examples.json when it has one, else they
are derived from the case's own text (its section headings and the names it uses most) and kept
only when the extractive answerer answers them from what they ask about: a question about a
section from that section, a question about a name with the name. Derived ones are cached per case
version."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from bot.answer import Answer
from bot.answerers.extractive import ExtractiveAnswerer
from bot.rag.chain import CaseBot
from bot.teaching.assignment import case_folder, question_list
from vectorstore.analysis import NAME_RUN

if TYPE_CHECKING:
    from vectorstore.store import CaseInfo

EXAMPLES_FILE = "examples.json"
SUGGESTIONS = 4
# Tried in this order; a heading's words after a colon ("Act II: The Announcement") name its topic.
_OPENERS = ("What is this case about?", "Who are the main people and companies?",
            "What decision does the case turn on?")
# What follows a unit or a month rather than a name ("EUR 180", "March 2021"): a figure.
_FIGURE_NEXT = re.compile(r"\s*\d")
# Small words inside a name ("Bank of England", "Aguas del Oriente", "Banco do Brasil"): the
# name runs on across them.
_PARTICLES = ("of", "de", "del", "della", "da", "do", "dos", "das", "di", "du", "van", "von", "der",
              "den", "la", "le", "y", "al", "bin")
_NAME_WITH_PARTICLES = re.compile(NAME_RUN.pattern + r"(?:\s+(?:" + "|".join(_PARTICLES) + r")\s+"
                                  + NAME_RUN.pattern + r")*")
# A name used fewer times than this is a detail of the case, not one of its subjects.
_SUBJECT_USES = 2


class Suggestions:
    """The suggested questions of each case."""

    def __init__(self, bot: CaseBot, cases_dir: Path) -> None:
        # The extractive answerer decides what is answerable, whatever backend the chat uses:
        # deriving suggestions must not call an LLM on every page load of a new case.
        self.bot = CaseBot(bot.library, ExtractiveAnswerer(), k=bot.k)
        self.cases_dir = cases_dir
        # One entry a case (its latest version's fingerprint with its questions): re-ingesting a
        # case replaces its entry rather than adding one.
        self._derived: dict[str, tuple[str, list[str]]] = {}
        self._lock = threading.Lock()

    def of(self, info: CaseInfo) -> list[str]:
        """The case's examples.json, else questions derived from it that the bot answers."""
        listed = question_list(case_folder(info, self.cases_dir) / EXAMPLES_FILE)
        if listed:
            return listed[:SUGGESTIONS]
        with self._lock:
            kept = self._derived.get(info.case_id)
        if kept is not None and kept[0] == info.fingerprint:
            return kept[1]
        derived = self._derive(info)
        with self._lock:
            self._derived[info.case_id] = (info.fingerprint, derived)
        return derived

    def _derive(self, info: CaseInfo) -> list[str]:
        case = self.bot.library.load(info.case_id)
        # Each topic with what its answer must show to be about it: a heading ("Key takeaways",
        # "The Shock") names no words a sentence has to use, so its answer must open with a
        # sentence of its section; a name's answer must name it.
        topics: dict[str, Callable[[Answer], bool]] = {}
        for section in dict.fromkeys(str(m["section"]) for m in case.metadatas):
            heading = section.rsplit(":", 1)[-1].strip()
            if heading:
                topics.setdefault(heading, _opens_in(section))
        for name in _most_used_names(case.texts[row] for row in case.sentence_rows):
            topics.setdefault(name, _naming(name))
        candidates = [*((opener, _answered) for opener in _OPENERS),
                      *((f"What does the case say about {topic}?", about) for topic, about in topics.items())]
        kept: list[str] = []
        for question, about in candidates:
            if len(kept) == SUGGESTIONS:
                break
            if about(self.bot.ask(question, (), info.case_id)):
                kept.append(question)
        return kept


def _answered(answer: Answer) -> bool:
    return not answer.abstained


def _opens_in(section: str) -> Callable[[Answer], bool]:
    return lambda answer: bool(answer.citations) and answer.citations[0].section == section


def _naming(name: str) -> Callable[[Answer], bool]:
    return lambda answer: not answer.abstained and name in answer.answer


def _most_used_names(sentences: Iterable[str]) -> list[str]:
    """The names the case uses at least `_SUBJECT_USES` times, most used first (the companies and
    people it is about): a case with no headings, whose generic openers the answerer declines,
    still gets suggestions."""
    texts = list(sentences)
    # A run of capitalised words as the case analysis reads names, on across the small words
    # inside a name; one that opens a sentence is not taken (its first word is capitalised
    # anyway), nor one before a figure.
    names = dict.fromkeys(match.group() for text in texts
                          for match in _NAME_WITH_PARTICLES.finditer(text)
                          if match.start() > 0 and not _FIGURE_NEXT.match(text, match.end()))
    uses = Counter({name: sum(text.count(name) for text in texts) for name in names})
    return [name for name, count in uses.most_common(SUGGESTIONS) if count >= _SUBJECT_USES]
