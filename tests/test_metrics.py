"""The evaluation metrics against hand-computed examples, edge cases included."""

from __future__ import annotations

import math
import random

import pytest

from bot.evaluation.metrics import (
    DEFINITIONS,
    METRICS,
    Outcome,
    aggregate,
    citation_precision,
    citation_recall,
    format_value,
    mean,
    missing_strings,
    must_include_hits,
    percentile,
    recall_at_k,
    reciprocal_rank,
    score_question,
    strip_markers,
    summarize,
    token_f1,
)
from bot.evaluation.questions import Question

FACT = Question("q1", "How much did Volkswagen invest?", reference_answer="Volkswagen invested $700 million.",
                expected_paragraphs=(12, 16), must_include=("$700 million", "5%"), category="fact")
UNANSWERABLE = Question("q2", "What was XPeng's revenue?", answerable=False, category="unanswerable")
NO_EXPECTED = Question("q3", "Anything?", category="fact")


def test_recall_is_capped_at_the_number_of_expected_paragraphs() -> None:
    # expected {12, 16}; retrieved 12 first, 16 fourth.
    retrieved = [12, 5, 7, 16, 9]
    assert recall_at_k([12, 16], retrieved, 1) == 1.0  # 1 found / min(1, 2)
    assert recall_at_k([12, 16], retrieved, 3) == 0.5  # 1 found / min(3, 2)
    assert recall_at_k([12, 16], retrieved, 5) == 1.0
    assert recall_at_k([8], retrieved, 5) == 0.0
    assert recall_at_k([5, 7, 9, 12], [1, 5, 7], 3) == pytest.approx(2 / 3)


def test_retrieval_metrics_are_undefined_without_expected_paragraphs() -> None:
    assert recall_at_k([], [1, 2, 3], 3) is None
    assert reciprocal_rank([], [1, 2]) is None


def test_reciprocal_rank_uses_the_first_expected_paragraph() -> None:
    assert reciprocal_rank([16, 12], [5, 12, 16]) == 0.5
    assert reciprocal_rank([12], [12]) == 1.0
    assert reciprocal_rank([12], [1, 2, 3]) == 0.0
    assert reciprocal_rank([12], []) == 0.0


def test_citation_precision_and_recall_by_paragraph_number() -> None:
    assert citation_precision([12, 5], [12, 16]) == 0.5
    assert citation_recall([12, 5], [12, 16]) == 0.5
    assert citation_precision([12, 12, 16], [12, 16]) == 1.0  # repeats count once
    assert citation_recall([12, 16, 3], [12, 16]) == 1.0
    # Nothing cited: no precision (recall charges it), recall 0.
    assert citation_precision([], [12]) is None
    assert citation_recall([], [12]) == 0.0
    # Nothing expected: neither is defined.
    assert citation_precision([3], []) is None
    assert citation_recall([3], []) is None


def test_must_include_ignores_case_punctuation_and_markers() -> None:
    answer = "VW would invest 700 MILLION dollars for a nearly 5 % stake [¶12]; announced July 26 2023."
    assert must_include_hits(answer, ["$700 million", "5%", "July 26, 2023"]) == 1.0
    assert must_include_hits("It co-developed two EVs.", ["co-develop", "two"]) == 0.5
    assert missing_strings("It co-developed two EVs.", ["co-develop", "two"]) == ["co-develop"]


def test_must_include_matches_whole_words_only() -> None:
    assert must_include_hits("In 2025 things changed.", ["5"]) == 0.0
    assert must_include_hits("a ten-year plan", ["year"]) == 1.0
    # A marker's number is not the answer.
    assert must_include_hits("The stake [¶12].", ["12"]) == 0.0


def test_must_include_edge_cases() -> None:
    assert must_include_hits("anything", []) is None
    assert must_include_hits("", ["Guangzhou"]) == 0.0


def test_token_f1_matches_squad() -> None:
    # predicted: volkswagen invested 700 million in xpeng (6); gold: volkswagen invested 700 million (4)
    f1 = token_f1("Volkswagen invested $700 million in XPeng [¶12].", "Volkswagen invested $700 million.")
    precision, recall = 4 / 6, 4 / 4
    assert f1 == pytest.approx(2 * precision * recall / (precision + recall))
    assert token_f1("The answer.", "an answer") == 1.0  # articles and punctuation dropped
    assert token_f1("nothing alike", "Guangzhou") == 0.0


def test_token_f1_edge_cases() -> None:
    assert token_f1("", "Guangzhou") == 0.0
    assert token_f1("Guangzhou", "") is None
    assert token_f1("[¶7]", "Guangzhou") == 0.0  # only a marker is an empty answer


def test_strip_markers() -> None:
    assert strip_markers("A [¶12] and B [¶3, ¶4] and C [¶ 5]").split() == ["A", "and", "B", "and", "C"]


def test_percentile_interpolates_linearly() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 50) == 25.0
    assert percentile(values, 95) == pytest.approx(38.5)  # rank 2.85 between 30 and 40
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None


def _hand_written_percentile(values: list[float], p: float) -> float:
    """The interpolation the module computed by hand before statistics.quantiles, as the reference."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


_RANDOM = random.Random(11)
PERCENTILE_LISTS = [
    [10.0, 20.0, 30.0, 40.0],
    [3.0, 1.0, 2.0],
    [5.0, 5.0],
    [120.0, 340.0, 80.0, 900.0, 95.0],
    [0.1 * i * i for i in range(1, 38)],
    [_RANDOM.lognormvariate(5, 1) for _ in range(80)],
    [float(_RANDOM.randint(1, 40_000)) for _ in range(61)],
]


@pytest.mark.parametrize("values", PERCENTILE_LISTS, ids=lambda v: f"{len(v)}-values")
def test_percentile_gives_the_numbers_the_hand_written_version_gave(values: list[float]) -> None:
    for p in (1, 5, 25, 50, 75, 90, 95, 97.5, 99):
        # The two formulas round differently in the last bits (relative error below 1e-13).
        assert percentile(values, p) == pytest.approx(_hand_written_percentile(values, p), rel=1e-12), p
    assert percentile(values, 0) == min(values)
    assert percentile(values, 100) == max(values)


def test_percentile_is_exact_where_the_interpolation_is() -> None:
    assert percentile([10.0, 20.0, 30.0, 40.0], 95) == 38.5
    assert percentile([80.0, 120.0, 340.0, 900.0], 50) == 230.0
    assert percentile([1.0, 2.0], 25) == 1.25


def test_format_value_writes_fractions_and_milliseconds() -> None:
    assert format_value("recall@5", 0.83921) == "0.839"
    assert format_value("pass_rate", 1) == "1.000"
    assert format_value("latency_p95_ms", 12314.4) == "12,314 ms"
    assert format_value("latency_ms", 120.0) == "120 ms"
    assert format_value("mrr", None) == "n/a"


def test_mean_skips_undefined_values() -> None:
    assert mean([1.0, None, 0.0]) == 0.5
    assert mean([None]) is None


def test_a_good_answer_passes() -> None:
    outcome = Outcome("Volkswagen invested $700 million for a nearly 5% stake [¶12].", False,
                      cited=(12,), retrieved=(12, 13, 16), latency_ms=40.0)
    score = score_question(FACT, outcome)
    assert score.passed and score.reasons == ()
    assert score.values["recall@1"] == 1.0
    assert score.values["recall@3"] == 1.0
    assert score.values["citation_precision"] == 1.0
    assert score.values["citation_recall"] == 0.5
    assert score.values["must_include"] == 1.0


def test_failures_say_why() -> None:
    outcome = Outcome("Volkswagen invested heavily [¶5].", False, cited=(5,), retrieved=(5, 12))
    score = score_question(FACT, outcome)
    assert not score.passed
    assert score.reasons == ("missing '$700 million', '5%'", "cites ¶5, expected ¶12, ¶16")
    assert score.values["citation_precision"] == 0.0
    assert score.values["mrr"] == 0.5


def test_abstaining_on_an_answerable_question_scores_zero() -> None:
    outcome = Outcome("The case doesn't say.", True, retrieved=(12,))
    score = score_question(FACT, outcome)
    assert not score.passed
    assert score.reasons == ("abstained on an answerable question",)
    assert score.values["must_include"] == 0.0
    assert score.values["token_f1"] == 0.0
    assert score.values["citation_recall"] == 0.0
    assert score.values["citation_precision"] is None
    assert score.values["recall@1"] == 1.0  # retrieval is scored all the same


def test_empty_answer_fails() -> None:
    score = score_question(FACT, Outcome("", False))
    assert score.reasons == ("empty answer",)
    assert score.values["token_f1"] == 0.0


def test_unanswerable_question_passes_only_by_abstaining() -> None:
    abstained = score_question(UNANSWERABLE, Outcome("The case doesn't say.", True))
    answered = score_question(UNANSWERABLE, Outcome("Revenue was $1 billion [¶12].", False, cited=(12,)))
    assert abstained.passed and not answered.passed
    assert answered.reasons == ("answered instead of abstaining",)
    for score in (abstained, answered):
        assert score.values["recall@5"] is None
        assert score.values["citation_precision"] is None
        assert score.values["must_include"] is None
        assert score.values["token_f1"] is None


def test_question_without_expectations_passes_on_any_answer() -> None:
    assert score_question(NO_EXPECTED, Outcome("Something [¶3].", False, cited=(3,))).passed
    assert not score_question(NO_EXPECTED, Outcome("  ", False)).passed


def test_errors_fail_and_are_left_out_of_latency() -> None:
    score = score_question(FACT, Outcome("", False, latency_ms=None, error="QuestionError: too long"))
    assert score.reasons == ("error: QuestionError: too long",)
    assert score.values["latency_ms"] is None


def test_aggregate_by_hand() -> None:
    good = score_question(FACT, Outcome("$700 million, 5% [¶12]", False, cited=(12,),
                                        retrieved=(12, 16), latency_ms=100.0))
    poor = score_question(FACT, Outcome("I don't know.", True, retrieved=(3, 16), latency_ms=300.0))
    right = score_question(UNANSWERABLE, Outcome("The case doesn't say.", True, latency_ms=200.0))
    wrong = score_question(UNANSWERABLE, Outcome("$1bn [¶2]", False, cited=(2,), latency_ms=400.0))
    metrics, counts = aggregate([good, poor, right, wrong])
    assert metrics["pass_rate"] == 0.5 and counts["pass_rate"] == 4
    assert metrics["recall@1"] == 0.5 and counts["recall@1"] == 2  # 1 and 0
    assert metrics["mrr"] == 0.75  # 1 and 1/2
    assert metrics["citation_precision"] == 1.0 and counts["citation_precision"] == 1
    assert metrics["citation_recall"] == 0.25  # 1/2 and 0
    assert metrics["abstention_accuracy"] == 0.5 and counts["abstention_accuracy"] == 2
    assert metrics["false_abstention_rate"] == 0.5 and counts["false_abstention_rate"] == 2
    assert metrics["latency_p50_ms"] == 250.0
    assert metrics["latency_p95_ms"] == pytest.approx(385.0)


def test_aggregate_of_nothing_is_undefined() -> None:
    metrics, counts = aggregate([])
    assert all(value is None for value in metrics.values())
    assert set(metrics) == set(METRICS) == set(counts)


def test_summary_has_overall_answerable_and_category_views() -> None:
    scores = [score_question(FACT, Outcome("$700 million 5% [¶12]", False, cited=(12,), retrieved=(12,))),
              score_question(UNANSWERABLE, Outcome("No.", False))]
    summary = summarize(scores)
    assert summary["questions"] == 2 and summary["passed"] == 1
    assert summary["answerable"] == 1 and summary["unanswerable"] == 1
    assert summary["answerable_only"]["metrics"]["pass_rate"] == 1.0
    assert summary["answerable_only"]["metrics"]["abstention_accuracy"] is None
    assert summary["by_category"]["fact"]["passed"] == 1
    assert summary["by_category"]["unanswerable"]["metrics"]["abstention_accuracy"] == 0.0
    assert [q["id"] for q in summary["per_question"]] == ["q1", "q2"]
    assert summary["definitions"] == DEFINITIONS
