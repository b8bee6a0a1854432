"""The optional LLM judge of `casebot eval --judge`: verdict parsing, judging rows with a fake
chat model, metrics from verdicts, and the usage error without an LLM backend."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import CASEBOT, cli_env
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from bot.evaluation.judge import Verdict, judge_answer, parse_verdict
from bot.evaluation.metrics import Outcome, score_question, summarize
from bot.evaluation.questions import Question

QUESTION = Question(id="q1", question="How much did Volkswagen invest in XPeng?",
                    reference_answer="$700 million.", expected_paragraphs=(12,),
                    must_include=("$700 million",), category="fact")
ROW = {"answer": "Volkswagen would invest $700 million [¶12].", "abstained": False,
       "citations": [{"paragraph": 12, "text": "Volkswagen would invest $700 million ..."}]}


def fake_model(*replies: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter(AIMessage(content=r) for r in replies))


@pytest.mark.parametrize(("reply", "faithful", "correct"), [
    ('{"faithful": true, "correct": false}', True, False),
    ('Sure! {"faithful": false, "correct": true} Hope that helps.', False, True),
    ('{"note": 1} then {"faithful": true, "correct": true}', True, True),
])
def test_verdicts_are_read_from_the_reply(reply: str, faithful: bool, correct: bool) -> None:
    assert parse_verdict(reply) == Verdict(faithful, correct)


@pytest.mark.parametrize("reply", ["yes", '{"faithful": "yes", "correct": true}', "{broken"])
def test_a_reply_without_a_verdict_judges_nothing(reply: str) -> None:
    verdict = parse_verdict(reply)
    assert verdict.faithful is None and verdict.correct is None and "not a verdict" in verdict.note


def test_the_judge_sees_question_answer_sources_and_reference() -> None:
    model = fake_model('{"faithful": true, "correct": true}')
    assert judge_answer(model, "The Unlikely Alliance", QUESTION, ROW) == Verdict(True, True)


def test_abstentions_are_not_judged() -> None:
    model = fake_model()  # no replies: calling it would fail
    verdict = judge_answer(model, "T", QUESTION, {**ROW, "abstained": True})
    assert verdict.faithful is None and verdict.correct is None


def test_judged_metrics_average_over_judged_answers_only() -> None:
    judged = [Outcome("a", False, (12,), (12,), 10.0, faithful=True, correct=False),
              Outcome("b", False, (12,), (12,), 10.0, faithful=False, correct=False),
              Outcome("c", True, (), (12,), 10.0)]
    summary = summarize([score_question(QUESTION, outcome) for outcome in judged])
    assert summary["metrics"]["judge_faithfulness"] == 0.5
    assert summary["metrics"]["judge_correctness"] == 0.0
    assert summary["counts"]["judge_faithfulness"] == 2


def test_unjudged_runs_have_no_judge_metrics() -> None:
    summary = summarize([score_question(QUESTION, Outcome("a", False, (12,), (12,), 1.0))])
    assert summary["metrics"]["judge_faithfulness"] is None
    assert summary["counts"]["judge_faithfulness"] == 0


@pytest.mark.model
def test_judge_without_an_llm_backend_is_a_usage_error(ingested_data_dir: Path, tmp_path: Path) -> None:
    result = subprocess.run([CASEBOT, "eval", "--judge", "--output", str(tmp_path / "run")],
                            env=cli_env(ingested_data_dir), capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "--judge needs an LLM backend" in result.stderr
    assert not (tmp_path / "run").exists()
