"""Paragraph and section detection: turn a case's text into numbered, located paragraphs.

Numbering rule: every block of text in reading order gets the next number, the case title (the
first line) included, so ¶1 is the title; section headings open sections and are not numbered.
Bullet items are paragraphs of their own. Offsets point into the text exactly as it was loaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vectorstore.text import content_hash, iter_lines

_BULLET = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+")
_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_HEADING_MAX_CHARS = 100
_HEADING_MAX_WORDS = 12
_TITLE_MAX_CHARS = 200


class EmptyCaseError(ValueError):
    """The text holds no paragraph to answer from."""


@dataclass(frozen=True)
class Paragraph:
    """One numbered paragraph of a case, with where it stands in the source text.

    `kind` is paragraph, exhibit or note; `label` how answers name it ("Exhibit 1", "Note 3";
    empty: "¶n"); `pages` the first and last page it is on, for cases read from pages; `figure`
    marks an exhibit that is a chart or an image, with no text to read.
    """

    number: int
    section: str
    text: str
    start: int
    end: int
    kind: str = "paragraph"
    label: str = ""
    pages: tuple[int, int] | None = None
    figure: bool = False

    @property
    def hash(self) -> str:
        return content_hash(self.text)


@dataclass(frozen=True)
class ParsedCase:
    """A case split into paragraphs: its id, title and paragraphs in reading order."""

    case_id: str
    title: str
    paragraphs: tuple[Paragraph, ...]

    @property
    def sections(self) -> list[str]:
        return list(dict.fromkeys(p.section for p in self.paragraphs if p.section))


@dataclass(frozen=True)
class _Line:
    start: int
    end: int
    text: str

    @property
    def blank(self) -> bool:
        return not self.text.strip()


def _looks_like_heading(line: str, max_chars: int = _HEADING_MAX_CHARS) -> bool:
    stripped = line.strip()
    if not stripped or len(stripped) > max_chars or _BULLET.match(line):
        return False
    if len(stripped.split()) > _HEADING_MAX_WORDS and max_chars == _HEADING_MAX_CHARS:
        return False
    return stripped[-1] not in ".!?,;:\"”'’)" and (stripped[0].isupper() or stripped[0].isdigit())


def looks_like_title(line: str) -> bool:
    """Whether a first line reads as a case's title (short, no closing punctuation)."""
    return _looks_like_heading(line, _TITLE_MAX_CHARS)


def _content_span(text: str, line: _Line, prefix: re.Pattern[str] | None = None) -> tuple[int, int]:
    """Span of a line's content in `text`, without indentation, a bullet or heading marker."""
    start, end = line.start, line.end
    if prefix is not None and (match := prefix.match(line.text)):
        start += match.end()
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _heading_span(text: str, line: _Line, md: re.Match[str] | None) -> tuple[int, int]:
    """Span of a heading's words: a Markdown heading without its `#` marks, else the trimmed line."""
    if md is not None:
        return line.start + md.start(2), line.start + md.end(2)
    return _content_span(text, line)


def parse_case(text: str, case_id: str) -> ParsedCase:
    """Split a case's text into a title and numbered paragraphs grouped by section.

    Plain text may hold one paragraph per line, or paragraphs wrapped over several lines and
    separated by blank lines; both are recognised. Markdown headings and bullets are understood.
    """
    lines = [_Line(a, b, text[a:b]) for a, b in iter_lines(text)]
    content = [line for line in lines if not line.blank]
    if not content:
        raise EmptyCaseError("the file holds no text")
    # Wrapped paragraphs: blank lines separate blocks and most blocks span several lines.
    blank_separated = sum(line.blank for line in lines) >= max(1, len(content) // 4)

    title = ""
    section = ""
    paragraphs: list[Paragraph] = []
    current: list[tuple[int, int]] = []

    def flush() -> None:
        if current:
            start, end = current[0][0], current[-1][1]
            paragraphs.append(Paragraph(len(paragraphs) + 1, section, text[start:end], start, end))
            current.clear()

    for index, line in enumerate(lines):
        if line.blank:
            flush()
            continue
        md = _MD_HEADING.match(line.text)
        if not title:
            # The first line names the case; it is also ¶1 when it reads as a title.
            start, end = _heading_span(text, line, md)
            if md or looks_like_title(line.text):
                title = text[start:end]
                paragraphs.append(Paragraph(1, "", title, start, end))
                continue
            title = case_id
        following = next((n for n in lines[index + 1:] if not n.blank), None)
        # In wrapped text a line continued by a lower-case line starts a sentence, not a section.
        continued = (blank_separated and index + 1 < len(lines) and not lines[index + 1].blank
                     and lines[index + 1].text.lstrip()[:1].islower())
        if md or (following is not None and _looks_like_heading(line.text) and not current
                  and not continued):
            flush()
            start, end = _heading_span(text, line, md)
            section = text[start:end]
            continue
        bullet = _BULLET.match(line.text)
        if bullet or not blank_separated:
            flush()
        span = _content_span(text, line, _BULLET if bullet else None)
        if span[1] > span[0]:
            current.append(span)
        if not blank_separated:
            flush()
    flush()
    if not any(p.section or p.number > 1 for p in paragraphs):
        raise EmptyCaseError("the file holds only a title or headings, no paragraphs")
    return ParsedCase(case_id, title, tuple(paragraphs))
