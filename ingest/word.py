"""Reading a Word (.docx) case: the body's paragraphs and tables in order, footnotes as notes.

Headers and footers live in their own parts and never enter the case. Heading and title styles
mark headings and the title; list styles (or numbering) mark list items, kept as paragraphs of
their own; a table becomes an exhibit; a caption paragraph before a table names it. python-docx
has no footnote API, so the footnotes part is read as XML through the package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ingest.layout import Block, Reading, is_caption

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


class WordReadError(ValueError):
    """The .docx cannot be read; the message says why (the loader names the file)."""


def read_docx(path: Path) -> tuple[list[Block], Reading]:
    """The blocks of a Word case in reading order, and what was found on the way."""
    from zipfile import BadZipFile

    import docx
    from docx.opc.exceptions import OpcError
    from docx.table import Table

    try:
        document = docx.Document(str(path))
        content = list(document.iter_inner_content())
        notes = _footnotes(document)
    except (BadZipFile, OpcError, KeyError, ValueError, OSError, SyntaxError) as error:
        # lxml's XMLSyntaxError (a broken part) is a SyntaxError.
        raise WordReadError(f"not a readable .docx file ({error})") from error
    reading = Reading()
    blocks: list[Block] = []
    for item in content:
        if isinstance(item, Table):
            rows = tuple(tuple(" ".join(cell.text.split()) for cell in row.cells) for row in item.rows)
            if rows:
                blocks.append(Block("table", rows=rows))
            continue
        text = " ".join(item.text.split())
        reading.marks += len(item._p.findall(f".//{_W}footnoteReference"))
        if not text:
            continue
        style = ((item.style.name if item.style is not None else "") or "").lower()
        if style.startswith("title") or (style.startswith("heading") and not blocks):
            kind = "title" if not any(b.kind == "title" for b in blocks) else "heading"
        elif style.startswith("heading"):
            kind = "heading"
        elif style.startswith("caption") or is_caption(text):
            kind = "caption"
        else:
            kind = "paragraph"
        blocks.append(Block(kind, text))
    blocks += [Block("note", text, number=number) for number, text in notes]
    return blocks, reading


def _footnotes(document: Any) -> list[tuple[int, str]]:
    """(number, text) of each footnote, from the footnotes part's XML; the separators aside."""
    from docx.opc.constants import RELATIONSHIP_TYPE
    from docx.oxml import parse_xml

    part = next((rel.target_part for rel in document.part.rels.values()
                 if rel.reltype == RELATIONSHIP_TYPE.FOOTNOTES and not rel.is_external), None)
    if part is None:
        return []
    notes: list[tuple[int, str]] = []
    for note in parse_xml(part.blob).iter(f"{_W}footnote"):
        # Separator and continuation notes carry a type; real ones do not.
        if note.get(f"{_W}type") is not None:
            continue
        text = " ".join("".join(t.text or "" for t in note.iter(f"{_W}t")).split())
        if text:
            notes.append((len(notes) + 1, text))
    return notes
