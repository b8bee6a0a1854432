"""The case reader: `/read/{case_id}` shows the whole case as read (title, sections, numbered
paragraphs with anchors `#p{n}`, a paragraph's page and label when the case has them).

`?p=12&hl=0,2` highlights sentences 0 and 2 of paragraph 12 (the sentences an answer quotes), so
a citation in the chat opens the reader at its paragraph with what the answer relies on marked.
Sentences are counted as `vectorstore.text.sentences` splits the paragraph, as the citation's
`quote` was taken. The page is a Jinja2 template with autoescaping: case text never becomes markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vectorstore.text import sentences

if TYPE_CHECKING:
    from fastapi import APIRouter

    from bot.answer import Citation
    from bot.rag.chain import CaseBot
    from vectorstore.store import LoadedCase

TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class Sentence:
    text: str
    marked: bool


@dataclass(frozen=True)
class Paragraph:
    """One paragraph as the reader shows it."""

    number: int
    label: str
    section: str
    page: str
    sentences: tuple[Sentence, ...]


def reader_link(citation: Citation, case_id: str, root: str = "/") -> str:
    """The reader's URL for a citation: at its paragraph, its quoted sentences highlighted."""
    query = f"?p={citation.paragraph}"
    marked = quote_indexes(citation)
    if marked:
        query += "&hl=" + ",".join(str(i) for i in marked)
    return f"{root}read/{case_id}{query}#p{citation.paragraph}"


def quote_indexes(citation: Citation) -> list[int]:
    """The positions, among the paragraph's sentences, of the sentences the citation quotes."""
    quoted = set(citation.quote)
    return [i for i, sentence in enumerate(sentences(citation.text)) if sentence in quoted]


def paragraphs(case: LoadedCase, highlight: int, marked: set[int]) -> list[Paragraph]:
    """The case's paragraphs in order; sentences `marked` of paragraph `highlight` are marked."""
    first: dict[int, dict[str, Any]] = {}
    for meta in case.metadatas:
        first.setdefault(int(meta["paragraph"]), meta)
    shown = []
    for number in sorted(first):
        meta = first[number]
        # Stored as page_first/page_last (0: a case without pages).
        pages = (int(meta.get("page_first") or 0), int(meta.get("page_last") or 0))
        page = pages if pages[0] else None
        shown.append(Paragraph(
            number, str(meta.get("label") or f"¶{number}"), str(meta["section"]),
            _page(page),
            tuple(Sentence(s, number == highlight and i in marked)
                  for i, s in enumerate(sentences(str(meta["paragraph_text"]))))))
    return shown


def _page(page: Any) -> str:
    """A paragraph's page as shown: "4", "4–5" for a paragraph over two pages, "" without one."""
    if isinstance(page, list | tuple):
        return "–".join(str(p) for p in dict.fromkeys(page))
    return "" if page in (None, "", 0) else str(page)


def _numbers(raw: str) -> set[int]:
    return {int(part) for part in raw.split(",") if part.strip().isdigit()}


def reader_router(bot: CaseBot, lti_only: bool = False) -> APIRouter:
    """GET /read/{case_id}: the case as read, as one HTML page; with `lti_only`
    (CASEBOT_ACCESS=lti) only a launch's own case, as its chat answers about it only."""
    from fastapi import APIRouter, HTTPException
    from fastapi.templating import Jinja2Templates

    from vectorstore.store import CaseNotFoundError

    templates = Jinja2Templates(directory=str(TEMPLATES))
    router = APIRouter()

    def read(request: Any) -> Any:
        if lti_only:
            from bot.lti.routes import lti_user

            launched = lti_user(request)
            if launched is None or launched.case_id != request.path_params["case_id"]:
                raise HTTPException(403, "This casebot is for the students of a course: open the "
                                    "case from the activity in your course portal.")
        try:
            case = bot.library.load(request.path_params["case_id"])
        except CaseNotFoundError as error:
            raise HTTPException(404, str(error)) from None
        raw = request.query_params.get("p", "")
        highlight = int(raw) if raw.isdigit() else 0
        sections: list[tuple[str, list[Paragraph]]] = []
        for paragraph in paragraphs(case, highlight, _numbers(request.query_params.get("hl", ""))):
            if not sections or sections[-1][0] != paragraph.section:
                sections.append((paragraph.section, []))
            sections[-1][1].append(paragraph)
        return templates.TemplateResponse(request, "reader.html",
                                          {"title": case.info.title, "sections": sections})

    # A plain route: FastAPI could not resolve the lazily imported Request annotation.
    router.add_route("/read/{case_id}", read, methods=["GET", "HEAD"], include_in_schema=False)
    return router
