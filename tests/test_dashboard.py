"""The instructor dashboard's reading of the records (bot/records/insight.py) and its pages
(bot/web/instructor.py): declined questions grouped by meaning with the real MiniLM and labelled by
the words they share, the answers per paragraph of the case, and the Jinja2 pages escaping what
students wrote. The same pages over HTTP and in Chromium: tests/test_instructor_browser.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.records.database import default_database_url, open_engine
from bot.records.insight import case_insight, group_questions
from bot.records.models import AnswerRecord
from bot.records.repository import RecordStore, new_answer_id
from bot.web.instructor import dashboard_page
from bot.web.reader import Paragraph, Sentence

SHARE_PRICE = ["What was XPeng's share price after the announcement?",
               "How much did XPeng's share price rise that day?",
               "What was the share price of XPeng at the end of 2023?"]
SALARY = ["How much is the Volkswagen chief executive paid?",
          "What salary does VW's chief executive earn?"]
ALONE = "Who won the 2022 football World Cup?"


def _record(question: str, cited: tuple[int, ...] = (), case: str = "case-a") -> AnswerRecord:
    return AnswerRecord(
        id=new_answer_id(), asked_at=datetime.now(UTC), case_id=case, question=question, history=(),
        answer="The case doesn't cover that." if not cited else "An answer.", abstained=not cited,
        cited_paragraphs=cited, backend="extractive", latency_ms=10.0, channel="chat",
        session_id="s1")


@pytest.fixture
def store(tmp_path: Path) -> RecordStore:
    return RecordStore(open_engine(default_database_url(tmp_path / "data")), secret="x" * 32).create()


@pytest.mark.model
def test_declined_questions_are_grouped_by_meaning_and_labelled_by_shared_words(embeddings: Any) -> None:
    asked = [(q, True) for q in [*SHARE_PRICE, ALONE, *SALARY, SHARE_PRICE[0]]]
    groups = group_questions(asked, embeddings)
    assert [g.count for g in groups] == [4, 2, 1]
    share, salary, alone = groups
    # The most asked wording labels its group; the topic is what most of its questions share.
    assert share.label == SHARE_PRICE[0]
    assert set(share.topic.split()) >= {"share", "price"}
    assert {salary.label, *salary.examples} == set(SALARY)
    assert "chief executive" in salary.topic
    assert alone.label == ALONE and alone.topic == ""
    # A word most of the case's questions use (its company's name) names no topic.
    everyone = [f"What did XPeng do in {year}?" for year in range(2015, 2025)]
    share = group_questions(asked, embeddings, asked=[q for q, _ in asked] + everyone)[0]
    assert "xpeng" in set(groups[0].topic.lower().split()) and share.topic == "share price"


@pytest.mark.model
def test_questions_asking_for_different_kinds_of_answer_are_not_one_group(embeddings: Any) -> None:
    # MiniLM puts these at cosine 0.93 to 0.97: the same words, four different questions.
    asked = [(f"{opening} Volkswagen invest in XPeng?", False)
             for opening in ("When did", "How much did", "Why did", "Where did")]
    assert [g.count for g in group_questions(asked, embeddings)] == [1, 1, 1, 1]
    # A kind the question does not make plain ("What was ..." of a price) still joins its rewording.
    reworded = [(SHARE_PRICE[0], True), (SHARE_PRICE[2], True)]
    assert [g.count for g in group_questions(reworded, embeddings)] == [2]


def test_answers_are_counted_per_cited_paragraph_with_their_questions(store: RecordStore) -> None:
    store.add_answers([_record("How much?", (12, 3)), _record("how much?", (12,)),
                       _record("When?", (12, 12)), _record("Who won the World Cup?"),
                       _record("Elsewhere?", (12,), case="case-b")])
    cited = {use.paragraph: use for use in case_insight(store, "case-a", None).cited}
    assert sorted(cited) == [3, 12]
    # One answer citing a paragraph twice counts once; one wording (any case) is listed once.
    assert cited[12].count == 3 and cited[12].questions == ("How much?", "When?")
    assert cited[3].count == 1 and cited[3].questions == ("How much?",)


def test_the_dashboard_page_maps_the_paragraphs_and_escapes_student_text(store: RecordStore) -> None:
    hostile = "<script>alert(1)</script> and <b>bold</b>?"
    store.add_answers([_record(hostile, (2,)), replace(_record("Again?", (2,)), guided=True),
                       _record("Gone?", (9,)), replace(_record("<img src=x onerror=alert(1)>"),
                                                       abstained=True)])
    insight = case_insight(store, "case-a", None)
    paragraphs = [Paragraph(n, f"¶{n}", "Act I" if n < 3 else "Act II", "", (Sentence(f"Text {n}.", False),))
                  for n in (1, 2, 3)]
    html = dashboard_page(insight, ["case-a"], "case-a", "csrf-token", paragraphs)
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # Every paragraph in order, its count on its bar, its link to the reader.
    assert [html.index(f'id="map-p{n}"') for n in (1, 2, 3)] == sorted(
        html.index(f'id="map-p{n}"') for n in (1, 2, 3))
    assert 'aria-label="¶2: cited by 2 answers"' in html and 'aria-label="¶1: cited by 0 answers"' in html
    assert 'href="/read/case-a#p2"' in html
    assert '<div class="k">Hints given</div><div class="v">1</div>' in html
    assert html.count("<h3>Act I</h3>") == 1 and html.count("<h3>Act II</h3>") == 1
    # ¶9 is not in the case as read now: counted in a note, not drawn.
    assert 'id="map-p9"' not in html and "1 citation names paragraphs the case no longer has" in html
