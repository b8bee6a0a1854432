"""The extractive answerer's learned parts: which candidate sentence answers, and whether to answer.

Two are small linear models over evidence the answerer computes anyway (no extra model pass):

- the sentence scorer weighs a candidate's six kinds of evidence (similarity to the question, its
  paragraph's similarity, word coverage, coverage with its neighbours, answer type, new words);
  its weights are learned listwise and kept non-negative, so a score is a positive sum whose ratios
  the answerer's relative cut-offs can read;
- the abstention decision is a logistic regression over the evidence for the best candidates after
  scoring (`decision_features`); the question is answered when its probability reaches the
  threshold chosen in training.

`make train` (training/train_answerer.py) fits both on the written business cases of
training/data and the articles of ../shared/data and writes them to `learned.json` beside this
module (a few hundred bytes); they load on first use.

A models file may instead have the abstention decision read the case reader (`reader`;
bot/answerers/reader.py), a small cross-encoder reading the question with each of the best
candidates: the decision is then a logistic regression over its probabilities
(`reader_features`). `make train-reader` (training/train_reader.py) trains the reader and fits
that decision.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.answerers.config import HandSet
from bot.errors import ModelFileError

SHIPPED_MODELS = Path(__file__).parent / "learned.json"
# How many of the best candidates the decision reads: the one shown first and the two that could
# join it in the answer.
DECISION_CANDIDATES = 3


@dataclass(frozen=True)
class SentenceScorer:
    """A candidate sentence's score: a non-negative weighted sum of its evidence features."""

    weights: tuple[float, ...]
    # A sentence scoring at least this share of the best one's score is nearly as good: it may
    # join the answer, or stand first when it holds the kind of answer asked for. Chosen in
    # training with the weights, as it reads their scale.
    cutoff: float

    def score(self, features: Sequence[float]) -> float:
        """The score of one candidate's features (in the order of ScoredSentence.features)."""
        return float(np.dot(self.weights, features))


@dataclass(frozen=True)
class AbstentionModel:
    """Logistic regression over `decision_features`, standardised with the training mean and scale."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coefficients: tuple[float, ...]
    intercept: float
    threshold: float

    def probability(self, features: Sequence[float]) -> float:
        """The model's probability that the case answers the question."""
        standard = (np.asarray(features) - self.mean) / self.scale
        return float(1.0 / (1.0 + np.exp(-(standard @ self.coefficients + self.intercept))))

    def answers(self, features: Sequence[float]) -> bool:
        """Whether to answer rather than decline."""
        return self.probability(features) >= self.threshold


@dataclass(frozen=True)
class LearnedModels:
    """The learned parts, as `make train` or `make train-reader` wrote them."""

    scorer: SentenceScorer
    abstention: AbstentionModel
    # Whether the abstention decision reads the case reader's probabilities (`reader_features`)
    # rather than the evidence features (`decision_features`).
    reader: bool = False

    def to_json(self) -> str:
        """The models as the JSON `load_models` reads (rounded: the file ships)."""
        def rounded(values: Sequence[float]) -> list[float]:
            return [round(float(v), 6) for v in values]

        a = self.abstention
        data: dict[str, object] = {
            "scorer": {"weights": rounded(self.scorer.weights), "cutoff": round(self.scorer.cutoff, 6)},
            "abstention": {"mean": rounded(a.mean), "scale": rounded(a.scale),
                           "coefficients": rounded(a.coefficients), "intercept": round(a.intercept, 6),
                           "threshold": round(a.threshold, 6)}}
        if self.reader:
            data["reader"] = True
        return json.dumps(data, indent=1) + "\n"


def decision_features(top: Sequence[Sequence[float]], leaned: Sequence[float], top_hit: float,
                      lexical: float) -> tuple[float, ...]:
    """What the abstention decision reads, from the best candidates in rank order: the best one's
    evidence features and its similarity read with the sentence it leans on, the best similarity
    among the first few, the retrieval score of the best paragraph and the share of the question's
    words the case uses."""
    best = list(top[0])
    return (*best, leaned[0], max(leaned[:DECISION_CANDIDATES]), top_hit, lexical)


def reader_features(read: Sequence[float]) -> tuple[float, float]:
    """What the abstention decision reads when the answerer uses the case reader: the reader's best
    probability among the best candidates (in rank order) and its probability for the first."""
    return (max(read[:DECISION_CANDIDATES], default=0.0), read[0] if read else 0.0)


# decision_features: the best candidate's six features, then its leaned similarity, the best leaned
# similarity of the first few, the top retrieval score and the share of known words.
_FEATURES = 6 + 4
_LEANED = 6
# A logistic curve this steep turns the hand-set floor into a step at the threshold 0.5.
_STEEP = 100.0


def hand_set_models(hand_set: HandSet) -> LearnedModels:
    """The hand-set rules written as models: the hand-set weights and cut-off, and the similarity
    floor as a logistic step on the best sentence's leaned similarity."""
    steep = tuple(_STEEP if i == _LEANED else 0.0 for i in range(_FEATURES))
    return LearnedModels(SentenceScorer(hand_set.weights, hand_set.cutoff),
                         AbstentionModel((0.0,) * _FEATURES, (1.0,) * _FEATURES, steep,
                                         -_STEEP * hand_set.floor, 0.5))


_cache: dict[Path, LearnedModels] = {}
_lock = threading.Lock()


def load_models(path: Path = SHIPPED_MODELS) -> LearnedModels:
    """The models in `path` (read once per process, on first use)."""
    with _lock:
        if path in _cache:
            return _cache[path]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        a = data["abstention"]
        models = LearnedModels(
            SentenceScorer(tuple(map(float, data["scorer"]["weights"])), float(data["scorer"]["cutoff"])),
            AbstentionModel(tuple(map(float, a["mean"])), tuple(map(float, a["scale"])),
                            tuple(map(float, a["coefficients"])), float(a["intercept"]),
                            float(a["threshold"])),
            reader=data.get("reader") is True)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ModelFileError(f"cannot read the answerer's learned models from {path} ({error}); "
                             "run `make train` to write them") from error
    with _lock:
        _cache[path] = models
    return models
