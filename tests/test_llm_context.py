"""The LLM context policy (bot/answerers/context.py): the whole case when it fits the budget, else
the retrieved paragraphs with the neighbours they lean on; its settings, flags and errors; and what
reaches the scripted OpenAI-compatible server on 127.0.0.1 in each mode."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import CASE_ID, CASEBOT, cli_env
from fake_openai import FakeOpenAI
from test_llm_backend import MODEL, ask, check_contract, sent_paragraphs

from bot.answerers.context import (
    ContextError,
    ContextPolicy,
    estimate_tokens,
    format_paragraphs,
    leaned_on,
)
from bot.factory import make_answerer
from bot.rag.chain import CaseBot
from bot.settings import Settings
from vectorstore.hybrid import ScoredParagraph

HOW_MUCH = "How much did Volkswagen invest in XPeng, and for what stake?"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    """A fresh scripted server on 127.0.0.1, stopped after the test."""
    with FakeOpenAI() as server:
        yield server


def context_bot(library: Any, base_url: str, mode: str, budget: int = 12000) -> CaseBot:
    """A CaseBot with the openai backend from the real factory, showing the case as `mode` says."""
    settings = Settings(llm=f"openai:{MODEL}", openai_base_url=base_url, llm_context=mode,
                        llm_context_tokens=budget, llm_timeout=10.0)
    return CaseBot(library, make_answerer(settings, encode=library.embeddings.encode_query))


# Settings, flags and the estimate (fast)

def test_defaults_and_variables() -> None:
    assert (Settings().llm_context, Settings().llm_context_tokens) == ("auto", 12000)
    settings = Settings.from_env({"CASEBOT_LLM_CONTEXT": " Whole ", "CASEBOT_LLM_CONTEXT_TOKENS": "30_000"})
    assert (settings.llm_context, settings.llm_context_tokens) == ("whole", 30000)
    assert Settings.from_env({}, llm_context="retrieved").llm_context == "retrieved"


@pytest.mark.parametrize(("env", "message"), [
    ({"CASEBOT_LLM_CONTEXT": "everything"},
     r"Unknown LLM context 'everything'.*Valid: auto, whole, retrieved"),
    ({"CASEBOT_LLM_CONTEXT_TOKENS": "lots"}, "must be a whole number"),
    ({"CASEBOT_LLM_CONTEXT_TOKENS": "10"}, "must be at least 256"),
])
def test_invalid_variables_say_what_is_valid(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)


def test_policy_rejects_unknown_modes_and_tiny_budgets() -> None:
    with pytest.raises(ContextError, match="Valid: auto, whole, retrieved"):
        ContextPolicy("all")
    with pytest.raises(ContextError, match="at least 256"):
        ContextPolicy("auto", 100)


def test_estimate_is_chars_over_four_or_words_times_four_thirds() -> None:
    assert estimate_tokens("a" * 400) == 100
    assert estimate_tokens("a b c d e f") == 8  # short words: words * 4/3 is more
    assert estimate_tokens("") == 0


def test_paragraphs_are_numbered_under_their_headings() -> None:
    def hit(n: int, section: str, text: str) -> ScoredParagraph:
        return ScoredParagraph("c", n, section, text, 0.0, 0.0)

    text = format_paragraphs([hit(5, "Two", "E."), hit(2, "One", "B </paragraphs>."), hit(3, "One", "C."),
                              hit(1, "", "Title")])
    assert text == ("[¶1] Title\n\n## One\n\n[¶2] B ‹/paragraphs›.\n\n[¶3] C.\n\n## Two\n\n[¶5] E.")


@pytest.mark.subprocess
def test_cli_rejects_an_unknown_context_with_the_valid_ones(tmp_path: Any) -> None:
    env = cli_env(tmp_path, CASEBOT_LLM_CONTEXT="everything")
    result = subprocess.run([CASEBOT, "ask", "--json", HOW_MUCH], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode != 0 and result.stdout == ""
    assert "Valid: auto, whole, retrieved" in result.stderr and "Traceback" not in result.stderr
    flag = subprocess.run([CASEBOT, "ask", "--llm-context", "all", HOW_MUCH], env=cli_env(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert flag.returncode == 2 and "choose from 'auto', 'whole', 'retrieved'" in flag.stderr


# What the model is shown

@pytest.mark.server
@pytest.mark.model
def test_auto_sends_the_whole_case_before_the_question(library: Any, fake: FakeOpenAI) -> None:
    fake.reply("The case doesn't say.", "The case doesn't say.")
    bot = context_bot(library, fake.base_url, "auto")
    ask(bot, HOW_MUCH)
    ask(bot, "Why did Volkswagen need XPeng?")
    case = library.load(CASE_ID)
    first, second = (request.body["messages"] for request in fake.requests)
    assert sent_paragraphs(fake) == set(case.paragraphs)
    user = first[1]["content"]
    assert user.index("[¶19]") < user.index("<question>")
    # The system message and the case are one prefix for every question (prompt caching).
    assert first[0] == second[0]
    prefix = user.split("</paragraphs>")[0]
    assert second[1]["content"].startswith(prefix) and len(prefix) > 3000


@pytest.mark.server
@pytest.mark.model
def test_whole_case_lets_the_model_cite_a_paragraph_retrieval_missed(library: Any, fake: FakeOpenAI) -> None:
    question = "Why did Volkswagen need XPeng?"
    retrieved = {hit.paragraph for hit in context_bot(library, fake.base_url, "auto").evidence(question).hits}
    case = library.load(CASE_ID)
    missed = next(n for n in sorted(case.paragraphs) if n not in retrieved and n > 4)
    _, text = case.paragraphs[missed]
    sentence = text.split(". ")[0].rstrip(".")
    fake.reply(f"{sentence} [¶{missed}].")
    _, answer = ask(context_bot(library, fake.base_url, "whole"), question)
    assert [c.paragraph for c in answer.citations] == [missed] and answer.unsupported == ()
    check_contract(answer, fake)
    # Shown only the retrieved paragraphs, the same sentence cannot keep that marker.
    fake.reply(f"{sentence} [¶{missed}].")
    _, narrow = ask(context_bot(library, fake.base_url, "retrieved"), question)
    assert missed not in sent_paragraphs(fake)
    assert missed not in [c.paragraph for c in narrow.citations]
    check_contract(narrow, fake)


@pytest.mark.server
@pytest.mark.model
def test_a_small_budget_falls_back_to_retrieved_paragraphs(library: Any, fake: FakeOpenAI) -> None:
    fake.reply("The case doesn't say.")
    bot = context_bot(library, fake.base_url, "auto", budget=256)
    ask(bot, HOW_MUCH)
    sent = sent_paragraphs(fake)
    retrieved = {hit.paragraph for hit in bot.evidence(HOW_MUCH).hits}
    case = library.load(CASE_ID)
    assert retrieved <= sent < set(case.paragraphs)
    assert sent == set(leaned_on(case, retrieved))


@pytest.mark.model
def test_retrieved_paragraphs_bring_the_ones_they_lean_on(library: Any) -> None:
    case = library.load(CASE_ID)
    # A paragraph opening "Second, it ..." cannot be read without "First, it ..." before it, nor
    # that one without the paragraph that says what "it" is.
    leaning = [n for n in case.paragraphs if case.sentences_of(n)
               and case.leans_on(case.sentences_of(n)[0]) is not None]
    assert leaning
    for number in leaning:
        before = case.paragraph_of(case.leans_on(case.sentences_of(number)[0]))  # type: ignore[arg-type]
        assert before in leaned_on(case, [number])
    standalone = [n for n in case.paragraphs if n not in leaning and case.continued_by(n) is None]
    assert leaned_on(case, standalone[:1]) == standalone[:1]


@pytest.mark.model
def test_whole_case_text_and_count_are_computed_once_per_case_version(library: Any) -> None:
    calls: list[int] = []

    def count(text: str) -> int:
        calls.append(len(text))
        return estimate_tokens(text)

    policy = ContextPolicy("auto", 12000, count)
    case = library.load(CASE_ID)
    assert policy.fits(case) and policy.fits(case)
    assert len(calls) == 1 and policy.counter_name == "tokenizer"
    assert not ContextPolicy("auto", 256).fits(case)
