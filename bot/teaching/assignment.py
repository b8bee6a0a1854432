"""Recognising the instructor's assignment questions (`cases/<id>/assignment.json`) in whatever
words a student asks them.

A student's question is compared with each assignment question by a few measures of meaning
(MiniLM vectors), combined by a small logistic model (`WEIGHTS`, fitted by
`benchmarks/guide.py --fit` on 20 training cases none of which is the bundled one):

- the cosine of the two whole questions;
- the best cosine of the student's question with one part (sentence) of the assignment question:
  an assignment question often asks two things, and a student may ask one of them;
- how well their content words align, each word taking the closest word of the other question,
  weighted by how rare the word is in the case (the companies' names say little about which
  question is asked; the concepts an assignment question turns on say much);
- how close the student's question comes to one sentence of the case: a fact question has a
  sentence that answers it, a discussion question does not;
- whether the student's question asks for a fact of a stated kind (a date, a figure, a count, a
  name or a place: "How much did they pay?"), which a discussion question rarely does, and whether
  it asks for the same kind of answer as the assignment question;
- how far this assignment question falls short of the student's closest one, by cosine and by
  word alignment (0 for the closest): a paraphrase asks one of them, and its score should not
  depend on how near the others happen to be.

The question is an assignment question when the model's score for its closest assignment question
reaches `MATCH_THRESHOLD`, chosen on the training cases as the lowest that guides at most 5% of
their ordinary fact questions.
"""
from __future__ import annotations

import json
import math
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot.lang.english import NAMING_TYPES, STRICT_TYPES, expected_type
from vectorstore.text import STOPWORDS, stem, tokens

if TYPE_CHECKING:
    from vectorstore.embeddings import SentenceEmbeddings
    from vectorstore.store import CaseInfo, LoadedCase

ASSIGNMENT_FILE = "assignment.json"
# The model, fitted by `benchmarks/guide.py --fit` on the 20 training cases of
# benchmarks/data/guide/train/ (their paraphrases of each assignment question against the other
# questions and the cases' fact questions): each feature is standardised by its mean and spread
# over the training pairs, then weighted; the score is the logistic of the sum.
FEATURES = ("whole-question cosine", "best part cosine", "word alignment",
            "closest case sentence", "log of the question's words", "asks for a stated fact",
            "same kind of answer", "cosine short of the closest", "alignment short of the closest")
MEANS = (0.3151, 0.3163, 0.4154, 0.5709, 2.6279, 0.3555, 0.4272, -0.1446, -0.0588)
SPREADS = (0.1524, 0.15, 0.0584, 0.1168, 0.4893, 0.4787, 0.4947, 0.1401, 0.0592)
WEIGHTS = (0.2837, 0.2343, 0.7742, -0.4114, 0.846, -0.3453, 0.3442, 0.6132, 0.9771)
BIAS = -4.3177
# The lowest score that guides at most 5% of the training cases' fact questions.
MATCH_THRESHOLD = 0.1699
# An assignment question's parts: its sentences (a student may ask one of the things it asks).
_PARTS = re.compile(r"(?<=[?.!])\s+")
_WORD_COUNT = re.compile(r"\w+")
# A word the case never uses counts as rare as a word of one paragraph in this many.
_UNSEEN_SHARE = 0.5
# The kinds of answer a case states outright in a sentence: what fact questions ask for.
_STATED_KINDS = STRICT_TYPES | NAMING_TYPES


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
class Assignment:
    """A case's assignment questions, their vectors, the vectors of each one's parts and the kind
    of answer each asks for (bot.lang.english.expected_type)."""

    questions: tuple[str, ...]
    vectors: np.ndarray
    parts: tuple[np.ndarray, ...]
    kinds: tuple[str | None, ...]


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
        self._cache: dict[Path, tuple[tuple[int, int], Assignment]] = {}
        self._lock = threading.Lock()

    def questions(self, info: CaseInfo) -> Assignment:
        """The case's assignment questions and their vectors (none when it has no file)."""
        path = case_folder(info, self.cases_dir) / ASSIGNMENT_FILE
        try:
            stat = path.stat()
        except OSError:
            return Assignment((), np.zeros((0, 0), dtype=np.float32), (), ())
        version = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._cache.get(path)
        if cached is not None and cached[0] == version:
            return cached[1]
        questions = question_list(path)
        assignment = Assignment(tuple(questions), self.embeddings.encode(questions),
                                tuple(self.embeddings.encode(_parts(q)) for q in questions),
                                tuple(expected_type(q) for q in questions))
        with self._lock:
            self._cache[path] = (version, assignment)
        return assignment

    def match(self, question: str, vector: np.ndarray, case: LoadedCase) -> Match | None:
        """The assignment question that `question` (whose vector is `vector`) asks, or None."""
        best = self.closest(question, vector, case)
        return best if best is not None and best.score >= self.threshold else None

    def closest(self, question: str, vector: np.ndarray, case: LoadedCase) -> Match | None:
        """The assignment question closest to `question`, whatever its score; None without any."""
        assignment = self.questions(case.info)
        if not assignment.questions:
            return None
        found = self.features(question, vector, case, assignment)
        standard = (found - np.array(MEANS)) / np.array(SPREADS)
        scores = 1 / (1 + np.exp(-(standard @ np.array(WEIGHTS) + BIAS)))
        best = int(np.argmax(scores))
        return Match(best, assignment.questions[best], float(scores[best]))

    def features(self, question: str, vector: np.ndarray, case: LoadedCase,
                 assignment: Assignment) -> np.ndarray:
        """The FEATURES of `question` against each assignment question, one row each."""
        sentences = case.vectors[case.sentence_rows]
        closest_sentence = float(np.max(sentences @ vector)) if len(sentences) else 0.0
        words = math.log(max(len(_WORD_COUNT.findall(question)), 1))
        kind = expected_type(question)
        stated = float(kind in _STATED_KINDS)
        cosines = assignment.vectors @ vector
        alignments = np.array([self.word_alignment(question, asked, case) for asked in assignment.questions])
        return np.array([[float(cosines[i]), float(np.max(assignment.parts[i] @ vector)),
                          float(alignments[i]), closest_sentence, words, stated,
                          float(kind == assignment.kinds[i]),
                          float(cosines[i] - cosines.max()), float(alignments[i] - alignments.max())]
                         for i in range(len(assignment.questions))])

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


def _parts(question: str) -> list[str]:
    return [part for part in (p.strip() for p in _PARTS.split(question)) if part] or [question]


def _words(text: str) -> list[str]:
    return list(dict.fromkeys(w for w in tokens(text) if w not in STOPWORDS and len(w) > 1))


def _rarity(word: str, case: LoadedCase) -> float:
    """An inverse document frequency over the case's paragraphs."""
    share = case.paragraph_share(stem(word)) or _UNSEEN_SHARE / max(len(case.paragraph_terms), 1)
    return math.log(1 + 1 / share)
