"""PDF and Word cases read as their authors laid them out: paragraphs whole across columns and
pages, running headers and footers dropped, footnote marks removed and notes kept, the title,
exhibits (tables and figures), pages; their errors; and the answers and citations built on them.

The PDFs are written by reportlab (tests/case_documents.py) from the first paragraphs of a SQuAD
article (../shared/data), once per module; tests/data/documents/ holds one case written by
LibreOffice (harbor.fodt, converted to harbor.pdf and harbor.docx by `soffice --convert-to`).
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
from case_documents import (
    CASE_NUMBER,
    COPYRIGHT,
    EXHIBIT_CAPTION,
    FIGURE_CAPTION,
    LAYOUTS,
    NOTES,
    drawable,
    exhibit_lines,
    read_map,
    write_docx,
    write_pdf,
)
from conftest import run_main

from bot.answer import Answer, Citation
from ingest.layout import FIGURE_NOTE
from ingest.loaders import LoadError, read_case
from ingest.paragraphs import ParsedCase

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "squad2-train-10-articles.json"
FIXTURES = Path(__file__).resolve().parent / "data" / "documents"
PARAGRAPHS = 12  # of the article: three to four pages in one column
LAYOUTS_BY_NAME = {layout.name: layout for layout in LAYOUTS}


@pytest.fixture(scope="module")
def article() -> tuple[str, list[str]]:
    """The title and first paragraphs of the first article (as the PDF's fonts can draw them)."""
    data = json.loads(DATA.read_text(encoding="utf-8"))["data"][0]
    return (data["title"].replace("_", " "),
            [drawable(p["context"]) for p in data["paragraphs"][:PARAGRAPHS]])


@pytest.fixture(scope="module")
def read(article: tuple[str, list[str]], tmp_path_factory: pytest.TempPathFactory
         ) -> dict[str, tuple[ParsedCase, Any]]:
    """Each layout's PDF, written and read once: layout name -> (case, reading)."""
    folder = tmp_path_factory.mktemp("pdfs")
    title, paragraphs = article
    return {layout.name: read_case(write_pdf(folder / f"{layout.name}.pdf", title, paragraphs, layout),
                                   "article")
            for layout in LAYOUTS}


def _by_number(case: ParsedCase) -> dict[int, tuple[str, str]]:
    return {p.number: (p.section, p.text) for p in case.paragraphs}


@pytest.mark.parametrize("layout", [layout.name for layout in LAYOUTS])
def test_paragraphs_are_read_whole_in_order_without_running_heads(
        layout: str, read: dict[str, tuple[ParsedCase, Any]], article: tuple[str, list[str]]) -> None:
    case, reading = read[layout]
    title, paragraphs = article
    where, whole = read_map(paragraphs, _by_number(case))
    pages = {p.number: p.pages for p in case.paragraphs}
    for index in set(range(len(paragraphs))) - whole:
        # The one reading that cannot be right: where paragraphs are set apart by space, not by
        # an indent, one that ends with a full line at the foot of a page looks like one going
        # on; it is joined to the next. Nothing else may break a paragraph.
        first, last = pages[where[index]] or (0, 0)
        assert not LAYOUTS_BY_NAME[layout].indent and last == first + 1, (index, case.paragraphs)
    assert len(whole) >= len(paragraphs) - 2
    assert case.title == title and case.paragraphs[0].text == title
    # Reading order: the source paragraphs come out in their order, whatever the columns.
    assert [where[i] for i in range(len(paragraphs))] == sorted(where.values())
    assert reading.pages >= 3
    for paragraph in case.paragraphs:
        assert CASE_NUMBER not in paragraph.text and COPYRIGHT not in paragraph.text
        assert not paragraph.text.strip().isdigit()
    assert sum(reading.dropped.values()) >= reading.pages - 1
    assert reading.marks == len(NOTES)


@pytest.mark.parametrize("layout", [layout.name for layout in LAYOUTS])
def test_each_paragraph_knows_its_pages(layout: str, read: dict[str, tuple[ParsedCase, Any]]) -> None:
    case, reading = read[layout]
    pages = [p.pages for p in case.paragraphs]
    assert all(page is not None and 1 <= page[0] <= page[1] <= reading.pages for page in pages)
    firsts = [page[0] for page in pages if page is not None]
    assert firsts[:-len(NOTES)] == sorted(firsts[:-len(NOTES)])
    assert case.paragraphs[-1].pages == (reading.pages, reading.pages)


def test_a_paragraph_broken_across_pages_is_one_paragraph_on_two_pages(
        read: dict[str, tuple[ParsedCase, Any]], article: tuple[str, list[str]]) -> None:
    broken = [p for case, _ in read.values() for p in case.paragraphs
              if p.pages and p.pages[1] == p.pages[0] + 1 and p.text in article[1]]
    assert len(broken) >= 3


@pytest.mark.parametrize("layout", [layout.name for layout in LAYOUTS])
def test_footnote_marks_are_removed_and_notes_follow_the_body(
        layout: str, read: dict[str, tuple[ParsedCase, Any]], article: tuple[str, list[str]]) -> None:
    case, _ = read[layout]
    body = [p.text for p in case.paragraphs if p.kind == "paragraph"]
    for marked in article[1][:len(NOTES)]:
        assert marked in body  # exactly the source text: no stray "1" after the first sentence
    notes = case.paragraphs[-len(NOTES):]
    assert [(n.kind, n.label, n.section, n.text) for n in notes] == [
        ("note", f"Note {i}", "Notes", text) for i, text in enumerate(NOTES, start=1)]
    assert "Notes" not in [p.text for p in case.paragraphs]


@pytest.mark.parametrize("layout", [layout.name for layout in LAYOUTS])
def test_a_table_is_one_exhibit_and_a_figure_is_listed_as_unreadable(
        layout: str, read: dict[str, tuple[ParsedCase, Any]]) -> None:
    case, reading = read[layout]
    exhibits = [p for p in case.paragraphs if p.kind == "exhibit"]
    assert [(e.label, e.figure) for e in exhibits] == [("Exhibit 1", False), ("Exhibit 2", True)]
    assert exhibits[0].text == "\n".join([f"{EXHIBIT_CAPTION}.", *(f"{row}." for row in exhibit_lines())])
    assert exhibits[1].text == f"{FIGURE_CAPTION} {FIGURE_NOTE}"
    assert (reading.exhibits, reading.figures, reading.notes) == (1, 1, len(NOTES))
    # The table's cells are nowhere else in the case.
    assert sum("4,450" in p.text for p in case.paragraphs) == 1


def test_the_reading_summary_says_what_was_dropped_and_found(
        read: dict[str, tuple[ParsedCase, Any]]) -> None:
    _, reading = read["one-column"]
    assert reading.summary() == (
        f"dropped a running header on {reading.pages} pages, page numbers on {reading.pages} pages "
        "and 3 footnote marks; read 1 exhibit, 3 notes and 1 figure exhibit (not readable)")


def _canvas_pdf(path: Path, lines: list[tuple[float, str]], **options: Any) -> Path:
    """A one-page PDF with each (y, text) drawn at the left margin in Times 11 pt."""
    from reportlab.pdfgen import canvas

    page = canvas.Canvas(str(path), **options)
    page.setFont("Times-Roman", 11)
    for y, text in lines:
        page.drawString(72, y, text)
    page.save()
    return path


def test_hyphenation_at_line_ends_is_undone_and_real_hyphens_kept(tmp_path: Path) -> None:
    lines = ["Acme Robotics and Its Warehouse Robots",
             "The company sold warehouse robots to small retailers and its manu-",
             "facturing plant in Ohio ran two shifts; its well-known founder, who",
             "was often quoted, said the robots were well-",
             "known among the retailers of the region."]
    path = _canvas_pdf(tmp_path / "hyphens.pdf", [(720 - 14 * i, text) for i, text in enumerate(lines)])
    case, _ = read_case(path, "hyphens")
    assert [p.text for p in case.paragraphs[1:]] == [
        "The company sold warehouse robots to small retailers and its manufacturing plant in Ohio "
        "ran two shifts; its well-known founder, who was often quoted, said the robots were "
        "well-known among the retailers of the region."]


def test_a_short_second_column_is_still_a_column(tmp_path: Path) -> None:
    """A last page whose right column holds only a few notes: the gap between the columns, not
    the sparse right column, is where the page divides."""
    from reportlab.pdfgen import canvas

    # Eleven paragraphs of three full lines and a short one.
    left = ["Sales of the new model grew in every region the company" if i % 4 < 3 else "that year."
            for i in range(44)]
    page = canvas.Canvas(str(tmp_path / "columns.pdf"))
    page.setFont("Times-Bold", 16)
    page.drawString(54, 760, "A Year of Growth")
    page.setFont("Times-Roman", 10)
    for index, text in enumerate(left):
        page.drawString(54, 730 - 14 * index, text)
    page.setFont("Times-Roman", 7)
    for index, text in enumerate(NOTES):
        page.drawString(316, 730 - 10 * index, f"{index + 1} {text[:45]}")
    page.save()
    case, _ = read_case(tmp_path / "columns.pdf", "columns")
    assert [p.kind for p in case.paragraphs] == ["paragraph"] * 12 + ["note"] * 3
    assert [p.text for p in case.paragraphs[-3:]] == [text[:45] for text in NOTES]


def test_an_owner_password_only_pdf_is_read(tmp_path: Path) -> None:
    from reportlab.lib.pdfencrypt import StandardEncryption

    protected = StandardEncryption("", ownerPassword="publisher", canPrint=0, canCopy=0)
    path = _canvas_pdf(tmp_path / "protected.pdf", [(720, "Borealis Energy and the Fjord Project"),
                                                    (690, "Borealis built a wind farm in 2019.")],
                       encrypt=protected)
    case, _ = read_case(path, "protected")
    assert [p.text for p in case.paragraphs] == ["Borealis Energy and the Fjord Project",
                                                 "Borealis built a wind farm in 2019."]


@pytest.mark.parametrize(("name", "needle"), [
    ("locked.pdf", "protected by a password"),
    ("scanned.pdf", "needs OCR"),
    ("truncated.pdf", "not a readable PDF"),
    ("broken-xml.docx", "not a readable .docx"),
])
def test_unreadable_documents_give_a_one_line_error(tmp_path: Path, name: str, needle: str) -> None:
    path = _unreadable(tmp_path, name)
    with pytest.raises(LoadError, match=needle) as error:
        read_case(path, "case")
    message = str(error.value)
    assert message.startswith(str(path)) and "\n" not in message


def _unreadable(folder: Path, name: str) -> Path:
    """A document that cannot be read, of the kind its name says."""
    from reportlab.lib.pdfencrypt import StandardEncryption
    from reportlab.pdfgen import canvas

    path = folder / name
    if name == "locked.pdf":
        _canvas_pdf(path, [(720, "Secret plans")],
                    encrypt=StandardEncryption("student", ownerPassword="publisher"))
    elif name == "scanned.pdf":
        page = canvas.Canvas(str(path))  # shapes only, as a scan is an image with no text layer
        page.rect(72, 500, 300, 200, fill=1)
        page.save()
    elif name == "truncated.pdf":
        whole = _canvas_pdf(folder / "whole.pdf", [(720, "A title"), (690, "A paragraph.")])
        path.write_bytes(whole.read_bytes()[:400])
    else:
        with zipfile.ZipFile(FIXTURES / "harbor.docx") as source, zipfile.ZipFile(path, "w") as target:
            for item in source.infolist():
                data = source.read(item)
                target.writestr(item, data[:len(data) // 2] if item.filename == "word/document.xml"
                                else data)
    return path


def test_a_libreoffice_pdf_and_docx_read_alike() -> None:
    pdf, pdf_reading = read_case(FIXTURES / "harbor.pdf", "harbor")
    docx, docx_reading = read_case(FIXTURES / "harbor.docx", "harbor")
    assert pdf.title == docx.title == "Harbor Bikes Expands Overseas"
    seen = [(p.kind, p.label, p.section, p.text) for p in pdf.paragraphs]
    assert seen == [(p.kind, p.label, p.section, p.text) for p in docx.paragraphs]
    assert [p.text for p in pdf.paragraphs[1:6]] == [
        p.text for p in pdf.paragraphs if p.text.startswith(("Paragraph 1.", "Paragraph 2.",
                                                            "Paragraph 3.", "Paragraph 4.",
                                                            "Paragraph 5."))]
    exhibit = next(p for p in pdf.paragraphs if p.kind == "exhibit")
    assert exhibit.label == "Exhibit 1" and exhibit.text.splitlines() == [
        "Exhibit 1 Harbor Bikes sales.", "2019: Bikes sold 8,200; Dealers 40.",
        "2020: Bikes sold 9,750; Dealers 46.", "2021: Bikes sold 12,400; Dealers 55."]
    # The two list items stay paragraphs of their own, without their bullets.
    assert "Open a factory in Rotterdam." in [p.text for p in pdf.paragraphs]
    assert seen[-1] == ("note", "Note 1", "Notes", "Company records, shared with the authors in 2023.")
    # A paragraph broken across pages 2 and 3 (around the footer and header) is read whole.
    assert any(p.pages == (2, 3) and p.text.startswith("Paragraph 10.") for p in pdf.paragraphs)
    assert {p.pages for p in docx.paragraphs} == {None}
    assert pdf_reading.summary() == ("dropped a running header on 3 pages, page numbers on 3 pages "
                                     "and 1 footnote mark; read 1 exhibit and 1 note")
    assert docx_reading.summary() == "dropped 1 footnote mark; read 1 exhibit and 1 note"


def test_word_headers_and_footers_never_enter_the_case(tmp_path: Path,
                                                       article: tuple[str, list[str]]) -> None:
    title, paragraphs = article
    case, reading = read_case(write_docx(tmp_path / "article.docx", title, paragraphs[:4]), "article")
    texts = [p.text for p in case.paragraphs]
    assert case.title == title and texts[:4] == [title, *paragraphs[:3]]
    assert not any(CASE_NUMBER in t or COPYRIGHT in t for t in texts)
    assert texts[4] == "\n".join([f"{EXHIBIT_CAPTION}.", *(f"{row}." for row in exhibit_lines())])
    assert (case.paragraphs[4].kind, case.paragraphs[4].label, texts[5]) == ("exhibit", "Exhibit 1",
                                                                              paragraphs[3])
    assert reading.exhibits == 1


def test_a_sentence_about_an_exhibit_is_no_caption(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Cedar Foods Rethinks Packaging", level=0)
    document.add_paragraph("Exhibit 2 shows that packaging costs rose by 18 percent.")
    document.add_paragraph("Exhibit 3 Packaging costs by year")
    document.save(str(tmp_path / "cedar.docx"))
    case, _ = read_case(tmp_path / "cedar.docx", "cedar")
    assert [(p.kind, p.label, p.figure) for p in case.paragraphs[1:]] == [
        ("paragraph", "", False), ("exhibit", "Exhibit 3", True)]


def test_citations_carry_kind_and_page_only_when_they_have_them() -> None:
    plain = Citation("c:12", "¶12", 12, "Act II", "Text.", 0.8)
    assert "kind" not in plain.to_dict() and "page" not in plain.to_dict()
    assert plain.place == "¶12"
    exhibit = Citation("c:5", "Exhibit 1", 5, "", "Exhibit 1 Sales.", 0.8, "exhibit", [5, 6])
    assert exhibit.to_dict()["kind"] == "exhibit" and exhibit.to_dict()["page"] == [5, 6]
    assert exhibit.place == "Exhibit 1 · pp. 5–6"
    assert Citation("c:12", "¶12", 12, "", "Text.", 0.8, page=3).place == "¶12 · p. 3"


def test_chat_and_report_show_the_page() -> None:
    from bot.evaluation.questions import Question
    from bot.evaluation.report import question_card
    from bot.web.render import answer_markdown

    cited = (Citation("c:12", "¶12", 12, "Act II", "Sales rose to 9,750 bikes.", 0.8, page=3),
             Citation("c:5", "Exhibit 1", 5, "", "Exhibit 1 Sales.", 0.7, "exhibit", 5))
    answer = Answer("Sales rose [¶12] as Exhibit 1 shows [¶5].", False, cited, "c", "extractive")
    shown = answer_markdown(answer)
    assert "**¶12 · p\\. 3**" in shown and "**Exhibit 1 · p\\. 5**" in shown
    row = {"id": "q1", "answer": answer.answer, "abstained": False,
           "citations": [c.to_dict() for c in cited]}
    card = question_card(Question("q1", "How did sales go?"), row, {"passed": True})
    assert [c["label"] for c in card["citations"]] == ["¶12 · p. 3", "Exhibit 1 · p. 5"]


# The answers, through the real model and a real Chroma store on disk, as `casebot ask` gives them.

@pytest.fixture(scope="module")
def answering(tmp_path_factory: pytest.TempPathFactory, embeddings: Any,
              article: tuple[str, list[str]]) -> tuple[Any, Path]:
    """A CaseBot over the article as a two-column PDF ("article") and as text ("plain")."""
    from bot.answerers.extractive import ExtractiveAnswerer
    from bot.rag.chain import CaseBot
    from ingest.pipeline import ingest_file
    from vectorstore.store import CaseLibrary, open_client

    folder = tmp_path_factory.mktemp("answering")
    title, paragraphs = article
    library = CaseLibrary(open_client(folder / "store"), embeddings)
    pdf = write_pdf(folder / "article.pdf", title, paragraphs[:6], LAYOUTS[1])
    ingest_file(pdf, library)
    (folder / "plain.txt").write_text("\n\n".join([title, *paragraphs[:6]]) + "\n", encoding="utf-8")
    ingest_file(folder / "plain.txt", library)
    return CaseBot(library, ExtractiveAnswerer()), pdf


@pytest.mark.model
@pytest.mark.parametrize(("question", "cell"), [("What was the Revenue in 2021?", "1,912"),
                                                ("How many staff were there in 2020?", "4,450")])
def test_a_question_about_a_cell_is_answered_from_the_exhibit(
        answering: tuple[Any, Path], question: str, cell: str) -> None:
    bot, _ = answering
    answer = bot.ask(question, (), "article").to_dict()
    assert not answer["abstained"] and cell in answer["answer"], answer
    cited = [c for c in answer["citations"] if c.get("kind") == "exhibit"]
    assert [c["label"] for c in cited] == ["Exhibit 1"] and isinstance(cited[0]["page"], int)
    assert f"[¶{cited[0]['paragraph']}]" in answer["answer"]


@pytest.mark.model
def test_citations_of_a_pdf_carry_pages_and_of_a_text_case_do_not(answering: tuple[Any, Path]) -> None:
    bot, _ = answering
    question = "Who managed Beyoncé's group Destiny's Child?"
    for case, paged in (("article", True), ("plain", False)):
        answer = bot.ask(question, (), case).to_dict()
        assert answer["citations"] and not answer["abstained"], answer
        for citation in answer["citations"]:
            assert ("page" in citation) is paged and "kind" not in citation


@pytest.mark.model
def test_a_question_about_a_figure_says_it_cannot_be_read(answering: tuple[Any, Path]) -> None:
    from bot.answerers.abstention import NOT_COVERED

    bot, _ = answering
    answer = bot.ask("What does Exhibit 2 show about market share by region?", (), "article")
    assert answer.abstained and NOT_COVERED not in answer.answer
    assert answer.answer.startswith("Exhibit 2 is a figure (“Market share by region”), which I "
                                    "can't read: look at it in the case (p. "), answer.answer
    assert answer.see_also[0].label == "Exhibit 2" and answer.see_also[0].kind == "exhibit"


@pytest.mark.model
@pytest.mark.parametrize("name", ["locked.pdf", "scanned.pdf", "truncated.pdf", "broken-xml.docx"])
def test_a_failed_reread_leaves_the_previous_version_answering(
        answering: tuple[Any, Path], tmp_path: Path, name: str) -> None:
    from ingest.pipeline import ingest_file

    bot, pdf = answering
    before = bot.library.info("article")
    assert ingest_file(pdf, bot.library).unchanged  # the same PDF read again: nothing changes
    replacement = tmp_path / f"article{Path(name).suffix}"  # the same case id, "article"
    shutil.copyfile(_unreadable(tmp_path, name), replacement)
    with pytest.raises(LoadError):
        ingest_file(replacement, bot.library)
    assert bot.library.info("article") == before
    answer = bot.ask("What was the Revenue in 2021?", (), "article")
    assert "1,912" in answer.answer


@pytest.mark.model
def test_cases_show_prints_the_case_as_read(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    case = tmp_path / "harbor.pdf"
    shutil.copyfile(FIXTURES / "harbor.pdf", case)
    ingest = run_main(data_dir, "ingest", "--quiet", str(case))
    assert ingest.returncode == 0, ingest.stderr
    assert "harbor: 19 paragraphs" in ingest.stderr
    assert "dropped a running header on 3 pages" in ingest.stderr
    shown = run_main(data_dir, "cases", "show", "harbor", "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert list(data) == ["id", "title", "paragraphs"]
    assert (data["id"], data["title"]) == ("harbor", "Harbor Bikes Expands Overseas")
    assert all(list(p) == ["paragraph", "label", "kind", "section", "page", "text"]
               for p in data["paragraphs"])
    assert data["paragraphs"][0] == {"paragraph": 1, "label": "¶1", "kind": "paragraph", "section": "",
                                     "page": 1, "text": "Harbor Bikes Expands Overseas"}
    exhibit = next(p for p in data["paragraphs"] if p["kind"] == "exhibit")
    assert exhibit["label"] == "Exhibit 1" and exhibit["section"] == "The Numbers"
    assert any(p["page"] == [2, 3] for p in data["paragraphs"])
    assert data["paragraphs"][-1]["label"] == "Note 1"
    text = run_main(data_dir, "cases", "show", "harbor")
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("Harbor Bikes Expands Overseas\n")
    assert f"Exhibit 1 · p. {exhibit['page']} (exhibit)" in text.stdout
    missing = run_main(data_dir, "cases", "show")
    assert missing.returncode == 2 and "casebot cases show ID" in missing.stderr
