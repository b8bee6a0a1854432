"""Evaluation metrics: pure functions over questions and what the bot returned for them.

Every metric is computed per question, then averaged (macro) over the questions where it is
defined; a metric undefined for a question (value None) is left out of the average, and the
number of questions each average covers is reported beside it. DEFINITIONS holds the exact rules
in words; the HTML report and summary.json carry them.
"""

from __future__ import annotations

import re
import statistics
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from bot.evaluation.questions import Question
from bot.rag.citations import MARKER

RECALL_KS = (1, 3, 5)

_ARTICLES = re.compile(r"\b(a|an|the)\b")

# name -> (definition, higher is better)
METRICS: dict[str, tuple[str, bool]] = {
    "pass_rate": (
        "Share of questions passed. An answerable question passes when the bot does not abstain, "
        "the answer is not empty, every must_include string is in it, and (when expected paragraphs "
        "are given) it cites at least one of them. An unanswerable question passes when the bot "
        "abstains.", True),
    "recall@1": (
        "Capped recall of expected paragraphs among the top k retrieved: |expected ∩ top-k| / "
        "min(k, |expected|), so a perfect ranking scores 1 at every k. Questions without "
        "expected paragraphs (including unanswerable ones) are not counted.", True),
    "recall@3": ("As recall@1, with k = 3.", True),
    "recall@5": ("As recall@1, with k = 5.", True),
    "mrr": (
        "Mean reciprocal rank: 1 / rank of the first expected paragraph among the retrieved "
        "ones, 0 when none was retrieved. Only questions with expected paragraphs count.", True),
    "citation_precision": (
        "Share of cited paragraphs that are expected (by paragraph number, in the spirit of "
        "ALCE). Counted on questions with expected paragraphs whose answer cites something; an "
        "answer citing nothing has no precision (citation recall charges it instead).", True),
    "citation_recall": (
        "Share of expected paragraphs the answer cites. Counted on every question with "
        "expected paragraphs; an abstention or an answer citing nothing scores 0.", True),
    "must_include": (
        "Share of must_include strings found in the answer, ignoring case, punctuation and "
        "[¶n] markers, matched on whole words. Counted on answerable questions that list "
        "must_include strings; an abstention or an empty answer scores 0.", True),
    "token_f1": (
        "SQuAD token F1 between the answer and reference_answer after removing [¶n] markers, "
        "lower-casing, and dropping punctuation and articles. Counted on answerable questions "
        "with a reference answer; an empty answer or an abstention scores 0.", True),
    "abstention_accuracy": (
        "Share of unanswerable questions (answerable: false: unanswerable, off-topic, injection) "
        "on which the bot abstained.", True),
    "false_abstention_rate": (
        "Share of answerable questions on which the bot abstained (lower is better).", False),
    "judge_faithfulness": (
        "Only with --judge: share of judged answers whose every statement the LLM judge found "
        "supported by the cited paragraphs. Abstentions and failed questions are not judged.", True),
    "judge_correctness": (
        "Only with --judge: share of judged answers the LLM judge found to say what the reference "
        "answer says.", True),
    "latency_p50_ms": (
        "Median time to a complete answer, in milliseconds (linear interpolation between "
        "ranks). Questions that raised an error are not counted.", False),
    "latency_p95_ms": ("95th percentile of the same latencies (lower is better).", False),
}
HIGHER_IS_BETTER = tuple(name for name, (_, higher) in METRICS.items() if higher)
LOWER_IS_BETTER = tuple(name for name, (_, higher) in METRICS.items() if not higher)
DEFINITIONS = {name: text for name, (text, _) in METRICS.items()}


@dataclass(frozen=True)
class Outcome:
    """What the bot returned for one question, reduced to what the metrics need."""

    answer: str
    abstained: bool
    cited: tuple[int, ...] = ()
    retrieved: tuple[int, ...] = ()
    latency_ms: float | None = None
    error: str = ""
    faithful: bool | None = None
    correct: bool | None = None


@dataclass(frozen=True)
class QuestionScore:
    """Every metric of one question (None where undefined) and its verdict."""

    id: str
    category: str
    answerable: bool | None
    passed: bool
    reasons: tuple[str, ...]
    values: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form kept in summary.json."""
        return {"id": self.id, "category": self.category, "answerable": self.answerable,
                "passed": self.passed, "reasons": list(self.reasons), "metrics": dict(self.values)}


# --- text normalisation -------------------------------------------------------------------------

def strip_markers(text: str) -> str:
    """The text without citation markers such as [¶12] or [¶3, ¶4]."""
    return MARKER.sub(" ", text)


def _is_punctuation(char: str) -> bool:
    return char in string.punctuation or unicodedata.category(char)[0] in "PS"


def match_words(text: str) -> list[str]:
    """Lower-cased words with punctuation and symbols turned into spaces, for must_include."""
    folded = unicodedata.normalize("NFKC", strip_markers(text)).lower()
    return "".join(" " if _is_punctuation(ch) else ch for ch in folded).split()


def squad_tokens(text: str) -> list[str]:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, split on spaces."""
    folded = unicodedata.normalize("NFKC", strip_markers(text)).lower()
    folded = "".join(ch for ch in folded if not _is_punctuation(ch))
    return _ARTICLES.sub(" ", folded).split()


# --- per-question metrics -----------------------------------------------------------------------

def recall_at_k(expected: Sequence[int], retrieved: Sequence[int], k: int) -> float | None:
    """|expected ∩ top-k retrieved| / min(k, |expected|); None without expected paragraphs."""
    wanted = set(expected)
    if not wanted:
        return None
    found = len(wanted & set(retrieved[:k]))
    return found / min(k, len(wanted))


def reciprocal_rank(expected: Sequence[int], retrieved: Sequence[int]) -> float | None:
    """1 / rank of the first expected paragraph retrieved, 0 if none; None without expected ones."""
    wanted = set(expected)
    if not wanted:
        return None
    for rank, paragraph in enumerate(retrieved, start=1):
        if paragraph in wanted:
            return 1.0 / rank
    return 0.0


def citation_precision(cited: Sequence[int], expected: Sequence[int]) -> float | None:
    """Share of cited paragraphs that are expected; None when nothing is cited or nothing expected."""
    cited_set, wanted = set(cited), set(expected)
    if not cited_set or not wanted:
        return None
    return len(cited_set & wanted) / len(cited_set)


def citation_recall(cited: Sequence[int], expected: Sequence[int]) -> float | None:
    """Share of expected paragraphs that are cited; None when nothing is expected."""
    wanted = set(expected)
    if not wanted:
        return None
    return len(wanted & set(cited)) / len(wanted)


def missing_strings(answer: str, must_include: Sequence[str]) -> list[str]:
    """The `must_include` strings not in `answer`, compared as whole words (case, punctuation and
    [¶n] markers ignored)."""
    haystack = f" {' '.join(match_words(answer))} "
    missing = []
    for needle in must_include:
        words = match_words(needle)
        if not words or f" {' '.join(words)} " not in haystack:
            missing.append(needle)
    return missing


def must_include_hits(answer: str, must_include: Sequence[str]) -> float | None:
    """Share of `must_include` strings in `answer`; None when there are none to look for."""
    if not must_include:
        return None
    return 1 - len(missing_strings(answer, must_include)) / len(must_include)


def token_f1(answer: str, reference: str) -> float | None:
    """SQuAD token F1 of `answer` against `reference`; None when there is no reference."""
    gold = squad_tokens(reference)
    if not reference.strip():
        return None
    predicted = squad_tokens(answer)
    if not gold or not predicted:
        return float(gold == predicted)
    common = sum((Counter(predicted) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def percentile(values: Iterable[float], p: float) -> float | None:
    """The p-th percentile (0-100) with linear interpolation between ranks; None when empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    if len(ordered) == 1 or p <= 0:  # quantiles() needs two values and a cut point inside (0, 100)
        return ordered[0]
    if p >= 100:
        return ordered[-1]
    # The p-th percentile is cut point `numerator` of `denominator` equal parts (p = 95: the 19th
    # of 20), p taken to a thousandth of a percent so the parts stay few. "inclusive" interpolates
    # between ranks 0 .. n-1, as the hand-written version did and NumPy does by default.
    share = Fraction(p).limit_denominator(1000) / 100
    return statistics.quantiles(ordered, n=share.denominator, method="inclusive")[share.numerator - 1]


def format_value(name: str, value: float | None) -> str:
    """A metric value for people: latencies (names ending in _ms) in ms, others with three decimals."""
    if value is None:
        return "n/a"
    return f"{value:,.0f} ms" if name.endswith("_ms") else f"{value:.3f}"


def mean(values: Iterable[float | None]) -> float | None:
    """The mean of the defined values; None when none is defined."""
    defined = [v for v in values if v is not None]
    return sum(defined) / len(defined) if defined else None


# --- scoring and aggregation --------------------------------------------------------------------

def _labels(paragraphs: Iterable[int]) -> str:
    return ", ".join(f"¶{p}" for p in paragraphs) or "nothing"


def score_question(question: Question, outcome: Outcome) -> QuestionScore:
    """Every per-question metric and the pass/fail verdict (see METRICS['pass_rate'])."""
    expected, cited = question.expected_paragraphs, outcome.cited
    # Unlabelled questions (answerable None) count in the answer metrics like answerable ones.
    usable = question.answerable is not False and not outcome.abstained and not outcome.error
    answer = outcome.answer if usable else ""
    values: dict[str, float | None] = {
        f"recall@{k}": recall_at_k(expected, outcome.retrieved, k) for k in RECALL_KS
    }
    values["mrr"] = reciprocal_rank(expected, outcome.retrieved)
    values["citation_precision"] = citation_precision(cited, expected)
    values["citation_recall"] = citation_recall(cited if usable else (), expected)
    labelled_answerable = question.answerable is not False
    values["must_include"] = must_include_hits(answer, question.must_include) if labelled_answerable else None
    values["token_f1"] = token_f1(answer, question.reference_answer) if labelled_answerable else None
    values["abstained"] = float(outcome.abstained)
    values["latency_ms"] = None if outcome.error else outcome.latency_ms
    values["judge_faithfulness"] = None if outcome.faithful is None else float(outcome.faithful)
    values["judge_correctness"] = None if outcome.correct is None else float(outcome.correct)

    reasons: list[str] = []
    if outcome.error:
        reasons.append(f"error: {outcome.error}")
    if question.answerable is None:
        pass  # unlabelled: nothing to pass or fail but an error
    elif not question.answerable:
        if not outcome.abstained and not outcome.error:
            reasons.append("answered instead of abstaining")
    elif not outcome.error:
        if outcome.abstained:
            reasons.append("abstained on an answerable question")
        elif not outcome.answer.strip():
            reasons.append("empty answer")
        else:
            missing = missing_strings(outcome.answer, question.must_include)
            if missing:
                reasons.append("missing " + ", ".join(repr(s) for s in missing))
            if expected and not set(cited) & set(expected):
                reasons.append(f"cites {_labels(cited)}, expected {_labels(expected)}")
    return QuestionScore(question.id, question.category, question.answerable, not reasons,
                         tuple(reasons), values)


def aggregate(scores: Sequence[QuestionScore]) -> tuple[dict[str, float | None], dict[str, int]]:
    """The metrics of METRICS over `scores`, and how many questions each one covers."""
    answerable = [s for s in scores if s.answerable is True]
    unanswerable = [s for s in scores if s.answerable is False]
    latencies = [s.values["latency_ms"] for s in scores if s.values.get("latency_ms") is not None]
    metrics: dict[str, float | None] = {}
    counts: dict[str, int] = {}

    def put(name: str, values: list[float | None]) -> None:
        defined = [v for v in values if v is not None]
        metrics[name], counts[name] = mean(defined), len(defined)

    put("pass_rate", [float(s.passed) for s in scores if s.answerable is not None])
    for name in (*(f"recall@{k}" for k in RECALL_KS), "mrr", "citation_precision",
                 "citation_recall", "must_include", "token_f1", "judge_faithfulness",
                 "judge_correctness"):
        put(name, [s.values.get(name) for s in scores])
    put("abstention_accuracy", [s.values["abstained"] for s in unanswerable])
    put("false_abstention_rate", [s.values["abstained"] for s in answerable])
    for name, p in (("latency_p50_ms", 50), ("latency_p95_ms", 95)):
        metrics[name] = percentile([v for v in latencies if v is not None], p)
        counts[name] = len(latencies)
    return metrics, counts


def summarize(scores: Sequence[QuestionScore]) -> dict[str, Any]:
    """Overall, answerable-only and per-category metrics, plus each question's verdict."""
    metrics, counts = aggregate(scores)
    answerable_metrics, answerable_counts = aggregate([s for s in scores if s.answerable is True])
    categories: dict[str, Any] = {}
    for category in dict.fromkeys(s.category for s in scores):
        members = [s for s in scores if s.category == category]
        cat_metrics, cat_counts = aggregate(members)
        categories[category] = {
            "questions": len(members),
            "passed": sum(s.passed for s in members if s.answerable is not None),
            "unlabelled": sum(s.answerable is None for s in members),
            "metrics": cat_metrics,
            "counts": cat_counts,
        }
    return {
        "questions": len(scores),
        "answerable": sum(s.answerable is True for s in scores),
        "unanswerable": sum(s.answerable is False for s in scores),
        "unlabelled": sum(s.answerable is None for s in scores),
        "passed": sum(s.passed for s in scores if s.answerable is not None),
        "metrics": metrics,
        "counts": counts,
        "answerable_only": {"metrics": answerable_metrics, "counts": answerable_counts},
        "by_category": categories,
        "definitions": dict(DEFINITIONS),
        "per_question": [s.to_dict() for s in scores],
    }
