"""Chunking: each paragraph becomes one passage (long ones, overlapping sentence windows) plus
one record per sentence, all keeping the paragraph's number, section and source offsets."""

from __future__ import annotations

from ingest.paragraphs import Paragraph, ParsedCase
from vectorstore.store import Record, Unit
from vectorstore.text import split_sentences

LONG_PARAGRAPH_WORDS = 150
WINDOW_SENTENCES = 4
WINDOW_STRIDE = 3


def _windows(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sentence windows covering every sentence, overlapping by one."""
    windows = []
    for first in range(0, len(spans), WINDOW_STRIDE):
        last = min(first + WINDOW_SENTENCES, len(spans)) - 1
        windows.append((spans[first][0], spans[last][1]))
        if last == len(spans) - 1:
            break
    return windows


def paragraph_records(case_id: str, paragraph: Paragraph) -> list[Record]:
    """The passage and sentence records of one paragraph; offsets are into the source text."""
    spans = split_sentences(paragraph.text) or [(0, len(paragraph.text))]
    unit = Unit(paragraph.kind, paragraph.label, paragraph.pages, paragraph.figure)

    def record(rid: str, kind: str, start: int, end: int) -> Record:
        return Record(rid, kind, paragraph.text[start:end], paragraph.number, paragraph.section,
                      paragraph.start + start, paragraph.start + end, paragraph.text, unit)

    base = f"{case_id}:{paragraph.number}"
    if len(paragraph.text.split()) > LONG_PARAGRAPH_WORDS and len(spans) > WINDOW_SENTENCES:
        passages = [record(f"{base}:w{i}", "passage", a, b)
                    for i, (a, b) in enumerate(_windows(spans))]
    else:
        passages = [record(base, "passage", 0, len(paragraph.text))]
    sentences = [record(f"{base}:s{i}", "sentence", a, b) for i, (a, b) in enumerate(spans)]
    return passages + sentences


def case_records(case: ParsedCase) -> list[Record]:
    """All records of a case, in reading order."""
    return [r for p in case.paragraphs for r in paragraph_records(case.case_id, p)]
