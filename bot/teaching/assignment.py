"""Recognising the instructor's assignment questions (`cases/<id>/assignment.json`) in whatever
words a student asks them.

A question matches an assignment question when their score reaches `MATCH_THRESHOLD`. The score
is the mean of two measures by meaning (MiniLM vectors):

- the cosine of the two whole questions;
- how well their content words align, each word taking the closest word of the other question,
  weighted by how rare the word is in the case. Words every question about the case uses (the
  companies' names) say little about which question is asked; the concepts an assignment question
  turns on ("standing", "culture") say much. On the bundled case's data the whole-question cosine
  alone told short fact questions ("How old was the firm?") from paraphrases of the assignment
  questions worse than the mean of the two (benchmarks/guide.py).
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vectorstore.text import STOPWORDS, stem, tokens

if TYPE_CHECKING:
    from vectorstore.embeddings import SentenceEmbeddings
    from vectorstore.store import CaseInfo, LoadedCase

ASSIGNMENT_FILE = "assignment.json"
# Chosen by benchmarks/guide.py on half of the paraphrases written for the bundled case's four
# assignment questions (and half of the other questions), as the lowest score that keeps the
# case's ordinary fact questions from being guided (at most 5% of them); the other half is
# reported separately.
MATCH_THRESHOLD = 0.587
# A word the case never uses counts as rare as a word of one paragraph in this many.
_UNSEEN_SHARE = 0.5


def question_list(path: Path) -> list[str]:
    """The questions of a JSON list file (examples.json, assignment.json); [] when the file is
    missing or is not a list of strings (an unreadable file turns the feature off, not the chat)."""
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    listed = found if isinstance(found, list) else []
    return [q.strip() for q in listed if isinstance(q, str) and q.strip()]


def case_folder(info: CaseInfo, cases_dir: Path) -> Path:
    """The folder a case was ingested from (where its examples.json and assignment.json live):
    the source file's folder, else `cases_dir/<id>`."""
    source = Path(info.source) if info.source else None
    if source is not None and source.parent.is_dir():
        return source.parent
    return cases_dir / info.case_id


@dataclass(frozen=True)
class Match:
    """The assignment question a student's question asks."""

    index: int
    question: str
    score: float


class AssignmentMatcher:
    """Finds the assignment question a student asks; the file is read again when it changes."""

    def __init__(self, cases_dir: Path, embeddings: SentenceEmbeddings,
                 threshold: float = MATCH_THRESHOLD) -> None:
        self.cases_dir = cases_dir
        self.embeddings = embeddings
        self.threshold = threshold
        self._cache: dict[Path, tuple[tuple[int, int], list[str], np.ndarray]] = {}
        self._lock = threading.Lock()

    def questions(self, info: CaseInfo) -> tuple[list[str], np.ndarray]:
        """The case's assignment questions and their vectors (none when it has no file)."""
        path = case_folder(info, self.cases_dir) / ASSIGNMENT_FILE
        try:
            stat = path.stat()
        except OSError:
            return [], np.zeros((0, 0), dtype=np.float32)
        version = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._cache.get(path)
        if cached is not None and cached[0] == version:
            return cached[1], cached[2]
        questions = question_list(path)
        vectors = self.embeddings.encode(questions)
        with self._lock:
            self._cache[path] = (version, questions, vectors)
        return questions, vectors

    def match(self, question: str, vector: np.ndarray, case: LoadedCase) -> Match | None:
        """The assignment question that `question` (whose vector is `vector`) asks, or None."""
        best = self.closest(question, vector, case)
        return best if best is not None and best.score >= self.threshold else None

    def closest(self, question: str, vector: np.ndarray, case: LoadedCase) -> Match | None:
        """The assignment question closest to `question`, whatever its score; None without any."""
        questions, vectors = self.questions(case.info)
        if not questions:
            return None
        cosines = vectors @ vector
        scores = [(float(cosines[i]) + self.word_alignment(question, asked, case)) / 2
                  for i, asked in enumerate(questions)]
        best = int(np.argmax(scores))
        return Match(best, questions[best], scores[best])

    def word_alignment(self, one: str, other: str, case: LoadedCase) -> float:
        """How well the content words of two questions align by meaning, rarer words of the case
        weighing more: the harmonic mean of the alignment each way."""
        first, second = _words(one), _words(other)
        if not first or not second:
            return 0.0
        vectors = dict(zip([*first, *second], self.embeddings.encode_queries([*first, *second]),
                           strict=True))
        similar = np.array([[float(vectors[a] @ vectors[b]) for b in second] for a in first])
        rarity = [np.array([_rarity(w, case) for w in words]) for words in (first, second)]
        forward = float(similar.max(axis=1) @ rarity[0] / rarity[0].sum())
        backward = float(similar.max(axis=0) @ rarity[1] / rarity[1].sum())
        return 2 * forward * backward / (forward + backward) if forward + backward > 0 else 0.0


def _words(text: str) -> list[str]:
    return list(dict.fromkeys(w for w in tokens(text) if w not in STOPWORDS and len(w) > 1))


def _rarity(word: str, case: LoadedCase) -> float:
    """An inverse document frequency over the case's paragraphs."""
    share = case.paragraph_share(stem(word)) or _UNSEEN_SHARE / max(len(case.paragraph_terms), 1)
    return math.log(1 + 1 / share)
