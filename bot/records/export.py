"""Export the records as a question set that `casebot eval` runs as it is.

Each row is a valid question-set row (`id`, `question`, `history`, category `student`) plus what
happened: `asked_at`, `answer`, `abstained`, `cited_paragraphs`, `cited` (where each cited passage
was: "¶12 · p. 3"), `guided`, `rating`, `comment`, `channel`.
`answerable`, `must_include` and `expected_paragraphs` are left empty (null) for the instructor to
fill in; until then `casebot eval` reports the row as unlabelled.

In CSV, text a spreadsheet would run as a formula (a cell starting with =, +, -, @, tab or carriage
return: a student's question can be `=HYPERLINK(...)`) is neutralised as OWASP recommends: the
cell gets a leading single quote, and every cell is quoted.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from bot.answer import place_of
from bot.records.models import StoredAnswer

FORMATS = ("jsonl", "csv")
COLUMNS = ("id", "question", "history", "category", "answerable", "expected_paragraphs",
           "must_include", "asked_at", "answer", "abstained", "cited_paragraphs", "cited", "guided",
           "rating", "comment", "channel")
CATEGORY = "student"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def export_row(stored: StoredAnswer) -> dict[str, Any]:
    """One record as a question-set row (JSON values)."""
    record = stored.record
    return {
        "id": record.id,
        "question": record.question,
        "history": [{"role": t.role, "content": t.content} for t in record.history],
        "category": CATEGORY,
        "answerable": None,
        "expected_paragraphs": None,
        "must_include": None,
        "asked_at": record.asked_at.isoformat(timespec="seconds"),
        "answer": record.answer,
        "abstained": record.abstained,
        "cited_paragraphs": list(record.cited_paragraphs),
        # Where each cited passage was when the answer was given ("¶12 · p. 3", "Exhibit 1"): a
        # re-read case may number its paragraphs anew, so older answers keep their own places.
        "cited": [place_of(c.label, c.page) for c in record.citations],
        "guided": record.guided,
        "rating": stored.rating,
        "comment": stored.comment or None,
        "channel": record.channel,
    }


def jsonl_lines(records: Iterable[StoredAnswer]) -> Iterator[str]:
    """The rows as JSON Lines, one line (with its newline) each."""
    for stored in records:
        yield json.dumps(export_row(stored), ensure_ascii=False) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        # A JSON list, as the question-set CSV reads it; empty lists stay empty cells.
        return json.dumps(value, ensure_ascii=False) if value else ""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_lines(records: Iterable[StoredAnswer]) -> Iterator[str]:
    """The rows as CSV with a header line (the question-set CSV format)."""
    yield ",".join(COLUMNS) + "\n"
    buffer = io.StringIO()
    # Every data cell quoted: a neutralised formula stays one text cell in any spreadsheet.
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    for stored in records:
        buffer.seek(0)
        buffer.truncate()
        row = export_row(stored)
        writer.writerow([_cell(row[name]) for name in COLUMNS])
        yield buffer.getvalue()


def export_lines(records: Iterable[StoredAnswer], fmt: str) -> Iterator[str]:
    """The rows in `fmt` (jsonl or csv); ValueError for another format."""
    if fmt == "jsonl":
        return jsonl_lines(records)
    if fmt == "csv":
        return csv_lines(records)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
