"""A case read from a laid-out document (PDF, Word): the blocks a reader found, and how they become
numbered paragraphs, exhibits and notes.

The readers know what each block is (the title, a heading, a paragraph, a table, a note), so they
do not go through the plain-text paragraph detector: `build_case` numbers the blocks directly. The
numbering rule is the detector's: the title is ¶1, headings open sections and are not numbered,
every other block takes the next number in reading order; notes follow the body. A table becomes
one exhibit; a caption ("Exhibit 3 Market share") with no table after it names a figure, listed as
an exhibit that cannot be read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ingest.paragraphs import EmptyCaseError, Paragraph, ParsedCase

# A caption names its exhibit: "Exhibit 1 Selected figures", "Exhibit 2: Sales", "Table 3".
CAPTION = re.compile(r"^(?:exhibit|table|figure|chart)\s+(\d{1,3})\b", re.IGNORECASE)
CAPTION_MAX_WORDS = 20
FIGURE_NOTE = "(figure, not readable)"
NOTES_SECTION = "Notes"


@dataclass(frozen=True)
class Block:
    """One unit a reader found: `kind` is title, heading, paragraph, caption, table or note.

    A table's `rows` are its cells, the first row its header; a note's `number` is its mark.
    """

    kind: str
    text: str = ""
    pages: tuple[int, int] | None = None
    rows: tuple[tuple[str, ...], ...] = ()
    number: int = 0


@dataclass
class Reading:
    """What a reader dropped and found, for the ingest summary."""

    pages: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    marks: int = 0
    exhibits: int = 0
    figures: int = 0
    notes: int = 0

    def summary(self) -> str:
        """One line: "dropped a running header on 6 pages and 3 footnote marks; read 1 exhibit"."""
        dropped = [f"{what} on {count} page{'s' if count != 1 else ''}"
                   for what, count in self.dropped.items() if count]
        if self.marks:
            dropped.append(_count(self.marks, "footnote mark"))
        found = [_count(n, what) for n, what in ((self.exhibits, "exhibit"), (self.notes, "note"),
                                                  (self.figures, "figure exhibit (not readable)"))
                 if n]
        parts = [f"dropped {_listed(dropped)}" if dropped else "",
                 f"read {_listed(found)}" if found else ""]
        return "; ".join(part for part in parts if part)


def _count(n: int, what: str) -> str:
    if n == 1:
        return f"1 {what}"
    noun, _, rest = what.partition(" (")
    return f"{n} {noun}s" + (f" ({rest}" if rest else "")


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def table_text(caption: str, rows: tuple[tuple[str, ...], ...]) -> str:
    """An exhibit as text: its caption, then one line per row keeping each cell with its header
    ("2020: Revenue 1,377; Units 342; Staff 4,450.")."""
    lines = [_sentence(caption)]
    header, body = (rows[0], rows[1:]) if len(rows) > 1 else ((), rows)
    for row in body:
        cells = [" ".join(cell.split()) for cell in row]
        if not any(cells):
            continue
        named = [f"{name} {cell}".strip() if name else cell
                 for name, cell in zip([" ".join(h.split()) for h in header[1:]], cells[1:],
                                       strict=False) if cell]
        named += [cell for cell in cells[1 + len(header[1:]):] if cell]
        lines.append(_sentence(f"{cells[0]}: " + "; ".join(named) if cells[0] else "; ".join(named)))
    return "\n".join(lines)


def _sentence(text: str) -> str:
    """`text` ending with a full stop, so each row is a sentence of its own."""
    text = " ".join(text.split())
    return text if text[-1:] in ".!?" else text + "."


def build_case(blocks: list[Block], case_id: str, reading: Reading) -> ParsedCase:
    """Number the blocks a reader found into a case; counts exhibits and notes into `reading`."""
    resolved = _exhibits(blocks)
    body = [b for b in resolved if b.kind not in ("title", "note")]
    notes = [b for b in resolved if b.kind == "note"]
    paragraphs: list[Paragraph] = []
    offset = 0
    section = ""

    # Offsets are into the blocks' texts joined by blank lines: the case text as read.
    def add(block: Block, kind: str, label: str = "", figure: bool = False) -> None:
        nonlocal offset
        start = offset
        offset += len(block.text) + 2
        paragraphs.append(Paragraph(len(paragraphs) + 1, section, block.text, start,
                                    start + len(block.text), kind, label, block.pages, figure))

    title_block = next((b for b in resolved if b.kind == "title"), None)
    if title_block is not None:
        add(title_block, "paragraph")
    for block in body:
        if block.kind == "heading":
            section = block.text
            offset += len(block.text) + 2
        elif block.kind in ("exhibit", "figure"):
            add(block, "exhibit", f"Exhibit {block.number}", figure=block.kind == "figure")
            reading.figures += block.kind == "figure"
            reading.exhibits += block.kind == "exhibit"
        elif block.text:
            add(block, "paragraph")
    section = NOTES_SECTION if notes else section
    for index, note in enumerate(notes, start=1):
        add(note, "note", f"Note {note.number or index}")
    reading.notes += len(notes)
    if not any(p.number > 1 or p.section for p in paragraphs):
        raise EmptyCaseError("the file holds only a title or headings, no paragraphs")
    return ParsedCase(case_id, title_block.text if title_block else case_id, tuple(paragraphs))


def _exhibits(blocks: list[Block]) -> list[Block]:
    """Tables and captions resolved into exhibits: a caption just before (or after) a table is its
    caption; a caption with no table names a figure."""
    out: list[Block] = []
    index = 0
    while index < len(blocks):
        block = blocks[index]
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        exhibits = sum(b.kind in ("exhibit", "figure") for b in out)
        if block.kind == "caption" and following is not None and following.kind == "table":
            out.append(_table(following, block, exhibits + 1))
            index += 2
        elif block.kind == "table":
            caption = following if following is not None and following.kind == "caption" else None
            out.append(_table(block, caption, exhibits + 1))
            index += 2 if caption is not None else 1
        elif block.kind == "caption":
            match = CAPTION.match(block.text)
            out.append(Block("figure", f"{' '.join(block.text.split())} {FIGURE_NOTE}", block.pages,
                             number=int(match.group(1)) if match else exhibits + 1))
            index += 1
        else:
            out.append(block)
            index += 1
    return out


def _table(table: Block, caption: Block | None, position: int) -> Block:
    """A table as an exhibit: numbered by its caption, else by its place among the exhibits."""
    match = CAPTION.match(caption.text) if caption is not None else None
    number = int(match.group(1)) if match else position
    name = " ".join(caption.text.split()) if caption is not None else f"Exhibit {number}"
    pages = table.pages
    if caption is not None and caption.pages and pages:
        pages = (min(caption.pages[0], pages[0]), max(caption.pages[1], pages[1]))
    return Block("exhibit", table_text(name, table.rows), pages, number=number)


def is_caption(text: str) -> bool:
    """Whether a one-line block reads as an exhibit's caption ("Exhibit 2 Sales by region"), not
    as a sentence about one ("Exhibit 2 shows the sales.")."""
    text = text.strip()
    return bool(CAPTION.match(text)) and len(text.split()) <= CAPTION_MAX_WORDS \
        and text[-1:] not in ".!?"
