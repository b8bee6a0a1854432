"""What a generated sentence claims: quantities in figures or words, reversed roles, opening
pronouns (bot/answerers/claims.py), checked on sentences made up for these tests."""

from __future__ import annotations

import pytest

from bot.answerers.claims import (
    opening_pronoun,
    quantities,
    resolve_opening_pronoun,
    same_value,
    subject_of,
    swapped_roles,
    unsupported_quantities,
)
from bot.answerers.support import _key
from vectorstore.text import STOPWORDS


def values(text: str) -> list[list[float]]:
    return [sorted(round(v, 6) for v in q.values) for q in quantities(text)]


@pytest.mark.parametrize(("text", "expected"), [
    ("It bought four plants", [[4.0]]),
    ("seven hundred million dollars", [[7e8]]),
    ("a $0.7 billion loan and $1.2bn of debt", [[7e8], [1.2e9]]),
    ("twenty-five stores", [[25.0]]),
    ("one hundred and twenty five", [[125.0]]),
    ("a dozen suppliers", [[12.0]]),
    ("five per cent", [[0.05, 5.0]]),
    ("12% of sales", [[0.12, 12.0]]),
    ("a third of its staff", [[0.333333, 33.333333]]),
    ("two thirds", [[0.666667, 66.666667]]),
    ("a fifth of the market", [[0.2, 20.0]]),
    ("one quarter", [[0.25, 25.0]]),
    ("the twenty-sixth of March, 2019", [[26.0], [2019.0]]),
    ("a ninety-year-old firm", [[90.0]]),
])
def test_quantities_in_figures_and_words(text: str, expected: list[list[float]]) -> None:
    assert values(text) == expected


@pytest.mark.parametrize("text", [
    "One of the largest banks", "the one that failed", "First, it grew.", "Second, the board agreed.",
    "the third quarter results", "a second time",
])
def test_words_that_are_not_counts(text: str) -> None:
    assert quantities(text) == []


def test_equal_values_in_any_form_are_the_same_claim() -> None:
    source = "On May 3, 2021, the bank lent $450 million to two growers for a 12% share."
    assert unsupported_quantities("The bank lent four hundred and fifty million dollars", [source]) == []
    assert unsupported_quantities("It lent $0.45 billion to 2 growers for twelve per cent", [source]) == []
    assert unsupported_quantities("The bank lent money to four growers", [source]) == ["four"]
    assert unsupported_quantities("It lent $450 billion", [source]) == ["450 billion"]
    assert unsupported_quantities("In 2020 the bank lent money", [source]) == ["2020"]
    # A count the claim makes of what it cites (the items of a list) is supported when given.
    assert unsupported_quantities("The report lists three lessons", ["Lesson.", "Lesson.", "Lesson."],
                                  counts=[3]) == []


def test_whole_numbers_must_be_equal_and_fractions_may_round() -> None:
    assert not same_value(2022, 2023)
    assert same_value(1 / 3, 0.33) and same_value(100 / 3, 33.0)


KEY = _key


@pytest.mark.parametrize(("claim", "source"), [
    ("Nordbank would lend $50 million to Aldi Farms.", "Aldi Farms would lend $50 million to Nordbank."),
    ("Corvo had to persuade the Danish shipper that its engines were safe.",
     "The Danish shipper had to persuade Corvo that its engines were safe."),
    ("Output was moving from the plants of Ohio to the yards of Korea.",
     "Output was moving from the yards of Korea to the plants of Ohio."),
    ("The plan, once doubted by regulators, was now praised by analysts.",
     "The plan, once doubted by analysts, was now praised by regulators."),
    ("Mira had the licence Tomas urgently wanted.", "Tomas had the licence Mira urgently wanted."),
    ("Aldi Farms took a 5% share in Nordbank.", "Nordbank would buy a 5% share in Aldi Farms."),
])
def test_reversed_roles_are_found(claim: str, source: str) -> None:
    assert swapped_roles(claim, source, STOPWORDS, KEY)


@pytest.mark.parametrize(("claim", "source"), [
    # The same roles in other words, a passive, or a verb that says it from the other side.
    ("Nordbank would lend $50 million to Aldi Farms.", "Nordbank would lend $50 million to Aldi Farms."),
    ("Aldi Farms was lent $50 million by Nordbank.", "Nordbank would lend $50 million to Aldi Farms."),
    ("Aldi Farms borrowed $50 million from Nordbank.", "Nordbank would lend $50 million to Aldi Farms."),
    ("Corvo would use Nordbank's ledger to build two apps.",
     "Corvo would use Nordbank's ledger and its platform to build two apps for Korea."),
    ("The analysts had praised the plan.", "The plan was praised by analysts."),
    ("Nordbank took a 5% share in Aldi Farms.", "Nordbank would buy a 5% share in Aldi Farms."),
])
def test_same_roles_are_not_reversed(claim: str, source: str) -> None:
    assert swapped_roles(claim, source, STOPWORDS, KEY) == []


@pytest.mark.parametrize(("sentence", "pronoun"), [
    ("It would lend $50 million.", "It"), ("Their plants were old.", "Their"),
    ("In return it received a share.", "it"), ("He Lin founded the firm.", ""),
    ("Its rivals were faster.", "Its"), ("The bank lent it money.", ""),
])
def test_opening_pronouns(sentence: str, pronoun: str) -> None:
    assert opening_pronoun(sentence) == pronoun


@pytest.mark.parametrize(("previous", "subject"), [
    ("Nordbank's managers in Oslo knew they had a problem [¶3].", "Nordbank's managers"),
    ("By 2020, Corvo was losing money.", "Corvo"),
    ("He Lin's firm was small.", "He Lin's firm"),
    ("The merger instantly raised its profile.", "The merger"),
])
def test_subject_of_the_previous_sentence(previous: str, subject: str) -> None:
    assert subject_of(previous, STOPWORDS) == subject


def test_opening_pronoun_is_replaced_by_the_previous_subject() -> None:
    previous = "Nordbank announced a deal with Corvo [¶4]."
    assert resolve_opening_pronoun("It would lend $50 million.", previous, STOPWORDS) == \
        "Nordbank would lend $50 million."
    assert resolve_opening_pronoun("Its loan was large.", previous, STOPWORDS) == "Nordbank's loan was large."
    assert resolve_opening_pronoun("In return it got a share.", previous, STOPWORDS) == \
        "In return Nordbank got a share."
    assert resolve_opening_pronoun("Corvo grew.", previous, STOPWORDS) == "Corvo grew."
