"""Per-case page text: the title and the suggested questions of the case being shown, never
another case's. Suggestions come from the case folder's examples.json when it has one, else they
are derived from the case's own text (its title and section headings) and kept only when the
extractive answerer answers them without declining; derived ones are cached per case version."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from bot.answerers.extractive import ExtractiveAnswerer
from bot.rag.chain import CaseBot
from bot.teaching.assignment import case_folder, question_list

if TYPE_CHECKING:
    from vectorstore.store import CaseInfo

EXAMPLES_FILE = "examples.json"
SUGGESTIONS = 4
# Tried in this order; a heading's words after a colon ("Act II: The Announcement") name its topic.
_OPENERS = ("What is this case about?", "Who are the main people and companies?",
            "What decision does the case turn on?")


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
        headings = dict.fromkeys(str(m["section"]).rsplit(":", 1)[-1].strip() for m in case.metadatas)
        candidates = [*_OPENERS, *(f"What does the case say about {h}?" for h in headings if h)]
        kept: list[str] = []
        for question in candidates:
            if len(kept) == SUGGESTIONS:
                break
            if not self.bot.ask(question, (), info.case_id).abstained:
                kept.append(question)
        return kept
