"""The injection guard against questions and case paragraphs written by someone who had not seen
its patterns (tests/data/guard_cases.json): ordinary questions and case text about AI, rules,
passwords and prompts pass; the attacks, direct and hidden in case text, are caught."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.rag.guard import carries_instructions, looks_like_injection

CASES = json.loads((Path(__file__).parent / "data" / "guard_cases.json").read_text(encoding="utf-8"))


def test_the_data_set_is_large_enough() -> None:
    assert len(CASES["questions"]) >= 60
    assert len(CASES["paragraphs"]) >= 30
    assert len(CASES["attacks"]) >= 25


def _texts(kind: str) -> list[str]:
    return [item["text"] for item in CASES[kind]]


def test_no_ordinary_question_is_declined() -> None:
    declined = [q for q in _texts("questions") if looks_like_injection(q)]
    assert declined == []


def test_no_ordinary_case_paragraph_is_withheld() -> None:
    withheld = [p for p in _texts("paragraphs") if carries_instructions(p)]
    assert withheld == []


@pytest.mark.parametrize("attack", CASES["attacks"], ids=lambda a: a["text"][:40])
def test_every_attack_is_caught(attack: dict[str, Any]) -> None:
    if attack["where"] == "question":
        assert looks_like_injection(attack["text"])
    else:
        assert carries_instructions(attack["text"])
        # Case text is checked with the stricter rules too: an attack there is also a question.
        assert looks_like_injection(attack["text"])
