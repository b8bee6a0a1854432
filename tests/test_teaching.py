"""Teaching with casebot, without a browser: the `quote` of a citation, hints for assignment
questions (real MiniLM, a real Chroma index of the bundled case with an assignment.json beside
it), guide mode (a session's and the server's, which a session cannot turn off), suggested
questions derived from a case, and the reader page over real HTTP."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import CASE_FILE, CASE_ID, running_server

from bot.answer import Answer, Citation
from bot.rag.citations import build_citations
from vectorstore.hybrid import ScoredParagraph

ASSIGNMENT = Path(__file__).resolve().parent.parent / "benchmarks" / "data" / "guide" / "assignment.json"
PARAGRAPH = ("On July 26, 2023, the two companies made a joint announcement that stunned the automotive "
             "world. Volkswagen would invest $700 million for a nearly 5% stake in XPeng. But this was "
             "far more than just a financial investment.")


def test_a_citation_quotes_the_sentences_the_answer_repeats() -> None:
    hit = ScoredParagraph(CASE_ID, 12, "Act II", PARAGRAPH, 0.8, 0.8)
    # The answer drops the sentence's opening connective, as the extractive answerer does.
    text = "Volkswagen would invest $700 million for a nearly 5% stake in XPeng [¶12]. " \
           "This was far more than just a financial investment [¶12]."
    (citation,) = build_citations(text, CASE_ID, {12: hit})
    assert citation.quote == ("Volkswagen would invest $700 million for a nearly 5% stake in XPeng.",
                              "But this was far more than just a financial investment.")
    assert citation.to_dict()["quote"] == list(citation.quote)
    unquoted = build_citations("The deal mattered a great deal to both firms [¶12].", CASE_ID, {12: hit})
    assert "quote" not in unquoted[0].to_dict()


def test_guided_appears_in_the_answer_object_only_when_true() -> None:
    citation = Citation(f"{CASE_ID}:12", "¶12", 12, "Act II", PARAGRAPH, 0.8)
    plain = Answer("Read ¶12 [¶12].", False, (citation,), CASE_ID, "extractive")
    assert "guided" not in plain.to_dict()
    assert Answer("Read ¶12 [¶12].", False, (citation,), CASE_ID, "extractive", guided=True
                  ).to_dict()["guided"] is True


@pytest.fixture(scope="module")
def teaching_bot(tmp_path_factory: pytest.TempPathFactory, embeddings: Any) -> Any:
    """A CaseBot with a teacher over the bundled case ingested from a folder holding the
    benchmark's assignment.json (the bundled case does not ship one)."""
    from bot.answerers.extractive import ExtractiveAnswerer
    from bot.rag.chain import CaseBot
    from bot.teaching.assignment import AssignmentMatcher
    from bot.teaching.hints import Teacher
    from ingest.pipeline import ingest_paths
    from vectorstore.store import CaseLibrary, open_client

    cases = tmp_path_factory.mktemp("teaching") / "cases"
    (cases / CASE_ID).mkdir(parents=True)
    shutil.copy(CASE_FILE, cases / CASE_ID)
    shutil.copy(ASSIGNMENT, cases / CASE_ID)
    library = CaseLibrary(open_client(cases.parent / "index"), embeddings)
    ingest_paths([cases], library)
    return CaseBot(library, ExtractiveAnswerer(), teacher=Teacher(AssignmentMatcher(cases, embeddings)))


def _markers_match(answer: Answer) -> None:
    for citation in answer.citations:
        assert f"[¶{citation.paragraph}]" in answer.answer
        assert citation.quote == ()


def test_an_assignment_question_gets_a_hint_not_an_answer(teaching_bot: Any) -> None:
    asked = json.loads(ASSIGNMENT.read_text(encoding="utf-8"))[1]
    for question in (asked, "How did the partnership change XPeng's standing?"):
        answer = teaching_bot.ask(question, (), CASE_ID)
        assert answer.guided and not answer.abstained
        assert "assignment question" in answer.answer
        assert answer.answer.endswith("?") and answer.citations
        _markers_match(answer)
        assert "guided" in answer.to_dict()


def test_a_student_rewording_of_an_assignment_question_gets_a_hint(teaching_bot: Any) -> None:
    # Written for this test, in a student's words, asking the assignment's questions 1 and 4.
    for question in ("for class: why would an old german car giant go to a young chinese startup "
                     "for its tech, and what does that say about how it is doing in china?",
                     "What clashes between how the two firms work and decide things could get in "
                     "the way of making this partnership actually work?"):
        answer = teaching_bot.ask(question, (), CASE_ID)
        assert answer.guided and "assignment question" in answer.answer, question


def test_an_ordinary_question_is_still_answered(teaching_bot: Any) -> None:
    answer = teaching_bot.ask("How much did Volkswagen invest in XPeng?", (), CASE_ID)
    assert not answer.guided and "$700 million" in answer.answer


def _fact_questions() -> list[dict[str, Any]]:
    path = CASE_FILE.parent / "questions.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if r.get("category") == "fact" and not r.get("history")][:8]


def test_guide_mode_points_to_the_case_and_never_states_the_fact(teaching_bot: Any) -> None:
    for row in _fact_questions():
        answered = teaching_bot.ask(row["question"], (), CASE_ID)
        guided = teaching_bot.ask(row["question"], (), CASE_ID, guide=True)
        if answered.abstained:
            continue
        assert guided.guided and guided.answer.startswith("The case answers this in ¶")
        assert "Read ¶" in guided.answer and guided.answer.endswith("?")
        for fact in row.get("must_include", []):
            assert fact.lower() not in guided.answer.lower(), (row["question"], guided.answer)
        # It points where the answer comes from: the same paragraphs.
        assert [c.paragraph for c in guided.citations] == [c.paragraph for c in answered.citations]
        _markers_match(guided)


def test_the_server_wide_guide_mode_cannot_be_turned_off_by_a_session(teaching_bot: Any) -> None:
    from bot.rag.chain import CaseBot

    server = CaseBot(teaching_bot.library, teaching_bot.answerer, teacher=teaching_bot.teacher,
                     guide=True)
    answer = server.ask("How much did Volkswagen invest in XPeng?", (), CASE_ID, guide=False)
    assert answer.guided and "$700 million" not in answer.answer


def test_suggestions_are_the_case_own_or_derived_questions_it_answers(
        teaching_bot: Any, tmp_path: Path) -> None:
    from bot.web.casepage import Suggestions

    info = teaching_bot.library.info(CASE_ID)
    suggestions = Suggestions(teaching_bot, tmp_path)
    derived = suggestions.of(info)  # the folder it was ingested from has no examples.json
    assert derived
    for question in derived:
        assert not teaching_bot.ask(question, (), CASE_ID).abstained
    (Path(info.source).parent / "examples.json").write_text('["Who founded XPeng?"]', encoding="utf-8")
    assert suggestions.of(info) == ["Who founded XPeng?"]


@pytest.mark.server
def test_the_reader_shows_the_case_with_anchors_and_the_highlight(ingested_data_dir: Path,
                                                                   tmp_path: Path) -> None:
    with running_server(ingested_data_dir, "--rate-limit", "off", log_dir=tmp_path) as base:
        page = httpx.get(f"{base}/read/{CASE_ID}?p=12&hl=1", timeout=30)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        body = page.text
        assert 'id="p12"' in body and 'href="#p12"' in body
        assert "<h2" in body and "Act II: The Shocking Announcement" in body
        assert "<mark>Volkswagen would invest $700 million for a nearly 5% stake in XPeng.</mark>" in body
        assert body.count("<mark>") == 1
        assert "<mark>" not in httpx.get(f"{base}/read/{CASE_ID}", timeout=30).text
        assert httpx.get(f"{base}/read/no-such-case", timeout=30).status_code == 404


@pytest.mark.server
def test_with_an_llm_the_guiding_question_is_socratic_and_checked(teaching_bot: Any) -> None:
    from fake_openai import FakeOpenAI
    from test_llm_backend import llm_bot

    question = "How did the partnership change XPeng's standing?"
    with FakeOpenAI() as fake:
        llm = llm_bot(teaching_bot.library, fake.base_url, timeout=30.0)
        bot = type(teaching_bot)(llm.library, llm.answerer, teacher=teaching_bot.teacher)
        fake.reply("Partnering gave XPeng new status. What does the case say about how people "
                   "saw XPeng before and after the deal?")
        hinted = bot.ask(question, (), CASE_ID)
        assert hinted.guided and "assignment question" in hinted.answer
        assert hinted.answer.endswith("What does the case say about how people saw XPeng before "
                                      "and after the deal?")
        assert "new status" not in hinted.answer  # a hint states nothing: statements are dropped
        assert "Socratic" in json.dumps(fake.requests[-1].body)  # prompts/hint.txt was sent
        _markers_match(hinted)
        # A question naming a figure the case does not state fails the checks: the offline one is asked.
        fake.reply("Why did a $9 billion valuation change how XPeng was seen?")
        checked = bot.ask(question, (), CASE_ID)
        assert "$9 billion" not in checked.answer and "Start with ¶" in checked.answer


def _harbour_case(heading: str) -> str:
    return (f"# Brightwater Ferries\n\n## {heading}\n\n"
            "Brightwater Ferries was founded in 1978 by Ilse Marten in Kiel. It ran three ships "
            "between Kiel and Gothenburg and carried 410,000 passengers in 2019.\n\n"
            "In March 2021 the company ordered two battery ferries from a yard in Turku for "
            "EUR 180 million. Marten said the order would halve the fleet's fuel bill.\n")


def test_derived_suggestions_follow_a_case_that_is_ingested_again(embeddings: Any, tmp_path: Path) -> None:
    from bot.answerers.extractive import ExtractiveAnswerer
    from bot.rag.chain import CaseBot
    from bot.web.casepage import Suggestions
    from ingest.pipeline import ingest_paths
    from vectorstore.store import CaseLibrary, open_client

    library = CaseLibrary(open_client(tmp_path / "data"), embeddings)
    bot = CaseBot(library, ExtractiveAnswerer())
    suggestions = Suggestions(bot, tmp_path / "cases")
    source = tmp_path / "cases" / "brightwater" / "case.md"
    source.parent.mkdir(parents=True)
    shown = []
    for heading in ("The Battery Ferry Order", "Electric Crossings"):
        source.write_text(_harbour_case(heading), encoding="utf-8")
        ingest_paths([source], library)
        shown.append(suggestions.of(library.info("brightwater")))
    # The first version's suggestion names its heading; once the case is ingested again under
    # another heading, the kept suggestions of the old version are not shown for it.
    assert "What does the case say about The Battery Ferry Order?" in shown[0]
    assert not any("Battery Ferry Order" in q for q in shown[1])


def test_a_heading_is_suggested_only_when_its_answer_comes_from_its_section(
        embeddings: Any, tmp_path: Path) -> None:
    # "The Fuel Bill" heads a section about the board's vote; asked about, the bot answers with
    # the other section's sentence on the fuel bill, which is not what the section says.
    from bot.answerers.extractive import ExtractiveAnswerer
    from bot.rag.chain import CaseBot
    from bot.web.casepage import Suggestions
    from ingest.pipeline import ingest_paths
    from vectorstore.store import CaseLibrary, open_client

    source = tmp_path / "cases" / "brightwater" / "case.md"
    source.parent.mkdir(parents=True)
    source.write_text(_harbour_case("The Battery Ferry Order") + (
        "\n## The Fuel Bill\n\nThe board met in Kiel in April 2021. Two directors voted against "
        "the order.\n"), encoding="utf-8")
    library = CaseLibrary(open_client(tmp_path / "data"), embeddings)
    ingest_paths([source], library)
    bot = CaseBot(library, ExtractiveAnswerer())
    asked = bot.ask("What does the case say about The Fuel Bill?", (), "brightwater")
    assert not asked.abstained and asked.citations[0].section == "The Battery Ferry Order"
    shown = Suggestions(bot, tmp_path / "cases").of(library.info("brightwater"))
    assert "What does the case say about The Battery Ferry Order?" in shown
    assert not any("Fuel Bill" in q for q in shown)


def test_an_assignment_of_one_question_is_matched_by_its_own_measures(embeddings: Any,
                                                                    tmp_path: Path) -> None:
    # With a single assignment question there is no closer one for it to fall short of: a
    # rewording is still guided on its own measures, and a fact question of the case is not.
    from bot.answerers.extractive import ExtractiveAnswerer
    from bot.rag.chain import CaseBot
    from bot.teaching.assignment import AssignmentMatcher
    from bot.teaching.hints import Teacher
    from ingest.pipeline import ingest_paths
    from vectorstore.store import CaseLibrary, open_client

    folder = tmp_path / "cases" / "brightwater"
    folder.mkdir(parents=True)
    (folder / "case.md").write_text(_harbour_case("The Battery Ferry Order"), encoding="utf-8")
    (folder / "assignment.json").write_text(json.dumps(
        ["Was ordering two battery ferries the right decision for Brightwater, given its costs and risks?"]),
        encoding="utf-8")
    library = CaseLibrary(open_client(tmp_path / "data"), embeddings)
    ingest_paths([folder], library)
    bot = CaseBot(library, ExtractiveAnswerer(),
                  teacher=Teacher(AssignmentMatcher(tmp_path / "cases", embeddings)))
    rewording = bot.ask("do you think buying the two electric ferries was a smart move for the "
                        "company, with what it cost and what could go wrong?", (), "brightwater")
    assert rewording.guided, rewording.answer
    fact = bot.ask("How much did the two ferries cost?", (), "brightwater")
    assert not fact.guided and "EUR 180 million" in fact.answer


def test_a_case_without_headings_is_suggested_questions_about_the_names_it_uses(
        embeddings: Any, tmp_path: Path) -> None:
    # The three generic openers are declined on so short a case, and it has no section headings:
    # the names it uses most (not the month or the currency before a figure) are what to ask about.
    from bot.answerers.extractive import ExtractiveAnswerer
    from bot.rag.chain import CaseBot
    from bot.web.casepage import Suggestions
    from ingest.pipeline import ingest_paths
    from vectorstore.store import CaseLibrary, open_client

    source = tmp_path / "cases" / "brightwater" / "case.md"
    source.parent.mkdir(parents=True)
    source.write_text(_harbour_case("The Order").replace("## The Order\n\n", "") + (
        "\nThe board of Brightwater Ferries approved the order after a long debate. Ilse Marten "
        "argued that fuel prices would only rise.\n"), encoding="utf-8")
    library = CaseLibrary(open_client(tmp_path / "data"), embeddings)
    ingest_paths([source], library)
    bot = CaseBot(library, ExtractiveAnswerer())
    shown = Suggestions(bot, tmp_path / "cases").of(library.info("brightwater"))
    assert "What does the case say about Ilse Marten?" in shown
    assert not any("March" in q or "EUR" in q for q in shown)
    for question in shown:
        assert not bot.ask(question, (), "brightwater").abstained


def test_a_name_with_a_small_word_inside_is_suggested_whole(embeddings: Any, tmp_path: Path) -> None:
    # "Aguas del Oriente" is one name: asked about as "Aguas" and "Oriente" it is two half-names.
    from bot.answerers.extractive import ExtractiveAnswerer
    from bot.rag.chain import CaseBot
    from bot.web.casepage import Suggestions
    from ingest.pipeline import ingest_paths
    from vectorstore.store import CaseLibrary, open_client

    source = tmp_path / "cases" / "agua" / "case.md"
    source.parent.mkdir(parents=True)
    source.write_text(
        "# Water for Bucaramanga\n\nIn 1997 the city sold 58% of its water utility to Aguas del "
        "Oriente, a consortium of local investors. By 2015 Aguas del Oriente supplied water to 1.1 "
        "million people.\n\nIn 2016 the board of Aguas del Oriente debated whether to sell its "
        "coastal unit. The mayor opposed the sale.\n", encoding="utf-8")
    library = CaseLibrary(open_client(tmp_path / "data"), embeddings)
    ingest_paths([source], library)
    shown = Suggestions(CaseBot(library, ExtractiveAnswerer()), tmp_path / "cases").of(library.info("agua"))
    assert "What does the case say about Aguas del Oriente?" in shown
    assert not any(q.endswith(("about Aguas?", "about Oriente?")) for q in shown)
