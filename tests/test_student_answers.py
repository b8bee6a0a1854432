"""Answers for students on the bundled case with the learned scorer: the direct answer, no
dangling connective, never the title line as evidence, unknown words that do not cause
abstention, and abstentions that point to the closest passages in `see_also`."""

from __future__ import annotations

import re

import pytest

from bot.evaluation.metrics import strip_markers
from bot.rag.chain import CaseBot

pytestmark = pytest.mark.model

_CONNECTIVE = re.compile(r"^(?:But|However|And|So|Yet|Moreover|Instead|Still)\b")


@pytest.mark.parametrize("question", [
    "How much did VW invest in XPeng?",
    "How much did Volkswagen invest in XPeng? 28",
    "How much did Volkswagon invest in Xpeng?",
])
def test_unknown_words_alone_do_not_cause_abstention(casebot: CaseBot, question: str) -> None:
    answer = casebot.ask(question)
    assert not answer.abstained, answer.answer
    assert "$700 million" in answer.answer
    assert 12 in [c.paragraph for c in answer.citations]


@pytest.mark.parametrize("question", [
    "What are the risks of the deal?",
    "What is this case about?",
    "How did He Xiaopeng forge the partnership with Volkswagen?",
    "What was the landmark partnership?",
])
def test_the_title_line_is_never_cited(casebot: CaseBot, question: str) -> None:
    answer = casebot.ask(question)
    assert 1 not in [c.paragraph for c in answer.citations], answer.answer
    assert 1 not in [c.paragraph for c in answer.see_also]


@pytest.mark.parametrize("question", [
    "Why did Volkswagen need XPeng?",
    "What problem did Volkswagen face in China?",
    "What did He Xiaopeng have that Volkswagen needed?",
])
def test_no_dangling_connective(casebot: CaseBot, question: str) -> None:
    answer = casebot.ask(question)
    assert not answer.abstained, answer.answer
    for sentence in re.split(r"(?<=[.!?])\s+", answer.answer):
        if _CONNECTIVE.match(sentence):
            # Allowed only when the sentence it leans on is shown right before it.
            assert not answer.answer.startswith(sentence), answer.answer


@pytest.mark.parametrize("question", [
    "What is Tesla's market share in China?",
    "Who won the 2022 FIFA World Cup?",
    "What is the weather in Paris?",
])
def test_abstention_points_to_the_two_closest_passages(casebot: CaseBot, question: str) -> None:
    answer = casebot.ask(question)
    assert answer.abstained, answer.answer
    assert answer.citations == ()
    assert answer.answer.startswith("The case doesn't cover that.")
    assert len(answer.see_also) == 2
    for pointer in answer.see_also:
        assert f"¶{pointer.paragraph}" in answer.answer
        assert pointer.id == f"{answer.case}:{pointer.paragraph}" and pointer.text
    assert "[¶" not in answer.answer  # pointers, not citations
    data = answer.to_dict()
    assert data["citations"] == [] and [p["paragraph"] for p in data["see_also"]] == \
        [p.paragraph for p in answer.see_also]


def test_answers_are_short(casebot: CaseBot) -> None:
    questions = ["How much did Volkswagen invest in XPeng?", "Why did Volkswagen need XPeng?",
                 "What did XPeng get out of the deal?", "When was the deal announced?",
                 "What were the two strategic benefits for XPeng?"]
    words = [len(strip_markers(casebot.ask(q).answer).split()) for q in questions]
    assert sum(words) / len(words) <= 60, words
