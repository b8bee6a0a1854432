"""Test question sets: load and validate the questions `casebot eval` runs.

Two file formats carry the same fields (DESIGN.md, "Question set"); only `id` and `question` are
required:

- JSONL (`.jsonl`): one JSON object a line; blank lines are skipped.
- CSV (`.csv`, UTF-8, header row with the same column names; empty cells mean "not given"):
  `history` holds the JSON list of `{"role", "content"}` turns; `expected_paragraphs` and
  `must_include` hold either a JSON list (`[12, 16]`, `["$700 million", "5%"]`) or values separated
  by `;` (`12;16`, `$700 million;5%`); a cell starting with `[` is read as JSON. `answerable` is
  `true`/`false` (also `yes`/`no`, `1`/`0`). Columns with an empty header are ignored.

Any bad line makes the whole load fail with one QuestionSetError that names the file and the line
number of every problem found, so an instructor fixes them all at once; nothing is returned
half-loaded. Unknown fields are errors too: a misspelt `expected_paragraph` would otherwise
silently score as "no expected paragraphs".
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.answer import Turn
from bot.errors import HistoryError, QuestionSetError
from bot.rag.conversation import parse_history

FIELDS = ("id", "question", "history", "answerable", "reference_answer", "expected_paragraphs",
          "must_include", "category", "evidence", "type")
CATEGORIES = ("fact", "synthesis", "paraphrase", "follow-up", "unanswerable", "off-topic", "injection",
              "student")
# What an exported records row adds (bot/records/export.py): read and ignored, so an export runs as is.
RECORD_FIELDS = ("asked_at", "answer", "abstained", "cited_paragraphs", "cited", "guided", "rating",
                 "comment", "channel")
# Exported student questions carry no label until the instructor gives one.
UNLABELLED_CATEGORY = "student"
UNCATEGORIZED = "uncategorized"
SUPPORTED_SUFFIXES = (".jsonl", ".csv")
_TRUE = frozenset({"true", "yes", "1", "y"})
_FALSE = frozenset({"false", "no", "0", "n"})


@dataclass(frozen=True)
class Question:
    """One test question with what a good answer should contain."""

    id: str
    question: str
    history: tuple[Turn, ...] = ()
    # None: unlabelled (an exported student question); scored in the answer metrics, not pass/fail.
    answerable: bool | None = True
    reference_answer: str = ""
    expected_paragraphs: tuple[int, ...] = ()
    must_include: tuple[str, ...] = ()
    category: str = UNCATEGORIZED
    # Optional labels of written training data: the case's sentences that answer the question,
    # verbatim, and the kind of question (who, where, how-much, near-miss-figure, ...).
    evidence: tuple[str, ...] = ()
    type: str = ""
    line: int = field(default=0, compare=False)


class _Invalid(ValueError):
    """One problem with one line; collected into a QuestionSetError."""


class _LineError(Exception):
    """A problem that stops reading the file (a bad CSV header or quoting)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _text(value: Any, name: str, required: bool = False) -> str:
    if value is None or value == "":
        if required:
            raise _Invalid(f"'{name}' is required")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Invalid(f"'{name}' must be text, got {type(value).__name__}")
    text = str(value).strip()
    if required and not text:
        raise _Invalid(f"'{name}' is empty")
    return text


def _boolean(value: Any) -> bool:
    if value is None or value == "":
        return True
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _Invalid(f"'answerable' must be true or false, got {value!r}")


def _paragraphs(value: Any) -> tuple[int, ...]:
    if value is None or value == "":
        return ()
    if not isinstance(value, list):
        raise _Invalid("'expected_paragraphs' must be a list of paragraph numbers, e.g. [12, 16]")
    numbers: list[int] = []
    for item in value:
        if isinstance(item, str) and item.strip().isdigit():
            item = int(item.strip())
        if isinstance(item, bool) or not isinstance(item, int) or item < 1:
            raise _Invalid(f"'expected_paragraphs' must hold paragraph numbers (1, 2, ...), got {item!r}")
        if item not in numbers:
            numbers.append(item)
    return tuple(numbers)


def _strings(value: Any, name: str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _Invalid(f"'{name}' must be a list of strings")
    items = tuple(item.strip() for item in value if item.strip())
    if len(items) != len(value):
        raise _Invalid(f"'{name}' holds an empty string")
    return items


def question_from_mapping(raw: Mapping[str, Any], line: int = 0) -> Question:
    """Validate one question object (the JSONL shape); raises ValueError with what is wrong."""
    unknown = sorted(set(raw) - set(FIELDS) - set(RECORD_FIELDS))
    if unknown:
        raise _Invalid(f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}"
                       f" (known: {', '.join(FIELDS)})")
    try:
        history = parse_history(raw.get("history"))
    except HistoryError as error:
        raise _Invalid(str(error)) from None
    expected = _paragraphs(raw.get("expected_paragraphs"))
    category = _text(raw.get("category"), "category") or UNCATEGORIZED
    given = raw.get("answerable") not in (None, "")
    labelled = given or expected or raw.get("must_include") or raw.get("reference_answer")
    # An explicit null, or a student question with nothing filled in yet, is unlabelled.
    unlabelled = not labelled and ("answerable" in raw or category == UNLABELLED_CATEGORY)
    answerable = None if unlabelled else _boolean(raw.get("answerable"))
    if expected and answerable is False:
        raise _Invalid("an unanswerable question cannot have expected_paragraphs")
    return Question(
        id=_text(raw.get("id"), "id", required=True),
        question=_text(raw.get("question"), "question", required=True),
        history=history,
        answerable=answerable,
        reference_answer=_text(raw.get("reference_answer"), "reference_answer"),
        expected_paragraphs=expected,
        must_include=_strings(raw.get("must_include"), "must_include"),
        category=category,
        evidence=_strings(raw.get("evidence"), "evidence"),
        type=_text(raw.get("type"), "type"),
        line=line,
    )


def _jsonl_rows(text: str) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as error:
            yield number, _Invalid(f"not valid JSON ({error.msg} at column {error.colno})")
            continue
        if not isinstance(raw, dict):
            yield number, _Invalid(f"expected a JSON object, got {type(raw).__name__}")
            continue
        yield number, raw


def _csv_list(cell: str, name: str) -> list[Any]:
    cell = cell.strip()
    if cell.startswith("["):
        try:
            value = json.loads(cell)
        except json.JSONDecodeError as error:
            raise _Invalid(f"'{name}' starts with '[' but is not a JSON list ({error.msg})") from None
        if not isinstance(value, list):
            raise _Invalid(f"'{name}' must be a JSON list")
        return value
    parts = [part.strip() for part in cell.split(";")]
    return [part for part in parts if part]


def _csv_mapping(header: list[str], row: list[str]) -> dict[str, Any]:
    if len(row) > len(header):
        raise _Invalid(f"{len(row)} cells but the header has {len(header)} columns")
    raw: dict[str, Any] = {}
    for name, cell in zip(header, row, strict=False):
        if not name or not cell.strip() or name in RECORD_FIELDS:
            continue
        if name == "history":
            try:
                raw[name] = json.loads(cell)
            except json.JSONDecodeError as error:
                raise _Invalid(f"'history' must be a JSON list of turns ({error.msg})") from None
        elif name in ("expected_paragraphs", "must_include", "evidence"):
            raw[name] = _csv_list(cell, name)
        else:
            raw[name] = cell
    return raw


def _csv_rows(text: str) -> Iterator[tuple[int, Any]]:
    reader = csv.reader(text.splitlines(keepends=True))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        return
    except csv.Error as error:
        raise _LineError(1, f"bad CSV header: {error}") from None
    for name in ("id", "question"):
        if name not in header:
            raise _LineError(1, f"the header has no '{name}' column (columns: {', '.join(header)})")
    unknown = [name for name in header if name and name not in FIELDS + RECORD_FIELDS]
    if unknown:
        raise _LineError(1, f"unknown column{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join(map(repr, unknown))} (known: {', '.join(FIELDS)})")
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise _LineError(start, f"bad CSV: {error}") from None
        if not any(cell.strip() for cell in row):
            continue
        try:
            yield start, _csv_mapping(header, row)
        except _Invalid as error:
            yield start, error


def load_questions(path: Path | str) -> tuple[Question, ...]:
    """Every question of a .jsonl or .csv file; QuestionSetError (file and line numbers) otherwise."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise QuestionSetError(path, [(0, f"unsupported file type {suffix or '(none)'}; "
                                          f"use {' or '.join(SUPPORTED_SUFFIXES)}")])
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise QuestionSetError(path, [(0, "no such file")]) from None
    except IsADirectoryError:
        raise QuestionSetError(path, [(0, "is a folder, not a question file")]) from None
    except UnicodeDecodeError as error:
        raise QuestionSetError(path, [(0, f"not UTF-8 text ({error.reason})")]) from None

    questions: list[Question] = []
    problems: list[tuple[int, str]] = []
    first_line: dict[str, int] = {}
    rows = _jsonl_rows(text) if suffix == ".jsonl" else _csv_rows(text)
    try:
        for number, raw in rows:
            if isinstance(raw, _Invalid):
                problems.append((number, str(raw)))
                continue
            try:
                question = question_from_mapping(raw, number)
            except _Invalid as error:
                problems.append((number, str(error)))
                continue
            if question.id in first_line:
                problems.append((number, f"duplicate id {question.id!r} (first used on line "
                                         f"{first_line[question.id]})"))
                continue
            first_line[question.id] = number
            questions.append(question)
    except _LineError as error:
        problems.append((error.line, error.message))
    if problems:
        raise QuestionSetError(path, sorted(problems))
    if not questions:
        raise QuestionSetError(path, [(0, "holds no questions")])
    return tuple(questions)
