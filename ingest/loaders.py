"""Loaders: read a case file (.txt, .md, .pdf, .docx, .html) into text, with clear errors."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

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


def load_text(path: Path) -> str:
    """The text of one case file; raises LoadError for missing, unreadable or empty files."""
    if not path.exists():
        raise LoadError(f"{path}: no such file")
    if not path.is_file():
        raise LoadError(f"{path}: not a file")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise LoadError(f"{path}: unsupported file type; use one of {', '.join(SUPPORTED)}")
    data = path.read_bytes()
    if not data.strip():
        raise LoadError(f"{path}: the file is empty")
    if suffix == ".pdf":
        text = _pdf_text(path)
    elif suffix == ".docx":
        text = _docx_text(path)
    else:
        text = _decode(path, data)
        if suffix in (".html", ".htm"):
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


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(str(path))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, OSError) as error:
        raise LoadError(f"{path}: not a readable PDF ({error})") from error
    # Paragraphs in extracted PDF text are separated by blank lines between pages at best;
    # keep line structure so the paragraph detector can work on it.
    return "\n\n".join(pages)


def _docx_text(path: Path) -> str:
    from zipfile import BadZipFile

    import docx
    from docx.opc.exceptions import OpcError

    try:
        document = docx.Document(str(path))
    except (BadZipFile, OpcError, KeyError, ValueError, OSError) as error:
        raise LoadError(f"{path}: not a readable .docx file ({error})") from error
    lines = []
    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        if not text:
            continue
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        if style.lower().startswith(("heading", "title")):
            lines.append(f"# {text}")
        elif style.lower().startswith("list"):
            lines.append(f"- {text}")
        else:
            lines.append(text)
    return "\n\n".join(lines)


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
