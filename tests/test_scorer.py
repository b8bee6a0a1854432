"""The learned scorer's plumbing without the embedding model: the JSON models, the shipped
artifact and its data card, answer types, SQuAD conversion, and the answer text helpers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.answer import Answer, Citation
from bot.answerers.extractive import not_in_case_message, without_connective
from bot.answerers.scorer import (
    ANSWER_PATTERNS,
    MODEL_PATH,
    QUESTION_FEATURES,
    SENTENCE_FEATURES,
    Logistic,
    ModelError,
    Scorer,
    Trees,
    load_scorer,
    wanted_type,
)
from bot.answerers.squad import FIRST_CONTEXT, contains_answer, load_articles
from ingest.paragraphs import parse_case

# One tree: x0 <= 0.5 goes left (leaf -1.0), else right (leaf +2.0).
STUMP = Trees(0.25, [np.array([0, 0, 0])], [np.array([0.5, 0.0, 0.0])], [np.array([1, 0, 0])],
              [np.array([2, 0, 0])], [np.array([False, True, True])], [np.array([0.0, -1.0, 2.0])])


def test_trees_follow_their_splits_and_survive_json() -> None:
    x = np.array([[0.2, 9.0], [0.9, -9.0], [0.5, 0.0]])
    assert STUMP.logits(x).tolist() == [-0.75, 2.25, -0.75]
    again = Trees.from_json(json.loads(json.dumps(STUMP.to_json())))
    assert np.allclose(again.predict(x), 1 / (1 + np.exp(-np.array([-0.75, 2.25, -0.75]))))


def test_logistic_survives_json() -> None:
    model = Logistic(np.array([1.0, 0.0]), np.array([2.0, 1.0]), np.array([1.0, -1.0]), 0.5)
    again = Logistic.from_json(json.loads(json.dumps(model.to_json())))
    x = np.array([[3.0, 1.0]])
    assert again.predict(x)[0] == pytest.approx(1 / (1 + np.exp(-(1.0 - 1.0 + 0.5))))


def test_a_model_for_other_features_is_refused() -> None:
    data = Scorer(STUMP, Logistic(np.zeros(1), np.ones(1), np.zeros(1), 0.0), 0.5, 0.5, 0.65, {}).to_json()
    data["sentence_features"] = ["something", "else"]
    with pytest.raises(ModelError, match="make train"):
        Scorer.from_json(data)


def test_the_shipped_model_loads_is_small_and_has_a_data_card() -> None:
    scorer = load_scorer()
    assert MODEL_PATH.stat().st_size <= 50 * 1024 * 1024
    assert 0.0 < scorer.threshold < 1.0
    assert len(scorer.sentences.value) > 10
    assert scorer.answerable.coef.shape == (len(QUESTION_FEATURES),)
    card = (MODEL_PATH.parent / "DATA_CARD.md").read_text(encoding="utf-8")
    for needed in ("SQuAD 2.0", "CC BY-SA 4.0", "leave-one-article-out", f"{scorer.threshold:.4f}"):
        assert needed in card
    # Every candidate feature gets a probability in (0, 1).
    probabilities = scorer.sentences.predict(np.zeros((3, len(SENTENCE_FEATURES))))
    assert ((probabilities > 0) & (probabilities < 1)).all()


@pytest.mark.parametrize(("question", "kind"), [
    ("When was the Battle of Hastings?", "date"),
    ("In what year did Beyoncé release her first album?", "date"),
    ("How many employees does XPeng have?", "count"),
    ("How much did VW invest in XPeng?", "amount"),
    ("Where was Chopin born?", "place"),
    ("Who founded XPeng?", "name"),
    ("Why did Volkswagen need XPeng?", None),
])
def test_wanted_type(question: str, kind: str | None) -> None:
    assert wanted_type(question) == kind


@pytest.mark.parametrize(("text", "is_date"), [
    ("In 1066, Duke William II of Normandy conquered England.", True),
    ("The game was released on 19 November 2006.", True),
    ("It opened in March 1990.", True),
    ("The 1990s were different.", True),
    # The words "may" and "march" alone are not dates.
    ("Investors may march on regardless.", False),
    ("They may have doubts.", False),
])
def test_dates_need_a_year_or_a_day(text: str, is_date: bool) -> None:
    assert bool(ANSWER_PATTERNS["date"].search(text)) is is_date


@pytest.mark.parametrize(("sentence", "expected"), [
    ("But by 2023, the titan was facing a crisis.", "By 2023, the titan was facing a crisis."),
    ("However, the deal went ahead.", "The deal went ahead."),
    ("In addition, it provided capital.", "It provided capital."),
    ("Butter is made from cream.", "Butter is made from cream."),
    ("The deal was signed.", "The deal was signed."),
])
def test_without_connective(sentence: str, expected: str) -> None:
    assert without_connective(sentence) == expected


def test_abstention_message_points_to_two_passages() -> None:
    pointers = (Citation("c:7", "¶7", 7, "Act I: The Problem", "text", 0.4),
                Citation("c:12", "¶12", 12, "", "text", 0.3))
    message = not_in_case_message("A case", [], pointers)
    assert message == "The case doesn't cover that. You could look at ¶7 (Act I: The Problem) and ¶12."
    assert "[¶" not in message  # pointers are not citations
    assert not_in_case_message("A case", ["VW"]) == "The case doesn't cover that."


def test_see_also_is_in_the_answer_object_when_abstaining() -> None:
    pointer = Citation("c:7", "¶7", 7, "", "text", 0.4)
    data = Answer("The case doesn't cover that.", True, (), "c", "extractive", see_also=(pointer,)).to_dict()
    assert data["citations"] == [] and data["see_also"][0]["paragraph"] == 7
    answered = Answer("Yes [¶7].", False, (pointer,), "c", "extractive").to_dict()
    assert "see_also" not in answered


def test_squad_articles_become_cases_with_the_title_as_first_paragraph(tmp_path: Path) -> None:
    source = {"version": "v2.0", "data": [{"title": "Battle_of_Hastings", "paragraphs": [
        {"context": "In 1066, Duke William II of Normandy conquered England.", "qas": [
            {"id": "a", "question": "When was the Battle of Hastings?", "is_impossible": False,
             "answers": [{"text": "1066", "answer_start": 3}]},
            {"id": "b", "question": "Who conquered France?", "is_impossible": True, "answers": [],
             "plausible_answers": [{"text": "William", "answer_start": 14}]}]},
        {"context": "Harold II died at the battle.", "qas": []}]}]}
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(source), encoding="utf-8")
    [article] = load_articles(path)
    assert article.case_id == "squad-battle-of-hastings"
    parsed = parse_case(article.case_text(), article.case_id)
    assert [p.number for p in parsed.paragraphs] == [1, 2, 3]
    assert parsed.paragraphs[0].text == "Battle of Hastings"
    first, second = article.questions
    assert first.paragraph == FIRST_CONTEXT
    assert parsed.paragraphs[first.paragraph - 1].text.startswith("In 1066")
    assert first.answerable and not second.answerable
    assert contains_answer("It was in 1066 [¶2].", first.answers)
    assert not contains_answer("It was in 10661.", first.answers)
