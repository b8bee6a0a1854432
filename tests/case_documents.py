"""Case documents written the way publishers and instructors write them, for the reader's tests
and benchmarks/documents.py: PDFs from reportlab in several layouts, .docx from python-docx.

Every layout carries the same article text, so what casebot reads from each can be compared with
the plain text: one or two columns, a title page, running headers and footers in different places
(with the page number), paragraphs that break across pages, footnote marks with their notes, an
exhibit table and an exhibit that is a figure (shapes only, nothing to read).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXHIBIT_CAPTION = "Exhibit 1 Selected figures"
EXHIBIT_HEADER = ("Year", "Revenue", "Units", "Staff")
EXHIBIT_ROWS = (("2020", "1,377", "342", "4,450"), ("2021", "1,912", "518", "5,020"),
                ("2022", "2,604", "733", "6,180"))
FIGURE_CAPTION = "Exhibit 2 Market share by region"
NOTES = ("Figures from the company's annual reports, rounded to the nearest unit.",
         "Interview with the authors, conducted over two days in the spring.",
         "Estimates by industry analysts; the company did not confirm them.")
CASE_NUMBER = "9-724-007"
COPYRIGHT = "Copyright 2024 Northfield School of Business. Not for distribution."
# A paragraph is read whole when its words are at least this similar to the source's.
WHOLE_SIMILARITY = 0.95


@dataclass(frozen=True)
class Layout:
    """How a case is laid out on its pages."""

    name: str
    columns: int = 1
    title_page: bool = False
    header: str = "top"  # where the running header with the case number is: top, bottom, none
    page_number: str = "bottom"  # where the page number is: top, bottom, none
    indent: bool = False  # paragraphs start with an indent instead of space between them
    notes: bool = True  # footnote marks in the text, the notes after it
    exhibits: bool = True  # an exhibit table and a figure exhibit after the third paragraph


LAYOUTS = (
    Layout("one-column"),
    Layout("two-columns", columns=2, header="bottom", page_number="top"),
    Layout("title-page", title_page=True, indent=True, header="top", page_number="top"),
)


def drawable(text: str) -> str:
    """`text` without the characters the PDF's standard fonts cannot draw (they have only the
    Windows-1252 characters), so that what is read can be compared with what was written."""
    return " ".join(text.encode("cp1252", "ignore").decode("cp1252").split())


def exhibit_lines() -> list[str]:
    """The exhibit's rows as the reader writes them: each cell with its header."""
    return [f"{row[0]}: " + "; ".join(f"{name} {cell}" for name, cell in
                                      zip(EXHIBIT_HEADER[1:], row[1:], strict=True))
            for row in EXHIBIT_ROWS]


def _marked(paragraphs: list[str], notes: bool) -> list[str]:
    """Paragraph texts as reportlab markup, with a footnote mark after the first sentence of the
    first paragraphs when `notes`."""
    from xml.sax.saxutils import escape

    marked = []
    for index, text in enumerate(paragraphs):
        body = escape(text)
        if notes and index < len(NOTES):
            cut = body.find(". ")
            cut = len(body) - 1 if cut < 0 else cut
            body = f"{body[:cut + 1]}<super>{index + 1}</super>{body[cut + 1:]}"
        marked.append(body)
    return marked


def write_pdf(path: Path, title: str, paragraphs: list[str], layout: Layout,
              headings: dict[int, str] | None = None) -> Path:
    """A case PDF: `title`, then `paragraphs` (a heading before paragraph i when `headings` has
    i), laid out as `layout` says."""
    from reportlab.graphics.shapes import Drawing, Rect
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import (
        BaseDocTemplate,
        Frame,
        KeepTogether,
        PageBreak,
        PageTemplate,
        Paragraph,
        Spacer,
        Table,
        TableStyle,
    )

    width, height = letter
    margin = 54.0
    body = ParagraphStyle("body", fontName="Times-Roman", fontSize=10.5, leading=13,
                          spaceAfter=0 if layout.indent else 7,
                          firstLineIndent=14 if layout.indent else 0)
    title_style = ParagraphStyle("title", fontName="Helvetica-Bold", fontSize=20, leading=24,
                                 spaceAfter=14)
    heading = ParagraphStyle("heading", fontName="Helvetica-Bold", fontSize=12.5, leading=16,
                             spaceBefore=6, spaceAfter=6)
    caption = ParagraphStyle("caption", fontName="Helvetica-Bold", fontSize=10, leading=13,
                             spaceBefore=8, spaceAfter=4)
    note = ParagraphStyle("note", fontName="Times-Roman", fontSize=8, leading=10, spaceAfter=3)

    def decorate(canvas: Any, document: Any) -> None:
        page = canvas.getPageNumber()
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        places = {"top": height - 32, "bottom": 30}
        if layout.header in places:
            canvas.drawString(margin, places[layout.header], f"{CASE_NUMBER}  {title}")
            if layout.header == "bottom":
                canvas.drawRightString(width - margin, 18, COPYRIGHT)
        if layout.page_number in places:
            canvas.drawRightString(width - margin, places[layout.page_number], str(page))
        canvas.restoreState()

    gutter = 18.0
    column = (width - 2 * margin - (layout.columns - 1) * gutter) / layout.columns
    frames = [Frame(margin + i * (column + gutter), margin, column, height - 2 * margin,
                    id=f"c{i}", leftPadding=0, rightPadding=0) for i in range(layout.columns)]
    document = BaseDocTemplate(str(path), pagesize=letter, title="", author="")
    document.addPageTemplates([PageTemplate(id="page", frames=frames, onPage=decorate)])

    story: list[object] = [Paragraph(title, title_style)]
    if layout.title_page:
        story += [Paragraph("A case for classroom discussion", body), PageBreak()]
    for index, text in enumerate(_marked(paragraphs, layout.notes)):
        if headings and index in headings:
            story.append(Paragraph(headings[index], heading))
        story.append(Paragraph(text, body))
        if layout.exhibits and index == 2:
            table = Table([list(EXHIBIT_HEADER), *map(list, EXHIBIT_ROWS)])
            table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                                       ("FONT", (0, 0), (-1, -1), "Helvetica", 9)]))
            chart = Drawing(160, 60)
            for bar, share in enumerate((50, 30, 20)):
                chart.add(Rect(10 + bar * 50, 0, 36, share, fillColor=colors.steelblue))
            story += [KeepTogether([Paragraph(EXHIBIT_CAPTION, caption), table]), Spacer(1, 8),
                      KeepTogether([Paragraph(FIGURE_CAPTION, caption), chart]), Spacer(1, 8)]
    if layout.notes:
        story.append(Paragraph("Notes", heading))
        story += [Paragraph(f"{number} {text}", note) for number, text in enumerate(NOTES, 1)]
    document.build(story)
    return path


def write_docx(path: Path, title: str, paragraphs: list[str], exhibits: bool = True) -> Path:
    """A case .docx: a title, the paragraphs, a running header and footer, an exhibit table and
    a bulleted list (python-docx writes no footnotes; see the LibreOffice fixture for those)."""
    import docx

    document = docx.Document()
    section = document.sections[0]
    section.header.paragraphs[0].text = f"{CASE_NUMBER}  {title}"
    section.footer.paragraphs[0].text = COPYRIGHT
    document.add_heading(title, level=0)
    for index, text in enumerate(paragraphs):
        document.add_paragraph(text)
        if exhibits and index == 2:
            document.add_paragraph(EXHIBIT_CAPTION, style="Caption")
            table = document.add_table(rows=1 + len(EXHIBIT_ROWS), cols=len(EXHIBIT_HEADER))
            for row, cells in zip(table.rows, [EXHIBIT_HEADER, *EXHIBIT_ROWS], strict=True):
                for cell, value in zip(row.cells, cells, strict=True):
                    cell.text = value
    document.save(str(path))
    return path


def words(text: str) -> list[str]:
    """Words compared: accents folded, glyphs without an ASCII form (❤, −) dropped, as the PDF's
    standard fonts cannot draw all of them."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.findall(r"\w+", folded.lower())


def read_map(contexts: Sequence[str], paragraphs: dict[int, tuple[str, str]]
             ) -> tuple[dict[int, int], set[int]]:
    """Where each source paragraph was read: its index -> the number of the paragraph holding its
    first words; and the indexes of those read whole (exactly one paragraph holds them, nothing
    else). `paragraphs`: number -> (section, text), as LoadedCase.paragraphs."""
    read = [(number, words(text)) for number, (_, text) in sorted(paragraphs.items())]
    where: dict[int, int] = {}
    whole = set()
    for index, context in enumerate(contexts):
        wanted = words(context)
        holding = [(n, w) for n, w in read if " ".join(wanted[:8]) in " ".join(w)]
        if holding:
            where[index] = holding[0][0]
        similar = [n for n, w in holding if difflib.SequenceMatcher(
            None, wanted, w, autojunk=False).ratio() >= WHOLE_SIMILARITY]
        if len(similar) == 1:
            whole.add(index)
    return where, whole
