"""The learned answer-sentence scorer and the answer/abstain model of the extractive answerer.

Every sentence of the retrieved paragraphs (the title line aside) is described by cheap features
computed from what the store already holds: MiniLM similarity of the question to the sentence,
its neighbours and its paragraph, BM25, coverage of the question's rare words by the sentence and
its neighbours, the paragraph's retrieval rank, whether the sentence holds the kind of answer the
question asks for (a date, a number, a name, a place) that the question does not already state,
length and position. A gradient-boosted tree model trained on SQuAD 2.0 articles
(`make train`, see model/DATA_CARD.md) turns them into the probability that the sentence states
the answer. A second, logistic model turns features of the best candidates into the calibrated
probability that the case answers the question at all.

Both models are stored as plain JSON (trees as arrays, coefficients as lists): loading one runs
no code from the file, and answering needs numpy only, not scikit-learn.
"""

from __future__ import annotations

import bisect
import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from bot.answer import Evidence
from vectorstore.store import LoadedCase
from vectorstore.text import STOPWORDS, content_terms, stem, tokens

MODEL_PATH = Path(__file__).with_name("model") / "scorer.json"
FORMAT = 1

_MONTH = ("January|February|March|April|May|June|July|August|September|October|November|"
          "December|Jan\\.|Feb\\.|Aug\\.|Sept?\\.|Oct\\.|Nov\\.|Dec\\.")
# A date needs a year, a decade or a month written as a date ("May 4", "4 May", "March 1990"):
# the words "may" and "march" alone are not dates.
_DATE = re.compile(r"\b(?:1\d{3}|20\d{2})s?\b|\b\d{1,2}(?:st|nd|rd|th)? century\b"
                   r"|\b(?:" + _MONTH + r")\s+\d{1,4}\b|\b\d{1,2}\s+(?:" + _MONTH + r")\b")
_NUMBER_WORDS = ("one two three four five six seven eight nine ten eleven twelve thirteen fifteen "
                 "twenty thirty forty fifty hundred thousand million billion dozen several")
_NUMBER = re.compile(r"\b\d[\d.,]*\b|\b(?:" + "|".join(_NUMBER_WORDS.split()) + r")\b", re.I)
_AMOUNT = re.compile(r"[$€£¥]\s?\d|\b\d[\d.,]*\s?(?:%|percent|per cent|million|billion|thousand|"
                     r"dollars|euros|pounds|yen)\b|\b(?:half|a third|a quarter)\b", re.I)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'’.-]*[A-Za-z]")
_PLACE = re.compile(r"\b(?:in|from|at|near|to|of)\s+(?:the\s+)?[A-Z][a-zA-Z]+")
ANSWER_PATTERNS: dict[str, re.Pattern[str]] = {
    "date": _DATE, "count": _NUMBER, "amount": _AMOUNT, "name": _NAME, "place": _PLACE,
}
_CUES: list[tuple[str, re.Pattern[str]]] = [
    ("date", re.compile(r"\bwhen\b|\b(?:what|which) (?:year|date|day|month|decade|century|time)\b"
                        r"|\bhow long ago\b", re.I)),
    ("count", re.compile(r"\bhow (?:many|old|long|far|often|big|large|tall|high)\b|\bwhat number\b", re.I)),
    ("amount", re.compile(r"\bhow much\b|\bwhat (?:size|fraction|percentage|proportion|amount|sum|"
                          r"share|price|cost)\b", re.I)),
    ("place", re.compile(r"\bwhere\b|\b(?:what|which) (?:city|country|region|town|place|state|"
                         r"continent|location)\b", re.I)),
    ("name", re.compile(r"^\s*who\b|\bwho\b|\bwhose\b|\b(?:what|which) (?:company|person|firm|brand|"
                        r"team|group|band|album|song|film|book|name)\b|\bnames? of\b|\bcalled\b"
                        r"|\bnamed\b", re.I)),
]
_WH = ("what", "which", "who", "when", "where", "why", "how")
TYPES = tuple(ANSWER_PATTERNS)

SENTENCE_FEATURES = (
    "sim", "sim_gap", "sim_rank", "para_sim", "para_gap", "hit_rank", "neighbour_sim",
    "bm25", "bm25_share", "bm25_rank", "cover", "cover_gap", "cover_context", "cover_paragraph",
    "type_wanted", "type_match", "new_names", "new_numbers", "words", "position", "first",
    "leans", "new_terms", "question_terms", "known_share", "candidates",
    *(f"wh_{w}" for w in _WH), *(f"want_{t}" for t in TYPES),
)
QUESTION_FEATURES = (
    "p1", "p2", "p_margin", "logit1", "sim1", "sim_max", "para_max", "cover1", "cover_best",
    "cover_context1", "near_cover", "uncovered_idf", "type_wanted", "type_found", "known_share",
    "question_terms", "bm25_max",
)


def wanted_type(question: str) -> str | None:
    """The kind of answer a question asks for: date, count, amount, place, name, or None."""
    return next((kind for kind, cue in _CUES if cue.search(question)), None)


def _wh_word(question: str) -> str:
    words = tokens(question)
    return next((w for w in words if w in _WH), "")


def _new_matches(pattern: re.Pattern[str], text: str, question_lower: str) -> int:
    """How many matches of `pattern` in `text` the question does not already contain."""
    return sum(1 for m in pattern.finditer(text) if m.group(0).lower().strip() not in question_lower)


@dataclass(frozen=True)
class Candidates:
    """The candidate sentences of one question with their features."""

    rows: list[int]
    paragraphs: list[int]
    features: np.ndarray  # one row per candidate, columns SENTENCE_FEATURES


def is_title(case: LoadedCase, paragraph: int) -> bool:
    """Whether a paragraph is the case's title line (never evidence for an answer)."""
    return paragraph == 1 and case.paragraphs.get(1, ("", ""))[1].strip() == case.info.title.strip()


def question_vector(evidence: Evidence) -> np.ndarray:
    """The vector sentences are compared with: the resolved query, leaning on the follow-up itself
    more than on the earlier question it completes."""
    if evidence.query == evidence.question:
        return evidence.query_vector
    blend = 2 * evidence.embeddings.encode_query(evidence.question) + evidence.query_vector
    return blend / np.linalg.norm(blend)


def _term_weights(evidence: Evidence) -> dict[str, float]:
    """The question's terms found in the case, weighted by rarity; terms of history count half."""
    index = evidence.case.sentence_index
    own = set(content_terms(evidence.question))
    return {t: index.idf_of(t) * (1.0 if t in own else 0.5)
            for t in content_terms(evidence.query) if t in evidence.case.vocabulary}


def candidate_features(evidence: Evidence) -> Candidates:
    """Features of every sentence of the retrieved paragraphs (the title line excluded)."""
    case = evidence.case
    hits = [h for h in evidence.hits if not is_title(case, h.paragraph)]
    rows: list[int] = []
    paragraphs: list[int] = []
    hit_ranks: list[int] = []
    for rank, hit in enumerate(hits):
        for row in case.sentences_of(hit.paragraph):
            rows.append(row)
            paragraphs.append(hit.paragraph)
            hit_ranks.append(rank)
    n = len(rows)
    if n == 0:
        return Candidates([], [], np.zeros((0, len(SENTENCE_FEATURES)), dtype=np.float32))
    qvec = question_vector(evidence)
    sims = case.vectors[rows] @ qvec
    para_sim: dict[int, float] = {}
    for row in case.passage_rows:
        number = case.paragraph_of(row)
        if number in set(paragraphs):
            para_sim[number] = max(para_sim.get(number, -1.0), float(case.vectors[row] @ qvec))
    weights = _term_weights(evidence)
    total = sum(weights.values()) or 1.0
    question_terms = set(content_terms(evidence.question))
    known = len(question_terms & case.vocabulary) / len(question_terms) if question_terms else 0.0
    # BM25 of every sentence of the case, so a candidate's rank says how it stands in the case.
    bm25_all = np.asarray(case.sentence_index.scores(list(weights)), dtype=np.float32)
    position_of = {row: i for i, row in enumerate(case.sentence_rows)}
    bm25 = np.array([bm25_all[position_of[r]] for r in rows], dtype=np.float32)
    bm25_rank_all = np.empty_like(bm25_all)
    bm25_rank_all[np.argsort(-bm25_all, kind="stable")] = np.arange(len(bm25_all))
    wanted = wanted_type(evidence.question) or wanted_type(evidence.query)
    pattern = ANSWER_PATTERNS[wanted] if wanted else None
    question_lower = evidence.query.lower()
    wh = _wh_word(evidence.question) or _wh_word(evidence.query)
    sim_order = np.empty(n)
    sim_order[np.argsort(-sims, kind="stable")] = np.arange(n)
    max_sim = float(sims.max())
    max_para = max(para_sim.values()) if para_sim else 0.0
    max_bm25 = float(bm25.max()) or 1.0
    features = np.zeros((n, len(SENTENCE_FEATURES)), dtype=np.float32)
    covers = np.zeros(n)
    for i, row in enumerate(rows):
        paragraph = paragraphs[i]
        siblings = case.sentences_of(paragraph)
        neighbours = [r for r in (case.previous_sentence(row), case.next_sentence(row)) if r is not None]
        context = case.terms[row].union(*(case.terms[r] for r in neighbours))
        paragraph_terms = frozenset().union(*(case.terms[r] for r in siblings))
        cover = sum(w for t, w in weights.items() if t in case.terms[row]) / total
        covers[i] = cover
        text = case.texts[row]
        typed = 0.0
        if pattern is not None:
            typed = 1.0 if _new_matches(pattern, text, question_lower) else -1.0
        neighbour_sim = max((float(case.vectors[r] @ qvec) for r in neighbours), default=0.0)
        values = {
            "sim": float(sims[i]), "sim_gap": max_sim - float(sims[i]),
            "sim_rank": float(sim_order[i]), "para_sim": para_sim.get(paragraph, 0.0),
            "para_gap": max_para - para_sim.get(paragraph, 0.0), "hit_rank": float(hit_ranks[i]),
            "neighbour_sim": neighbour_sim, "bm25": float(bm25[i]),
            "bm25_share": float(bm25[i]) / max_bm25,
            "bm25_rank": float(bm25_rank_all[position_of[row]]), "cover": cover,
            "cover_context": sum(w for t, w in weights.items() if t in context) / total,
            "cover_paragraph": sum(w for t, w in weights.items() if t in paragraph_terms) / total,
            "type_wanted": float(pattern is not None), "type_match": typed,
            "new_names": float(min(_new_matches(_NAME, text, question_lower), 5)),
            "new_numbers": float(min(_new_matches(_NUMBER, text, question_lower), 5)),
            "words": float(len(text.split())), "position": float(siblings.index(row)),
            "first": float(siblings.index(row) == 0), "leans": float(case.leans_on(row) is not None),
            "new_terms": float(min(len(case.terms[row] - question_terms), 20)),
            "question_terms": float(len(question_terms)), "known_share": known,
            "candidates": float(n),
        }
        for w in _WH:
            values[f"wh_{w}"] = float(wh == w)
        for t in TYPES:
            values[f"want_{t}"] = float(wanted == t)
        features[i] = [values.get(name, 0.0) for name in SENTENCE_FEATURES]
    cover_gap = covers.max() - covers
    features[:, SENTENCE_FEATURES.index("cover_gap")] = cover_gap
    return Candidates(rows, paragraphs, features)


def question_words(question: str) -> list[str]:
    """The question's content words (lower case, no small words): what its coverage is judged by."""
    return list(dict.fromkeys(w for w in tokens(question) if w.isalpha() and w not in STOPWORDS
                              and len(w) > 2 and w not in _WH))


def near_coverage(evidence: Evidence, rows: list[int], near: float) -> tuple[float, float]:
    """How much of the question the best sentences cover, counting a word as covered when they
    hold it or a word close to it in meaning ("cash" and "financial"); also the highest
    rarity (idf) of a word left uncovered. Unknown words (an abbreviation, a typo) weigh by
    rarity like any other, so no single one decides."""
    case = evidence.case
    words = question_words(evidence.question)
    if not words or not rows:
        return 1.0, 0.0
    terms = frozenset().union(*(case.terms[r] for r in rows))
    text_words = sorted({w for r in rows for w in tokens(case.texts[r]) if w.isalpha()
                         and w not in STOPWORDS})
    index = case.sentence_index
    word_vectors = evidence.embeddings.encode_queries(words)
    own = _case_word_vectors(case, evidence)
    if own is not None and text_words:
        positions = [i for w in text_words
                     if (i := bisect.bisect_left(case.words, w)) < len(case.words) and case.words[i] == w]
        candidates = own[0][positions] if positions else np.zeros((0, own[0].shape[1]))
    else:
        candidates = np.zeros((0, 1))
    covered = 0.0
    total = 0.0
    uncovered = 0.0
    for word, vector in zip(words, word_vectors, strict=True):
        weight = index.idf_of(stem(word))
        total += weight
        if stem(word) in terms or (len(candidates) and float((candidates @ vector).max()) >= near):
            covered += weight
        else:
            uncovered = max(uncovered, weight)
    return (covered / total if total else 1.0), uncovered


def _case_word_vectors(case: LoadedCase, evidence: Evidence) -> tuple[np.ndarray] | None:
    if not case.words:
        return None
    return (case.word_vectors(evidence.embeddings),)


def evidence_summary(evidence: Evidence, candidates: Candidates, near: float) -> np.ndarray:
    """What the answer/abstain model needs from the evidence itself, whatever the sentence model:
    how much of the question the three candidates best by meaning and coverage hold (by word or
    near-synonym), and the rarity of the rarest word they leave out."""
    if not candidates.rows:
        return np.array([0.0, 0.0], dtype=np.float32)
    f = candidates.features
    col = SENTENCE_FEATURES.index
    plain = f[:, col("sim")] + f[:, col("cover")]
    top = [candidates.rows[int(i)] for i in np.argsort(-plain, kind="stable")[:3]]
    covered, uncovered = near_coverage(evidence, top, near)
    return np.array([covered, uncovered], dtype=np.float32)


def question_features(candidates: Candidates, probabilities: np.ndarray, summary: np.ndarray
                      ) -> np.ndarray:
    """Features of the question and its best candidates for the answer/abstain model."""
    f = candidates.features
    col = {name: i for i, name in enumerate(SENTENCE_FEATURES)}
    values = dict.fromkeys(QUESTION_FEATURES, 0.0)
    if len(probabilities):
        order = np.argsort(-probabilities, kind="stable")
        best = int(order[0])
        p1 = float(probabilities[best])
        p2 = float(probabilities[order[1]]) if len(order) > 1 else 0.0
        values.update({
            "p1": p1, "p2": p2, "p_margin": p1 - p2,
            "logit1": math.log(max(p1, 1e-6) / max(1 - p1, 1e-6)),
            "sim1": float(f[best, col["sim"]]), "sim_max": float(f[:, col["sim"]].max()),
            "para_max": float(f[:, col["para_sim"]].max()), "cover1": float(f[best, col["cover"]]),
            "cover_best": float(f[:, col["cover"]].max()),
            "cover_context1": float(f[best, col["cover_context"]]),
            "near_cover": float(summary[0]), "uncovered_idf": float(summary[1]),
            "type_wanted": float(f[best, col["type_wanted"]]),
            "type_found": float((f[:, col["type_match"]] > 0).any()),
            "known_share": float(f[best, col["known_share"]]),
            "question_terms": float(f[best, col["question_terms"]]),
            "bm25_max": float(f[:, col["bm25"]].max()),
        })
    return np.array([values[name] for name in QUESTION_FEATURES], dtype=np.float32)


# --- the models, as JSON --------------------------------------------------------------------------

@dataclass(frozen=True)
class Trees:
    """A gradient-boosted tree ensemble for binary classification, stored as arrays."""

    baseline: float
    feature: list[np.ndarray]
    threshold: list[np.ndarray]
    left: list[np.ndarray]
    right: list[np.ndarray]
    leaf: list[np.ndarray]
    value: list[np.ndarray]

    def logits(self, x: np.ndarray) -> np.ndarray:
        """The raw score of each row of `x` (before the sigmoid)."""
        total = np.full(len(x), self.baseline, dtype=np.float64)
        if len(x) == 0:
            return total
        index = np.arange(len(x))
        for feature, threshold, left, right, leaf, value in zip(
                self.feature, self.threshold, self.left, self.right, self.leaf, self.value, strict=True):
            node = np.zeros(len(x), dtype=np.int64)
            while True:
                active = ~leaf[node]
                if not active.any():
                    break
                go_left = x[index, feature[node]] <= threshold[node]
                node = np.where(active, np.where(go_left, left[node], right[node]), node)
            total += value[node]
        return total

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The probability of the positive class for each row of `x`."""
        return 1.0 / (1.0 + np.exp(-self.logits(x)))

    def to_json(self) -> dict[str, Any]:
        """The JSON form (see from_json)."""
        return {"baseline": self.baseline, "trees": [
            {"feature": f.tolist(), "threshold": t.tolist(), "left": lt.tolist(), "right": r.tolist(),
             "leaf": lf.astype(int).tolist(), "value": v.tolist()}
            for f, t, lt, r, lf, v in zip(self.feature, self.threshold, self.left, self.right,
                                          self.leaf, self.value, strict=True)]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Trees:
        """Trees from their JSON form."""
        trees = data["trees"]
        return cls(float(data["baseline"]),
                   [np.asarray(t["feature"], dtype=np.int64) for t in trees],
                   [np.asarray(t["threshold"], dtype=np.float64) for t in trees],
                   [np.asarray(t["left"], dtype=np.int64) for t in trees],
                   [np.asarray(t["right"], dtype=np.int64) for t in trees],
                   [np.asarray(t["leaf"], dtype=bool) for t in trees],
                   [np.asarray(t["value"], dtype=np.float64) for t in trees])


@dataclass(frozen=True)
class Logistic:
    """A logistic regression over standardised features."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The probability of the positive class for each row of `x`."""
        z = ((x - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def to_json(self) -> dict[str, Any]:
        """The JSON form (see from_json)."""
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(), "coef": self.coef.tolist(),
                "intercept": self.intercept}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Logistic:
        """A model from its JSON form."""
        return cls(np.asarray(data["mean"], dtype=np.float64), np.asarray(data["scale"], dtype=np.float64),
                   np.asarray(data["coef"], dtype=np.float64), float(data["intercept"]))


class ModelError(RuntimeError):
    """The scorer's model file is missing or does not fit this version of the code."""


@dataclass(frozen=True)
class Scorer:
    """The sentence model, the answer/abstain model and the settings chosen with them."""

    sentences: Trees
    answerable: Logistic
    # Answer when the calibrated probability that the case answers is at least this.
    threshold: float
    # A second sentence joins the best one when its probability is at least this share of the best.
    second_share: float
    near_word: float
    info: dict[str, Any]

    def sentence_probabilities(self, candidates: Candidates) -> np.ndarray:
        """The probability that each candidate states the answer."""
        return self.sentences.predict(candidates.features.astype(np.float64))

    def answer_probability(self, question: np.ndarray) -> float:
        """The calibrated probability that the case answers the question."""
        return float(self.answerable.predict(question.astype(np.float64)[None, :])[0])

    def to_json(self) -> dict[str, Any]:
        """The JSON form written by training."""
        return {"format": FORMAT, "sentence_features": list(SENTENCE_FEATURES),
                "question_features": list(QUESTION_FEATURES), "sentences": self.sentences.to_json(),
                "answerable": self.answerable.to_json(), "threshold": self.threshold,
                "second_share": self.second_share, "near_word": self.near_word, "info": self.info}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scorer:
        """A scorer from its JSON form; ModelError when it was made for other features."""
        if data.get("format") != FORMAT or data.get("sentence_features") != list(SENTENCE_FEATURES) \
                or data.get("question_features") != list(QUESTION_FEATURES):
            raise ModelError("the scorer model was trained for other features: run `make train`")
        return cls(Trees.from_json(data["sentences"]), Logistic.from_json(data["answerable"]),
                   float(data["threshold"]), float(data["second_share"]), float(data["near_word"]),
                   dict(data.get("info", {})))


@lru_cache(maxsize=4)
def load_scorer(path: Path = MODEL_PATH) -> Scorer:
    """The scorer stored at `path` (by default the one shipped with casebot), read once."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ModelError(f"cannot read the scorer model {path}: {error}; run `make train`") from error
    return Scorer.from_json(data)
