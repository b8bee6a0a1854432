"""Reading a PDF as its author laid it out: words with their positions and type sizes (pdfplumber,
over pdfminer.six) become lines, lines become paragraphs, headings, exhibits and notes.

- Columns: a vertical gap in the middle of a page that no line crosses splits it into two
  columns, read left then right; lines spanning both (a title) come first.
- Running headers and footers: a line in the top or bottom margin whose text, with its numbers
  masked, recurs on most pages, and any page number there, is dropped.
- Paragraphs: a new one starts at a wider gap between lines, an indented first line, a heading, a
  bullet, or after a line that left room for the next line's first word (lines are filled
  greedily, so that line was ended on purpose). Across a column or page break only the last two
  tell.
- Line ends: a word hyphenated across two lines is rejoined (keeping the hyphen when the document
  writes the word with one elsewhere).
- Type sizes: the largest type on the first page is the title; larger (or all-bold, short) lines
  are headings; smaller raised digits are footnote marks and are removed; smaller lines starting
  with a number are the notes, kept after the body.
- Tables become exhibits (see ingest.layout): ruled ones found by pdfplumber on pages with
  ruling lines, unruled ones as runs of lines whose short cells stand far apart.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.layout import Block, Reading, is_caption
from ingest.paragraphs import looks_like_title

# Lines this close to the top or bottom edge (share of the page height) may be running heads.
MARGIN_SHARE = 0.12
# A masked line in the margins on at least this share of the pages is a running head.
RUNNING_SHARE = 0.5
# Type this much larger than the body's is a heading; this much smaller is a note or a mark.
HEADING_RATIO = 1.12
SMALL_RATIO = 0.88
# A gap between lines this much wider than the usual line pitch separates paragraphs.
GAP_RATIO = 1.3
# A gap between lines of this many type sizes separates paragraphs even when all gaps are alike.
GAP_EMS = 2.2
# A first line indented by this many body type sizes starts a paragraph.
INDENT_EMS = 0.8
# Words further apart than this many type sizes stand in different table cells.
CELL_GAP_EMS = 1.5
# Table cells hold this many words on average at most.
CELL_MAX_WORDS = 4
# The width of a space between words, in body type sizes (a generous one).
SPACE_EMS = 0.35
# A bold line of at most this many words, not ending a sentence, is a heading.
HEADING_MAX_WORDS = 14
_PAGE_NUMBER = re.compile(r"^(?:page\s*)?[-–—]?\s*#\s*[-–—]?(?:\s*(?:of|/)\s*#)?$", re.IGNORECASE)
_MARK = re.compile(r"^[\d*†‡§]{1,3}[,.]?$")
# A note starts with its number, alone or run into its first word ("1Company records ...").
_NOTE_START = re.compile(r"^(\d{1,3})(?:[.)]|$|(?=[^\d,.]))")
# A bullet: a mark, a list number, or a private-use glyph (symbol fonts draw bullets with those).
_BULLET = re.compile(r"^(?:[•▪◦●■–—*\-\ue000-\uf8ff]|\d{1,2}[.)])$")
_SENTENCE_END = re.compile(r"[.!?:][\"”’)]?$")
_HYPHENATED = re.compile(r"[A-Za-z]-$")


@dataclass
class _Word:
    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    size: float
    bold: bool


@dataclass
class _Line:
    words: list[_Word]
    page: int
    column: int  # 0 or 1; -1 when it spans both columns
    x0: float = 0.0
    x1: float = 0.0
    top: float = 0.0
    bottom: float = 0.0
    size: float = 0.0
    bold: bool = False
    left: float = 0.0  # its column's left and right edges
    right: float = 0.0

    def __post_init__(self) -> None:
        self.words.sort(key=lambda w: w.x0)
        self.x0 = min(w.x0 for w in self.words)
        self.x1 = max(w.x1 for w in self.words)
        self.top = min(w.top for w in self.words)
        self.bottom = max(w.bottom for w in self.words)
        weights = Counter[float]()
        for word in self.words:
            weights[round(word.size, 1)] += len(word.text)
        self.size = weights.most_common(1)[0][0]
        self.bold = all(w.bold for w in self.words)

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


@dataclass
class _Table:
    rows: tuple[tuple[str, ...], ...]
    page: int
    column: int
    top: float


@dataclass
class _Page:
    number: int
    height: float
    items: list[_Line | _Table] = field(default_factory=list)


class PdfReadError(ValueError):
    """The PDF cannot be read; the message says why (the loader names the file)."""


def read_pdf(path: Path) -> tuple[list[Block], Reading]:
    """The blocks of a PDF case in reading order, and what was dropped and found on the way."""
    pages = _pages(path)
    reading = Reading(pages=len(pages))
    if not any(isinstance(item, _Line) for page in pages for item in page.items):
        raise PdfReadError("the PDF has no text layer (a scan?): it needs OCR first, e.g. "
                           "`ocrmypdf case.pdf case-ocr.pdf`, then ingest the result")
    _drop_running_heads(pages, reading)
    lines = [item for page in pages for item in page.items if isinstance(item, _Line)]
    if not lines:
        raise PdfReadError("the PDF holds nothing but running headers and footers")
    body = _body_size(lines)
    for line in lines:
        reading.marks += _drop_marks(line, body)
    return _Blocks(pages, body, _vocabulary(lines)).read(), reading


def _pages(path: Path) -> list[_Page]:
    """Every page's lines and tables, in reading order."""
    import pdfplumber

    try:
        with pdfplumber.open(str(path)) as pdf:
            return [_read_page(page, number) for number, page in enumerate(pdf.pages, start=1)]
    except Exception as error:
        # pdfminer raises many kinds of errors on a damaged or encrypted file (its own, and
        # KeyError, TypeError, struct.error ... from deep in the parser): all mean "cannot read".
        # pdfplumber wraps pdfminer's errors: the wrapped one names the problem.
        inner = [error, *(a for a in error.args if isinstance(a, BaseException))]
        name = type(inner[-1]).__name__
        if any(word in name for word in ("Password", "Encrypt")):
            raise PdfReadError("the PDF is protected by a password; save a copy without one "
                               "and ingest that") from error
        detail = " ".join(str(inner[-1]).split())
        raise PdfReadError(f"not a readable PDF ({name}{': ' + detail if detail else ''})") from error


def _read_page(page: Any, number: int) -> _Page:
    words = [_Word(w["text"], float(w["x0"]), float(w["x1"]), float(w["top"]), float(w["bottom"]),
                   float(w["size"]), "bold" in str(w["fontname"]).lower())
             for w in page.extract_words(extra_attrs=["size", "fontname"], use_text_flow=False)
             if w.get("upright", True)]
    tables: list[tuple[tuple[float, float, float, float], tuple[tuple[str, ...], ...]]] = []
    # Finding tables costs about as much as reading the words: only pages with ruling lines.
    if page.lines or page.rects:
        for table in page.find_tables():
            rows = tuple(tuple(" ".join((cell or "").split()) for cell in row)
                         for row in table.extract())
            if len(rows) >= 2 and max(len(r) for r in rows) >= 2:
                tables.append((table.bbox, rows))

    def inside(word: _Word) -> bool:
        middle_x, middle_y = (word.x0 + word.x1) / 2, (word.top + word.bottom) / 2
        return any(x0 <= middle_x <= x1 and top <= middle_y <= bottom
                   for (x0, top, x1, bottom), _ in tables)

    words = [w for w in words if not inside(w)]
    gutter = _gutter(words, float(page.width))
    result = _Page(number, float(page.height))
    groups: dict[int, list[_Word]] = {-1: [], 0: [], 1: []}
    for word in words:
        column = 0 if gutter is None or word.x1 <= gutter else 1 if word.x0 >= gutter else -1
        groups[column].append(word)
    items: list[_Line | _Table] = []
    for column, members in groups.items():
        items += _unruled_tables([_Line(ws, number, column) for ws in _line_groups(members)])
    for (x0, top, x1, _), rows in tables:
        column = 0 if gutter is None or x1 <= gutter else 1 if x0 >= gutter else -1
        items.append(_Table(rows, number, column, top))
    first = min((item.top for item in items if item.column >= 0), default=float(page.height))
    # Spanning lines above the columns (a title) come first, the others (a footer) last.
    items.sort(key=lambda item: (0 if item.column < 0 and item.top < first else
                                 2 if item.column < 0 else 1, max(item.column, 0), item.top))
    _edges([item for item in items if isinstance(item, _Line)])
    result.items = items
    return result


def _gutter(words: Sequence[_Word], width: float) -> float | None:
    """The x of the gap between two columns, when the page's words leave one mid-page."""
    if len(words) < 40:
        return None
    low, high = int(width * 0.3), int(width * 0.7)
    crossing = [0] * (high - low)
    for word in words:
        for x in range(max(low, int(word.x0)), min(high, int(word.x1) + 1)):
            crossing[x - low] += 1
    # The widest gap no word crosses; failing that, one a few words cross (a title or a footer
    # spanning the page). Not the widest sparse stretch first: a short column (a few notes) is
    # sparse too.
    for allowed in (0, max(2, len(words) // 50)):
        start, end = _widest_run([count <= allowed for count in crossing])
        if end - start < 6:
            continue
        gutter = low + (start + end) / 2
        left = sum(w.x1 <= gutter for w in words)
        right = sum(w.x0 >= gutter for w in words)
        # A column may be short (the notes at the top of the last page's right column).
        if min(left, right) >= max(8, len(words) // 25):
            return gutter
    return None


def _widest_run(flags: list[bool]) -> tuple[int, int]:
    """(start, end) of the longest run of True in `flags`."""
    best, start = (0, 0), None
    for index, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = index
        elif not flag and start is not None:
            best = max(best, (start, index), key=lambda span: span[1] - span[0])
            start = None
    return best


def _cells(line: _Line) -> list[str]:
    """A line's text split where its words stand far apart, as table cells do."""
    cells = [[line.words[0].text]]
    for before, word in zip(line.words, line.words[1:], strict=False):
        if word.x0 - before.x1 > CELL_GAP_EMS * line.size:
            cells.append([])
        cells[-1].append(word.text)
    return [" ".join(cell) for cell in cells]


def _unruled_tables(lines: list[_Line]) -> list[_Line | _Table]:
    """The lines, with each run of at least two lines made of short cells (words far apart)
    turned into a table: tables drawn without ruling lines. (Cells are short: two columns of
    text that were not told apart make lines of two long "cells", which are no table.)"""
    lines = sorted(lines, key=lambda line: line.top)
    out: list[_Line | _Table] = []
    run: list[_Line] = []
    for line in [*lines, None]:
        cells = _cells(line) if line is not None else []
        if line is not None and len(cells) >= 2 and len(line.words) <= CELL_MAX_WORDS * len(cells):
            run.append(line)
            continue
        if len(run) >= 2:
            out.append(_Table(tuple(tuple(_cells(r)) for r in run), run[0].page, run[0].column,
                              run[0].top))
        else:
            out += run
        run = []
        if line is not None:
            out.append(line)
    return out


def _line_groups(words: list[_Word]) -> list[list[_Word]]:
    """Words grouped into lines: a word joins a line its height overlaps by at least half."""
    lines: list[list[_Word]] = []
    bounds: list[tuple[float, float]] = []
    for word in sorted(words, key=lambda w: (w.top, w.x0)):
        height = word.bottom - word.top
        for index in range(len(lines) - 1, max(-1, len(lines) - 4), -1):
            top, bottom = bounds[index]
            overlap = min(bottom, word.bottom) - max(top, word.top)
            if overlap >= 0.5 * min(height, bottom - top):
                lines[index].append(word)
                bounds[index] = (min(top, word.top), max(bottom, word.bottom))
                break
        else:
            lines.append([word])
            bounds.append((word.top, word.bottom))
    return lines


def _edges(lines: list[_Line]) -> None:
    """Each line's column edges: where most of the column's lines start and end."""
    by_column: dict[int, list[_Line]] = {}
    for line in lines:
        by_column.setdefault(line.column, []).append(line)
    for members in by_column.values():
        # A quarter of the lines may start further in (first lines, list items), none further out;
        # a tenth may stick out to the right (a long web address).
        left = sorted(m.x0 for m in members)[len(members) // 4]
        right = sorted(m.x1 for m in members)[len(members) * 9 // 10]
        for member in members:
            member.left, member.right = left, right


def _drop_running_heads(pages: list[_Page], reading: Reading) -> None:
    """Remove the lines in the margins that recur on most pages (numbers masked), and page numbers."""
    def key(line: _Line, page: _Page) -> tuple[str, str] | None:
        zone = "top" if line.top < page.height * MARGIN_SHARE else \
            "bottom" if line.bottom > page.height * (1 - MARGIN_SHARE) else ""
        return (zone, re.sub(r"\d+", "#", line.text).lower()) if zone else None

    seen: Counter[tuple[str, str]] = Counter()
    for page in pages:
        seen.update({k for line in page.items if isinstance(line, _Line)
                     and (k := key(line, page)) is not None})
    running = {k for k, count in seen.items()
               if len(pages) >= 2 and count >= max(2, RUNNING_SHARE * len(pages))}
    for page in pages:
        kept: list[_Line | _Table] = []
        for item in page.items:
            found = key(item, page) if isinstance(item, _Line) else None
            if found is not None and (found in running or _PAGE_NUMBER.match(found[1])):
                what = "page numbers" if _PAGE_NUMBER.match(found[1]) else \
                    f"a running {'header' if found[0] == 'top' else 'footer'}"
                reading.dropped[what] = reading.dropped.get(what, 0) + 1
                continue
            kept.append(item)
        page.items = kept
    # Counted per page: a header and a footer on one page count once each.
    for what in list(reading.dropped):
        reading.dropped[what] = min(reading.dropped[what], len(pages))


def _body_size(lines: list[_Line]) -> float:
    """The type size of most of the text."""
    weights = Counter[float]()
    for line in lines:
        weights[line.size] += len(line.text)
    return weights.most_common(1)[0][0]


def _drop_marks(line: _Line, body: float) -> int:
    """Remove footnote marks (small raised digits or symbols) from a line; how many there were."""
    baseline = max(w.bottom for w in line.words if w.size >= line.size * SMALL_RATIO) \
        if any(w.size >= line.size * SMALL_RATIO for w in line.words) else line.bottom
    marks = [w for w in line.words[1:] if w.size < min(line.size, body) * SMALL_RATIO
             and w.bottom < baseline - 0.15 * w.size and _MARK.match(w.text)]
    for mark in marks:
        line.words.remove(mark)
    return len(marks)


def _vocabulary(lines: list[_Line]) -> set[str]:
    """Every word of the document as written, lower case (to tell hyphenation from hyphens)."""
    return {word.strip(".,;:!?()\"'“”’").lower() for line in lines for word in line.text.split()}


class _Blocks:
    """Lines in reading order turned into blocks."""

    def __init__(self, pages: list[_Page], body: float, vocabulary: set[str]) -> None:
        self.items = [item for page in pages for item in page.items]
        self.body = body
        self.vocabulary = vocabulary
        pitches = [b.top - a.top for a, b in zip(self.items, self.items[1:], strict=False)
                   if isinstance(a, _Line) and isinstance(b, _Line) and a.page == b.page
                   and a.column == b.column and a.size == b.size == body and b.top > a.top]
        # Most pitches are within paragraphs, the wider ones between them.
        self.pitch = sorted(pitches)[len(pitches) // 5] if pitches else body * 1.2
        # In a case set in bold type, boldness marks no heading.
        lines = [item for item in self.items if isinstance(item, _Line)]
        self.body_bold = sum(len(line.text) for line in lines if line.bold) > \
            sum(len(line.text) for line in lines) / 2
        self.blocks: list[Block] = []
        self.current: list[_Line] = []
        self.kind = "paragraph"
        self.notes: list[Block] = []
        self.note: list[_Line] = []
        self.note_number = 0

    def read(self) -> list[Block]:
        title = self._title()
        self.blocks = [Block("title", " ".join(line.text for line in title),
                             (title[0].page, title[0].page))] if title else []
        previous: _Line | None = None
        for item in self.items:
            if isinstance(item, _Table):
                self._flush()
                self.blocks.append(Block("table", pages=(item.page, item.page), rows=item.rows))
                previous = None
                continue
            if item in title or self._note_line(item):
                continue
            self._line(item, previous)
            previous = item
        self._flush()
        self._flush_note()
        return self.blocks + self.notes

    def _note_line(self, line: _Line) -> bool:
        """Take a line of a note (small type, starting with its number, or going on from one);
        notes do not interrupt the body, so a paragraph goes on after the notes at a page's foot."""
        small = line.size <= self.body * SMALL_RATIO
        start = _NOTE_START.match(line.words[0].text) if small else None
        if start is not None:
            self._flush_note()
            self.note_number = int(start.group(1))
            rest = line.words[0].text[start.end():]
            if rest:
                line.words[0].text = rest
            elif len(line.words) > 1:
                line.words = line.words[1:]
            self.note = [line]
            return True
        if small and self.note and line.page == self.note[-1].page \
                and line.top - self.note[-1].bottom < self.pitch:
            self.note.append(line)
            return True
        self._flush_note()
        return False

    def _flush_note(self) -> None:
        if self.note:
            self.notes.append(Block("note", self._joined(self.note),
                                    (self.note[0].page, self.note[-1].page), number=self.note_number))
        self.note = []

    def _title(self) -> list[_Line]:
        """The lines of the largest type on the first page with text, when it is larger than the
        body's; else the first line, when it reads as a title."""
        lines = [item for item in self.items if isinstance(item, _Line)]
        first = [line for line in lines if line.page == lines[0].page]
        largest = max(line.size for line in first)
        if largest >= self.body * HEADING_RATIO:
            start = next(i for i, line in enumerate(first) if line.size == largest)
            end = start
            while end + 1 < len(first) and first[end + 1].size == largest:
                end += 1
            return first[start:end + 1]
        return first[:1] if looks_like_title(first[0].text) else []

    def _flush(self) -> None:
        if self.current:
            text = " ".join(self._joined(self.current).split())
            pages = (self.current[0].page, self.current[-1].page)
            kind = self.kind
            if kind == "paragraph" and len(self.current) == 1 and is_caption(text):
                kind = "caption"
            self.blocks.append(Block(kind, text, pages))
        self.current = []
        self.kind = "paragraph"

    def _line(self, line: _Line, previous: _Line | None) -> None:
        first = line.words[0].text
        if line.size >= self.body * HEADING_RATIO or (
                line.bold and not self.body_bold and len(line.words) <= HEADING_MAX_WORDS
                and not _SENTENCE_END.search(line.text) and not is_caption(line.text)):
            if self.kind == "heading" and previous is not None and previous.size == line.size \
                    and line.top - previous.bottom < self.pitch:
                self.current.append(line)  # a heading over two lines
                return
            self._flush()
            if line.text.strip().lower() in ("notes", "endnotes", "footnotes"):
                return  # the notes keep their own section
            self.kind = "heading"
            self.current = [line]
            return
        if self.kind == "heading" or self._starts_paragraph(line, previous):
            self._flush()
        if _BULLET.match(first) and len(line.words) > 1 and line.size > self.body * SMALL_RATIO:
            self._flush()
            line.words = line.words[1:]
            self.kind = "list"
        self.current.append(line)

    def _starts_paragraph(self, line: _Line, previous: _Line | None) -> bool:
        if previous is None or not self.current:
            return True
        # Lines are filled greedily: when this line's first word would have fitted at the end of
        # the previous one, the previous line was ended on purpose, so its paragraph ended.
        # A line ending in a hyphen breaks a word, whatever room it left.
        word = line.words[0]
        fitted = word.x1 - word.x0 + SPACE_EMS * self.body < previous.right - previous.x1 \
            and not _HYPHENATED.search(previous.text)
        if self.kind == "list":
            # A list item's wrapped lines are indented to its text; a new item or paragraph is not.
            return line.x0 < self.current[0].x0 + self.body * INDENT_EMS * 0.5 and fitted
        indented = line.x0 - line.left > self.body * INDENT_EMS
        if line.page != previous.page or line.column != previous.column:
            return indented or fitted
        gap = line.top - previous.top
        return gap > min(self.pitch * GAP_RATIO, self.body * GAP_EMS) or indented or fitted \
            or line.size != previous.size

    def _joined(self, lines: list[_Line]) -> str:
        text = lines[0].text
        for line in lines[1:]:
            following = line.text
            if _HYPHENATED.search(text) and following[:1].islower():
                head = text.rsplit(maxsplit=1)[-1]
                tail = following.split(maxsplit=1)[0].rstrip(".,;:!?)\"”’")
                joined = (head[:-1] + tail).lower().strip("(\"“")
                hyphenated = (head + tail).lower().strip("(\"“")
                if hyphenated in self.vocabulary and joined not in self.vocabulary:
                    text += following
                else:
                    text = text[:-1] + following
            else:
                text += " " + following
        return text
