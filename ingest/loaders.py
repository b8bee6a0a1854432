"""Loaders: read a case file (.txt, .md, .pdf, .docx, .html) into a parsed case, with clear errors.

Text formats (.txt, .md, .html) become text that the paragraph detector splits; laid-out documents
(.pdf, .docx) are read by their own readers, which know their blocks (ingest.pdf, ingest.word).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from ingest.layout import Reading, build_case
from ingest.paragraphs import ParsedCase, parse_case
from ingest.pdf import PdfReadError, read_pdf
from ingest.word import WordReadError, read_docx

SUPPORTED = (".txt", ".md", ".markdown", ".pdf", ".docx", ".html", ".htm")


class LoadError(ValueError):
    """A case file could not be read; the message says why and what to do."""


def case_id_for(path: Path) -> str:
    """A case id from a file name: `cases/acme/case.txt` is `acme`, `acme-2024.md` is `acme-2024`."""
    stem = path.parent.name if path.stem.lower() in ("case", "index", "text") else path.stem
    slug = re.sub(r"[^a-z0-9._-]+", "-", stem.lower()).strip("-._")
    if not slug:
        raise LoadError(f"{path}: cannot derive a case id from this file name; rename the file")
    return slug[:64].strip("-._")


LAID_OUT = (".pdf", ".docx")


def read_case(path: Path, case_id: str) -> tuple[ParsedCase, Reading]:
    """One case file as numbered paragraphs, and what its reader dropped and found; raises
    LoadError for missing, unreadable or empty files, EmptyCaseError for files with no paragraph."""
    suffix = path.suffix.lower()
    if suffix not in LAID_OUT:
        return parse_case(load_text(path), case_id), Reading()
    _check_file(path)
    try:
        blocks, reading = read_pdf(path) if suffix == ".pdf" else read_docx(path)
    except (PdfReadError, WordReadError) as error:
        raise LoadError(f"{path}: {error}") from error
    if not any(block.text or block.rows for block in blocks):
        raise LoadError(f"{path}: no text could be read from the file")
    return build_case(blocks, case_id, reading), reading


def _check_file(path: Path) -> bytes:
    """The bytes of a supported, non-empty file; raises LoadError otherwise."""
    if not path.exists():
        raise LoadError(f"{path}: no such file")
    if not path.is_file():
        raise LoadError(f"{path}: not a file")
    if path.suffix.lower() not in SUPPORTED:
        raise LoadError(f"{path}: unsupported file type; use one of {', '.join(SUPPORTED)}")
    data = path.read_bytes()
    if not data.strip():
        raise LoadError(f"{path}: the file is empty")
    return data


def load_text(path: Path) -> str:
    """The text of a plain-text, Markdown or HTML case file; raises LoadError for missing,
    unreadable or empty files (PDF and Word files are read by read_case)."""
    if path.suffix.lower() in LAID_OUT:
        raise LoadError(f"{path}: a laid-out document; read it with read_case")
    text = _decode(path, _check_file(path))
    if path.suffix.lower() in (".html", ".htm"):
        text = html_text(text)
    if "\x00" in text:
        raise LoadError(f"{path}: the file holds binary data, not text")
    if not text.strip():
        raise LoadError(f"{path}: no text could be read from the file")
    return text


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise LoadError(
            f"{path}: not UTF-8 text (byte {error.start}); save it as UTF-8 and ingest again"
        ) from error


class _TextExtractor(HTMLParser):
    """Collects visible text, one block per line, headings marked as Markdown headings."""

    _BLOCKS = frozenset("p div li h1 h2 h3 h4 h5 h6 br tr section article blockquote title".split())
    _SKIP = frozenset("script style noscript template head".split())

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n\n")
            if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
                self.parts.append("# ")
            elif tag == "li":
                self.parts.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            # Keep one space at the edges: "a <b>bold</b> word" must not become "aboldword".
            self.parts.append(re.sub(r"\s+", " ", data))


def html_text(markup: str) -> str:
    """The visible text of an HTML page, blocks separated by blank lines."""
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
