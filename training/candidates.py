"""The extractive answerer's candidates for every question of a set, dumped once, so the learned
models are trained and compared offline in seconds rather than by asking every question again.

For each question it keeps what the answerer computes before deciding anything: every candidate
sentence of the retrieved paragraphs with its evidence features (`ScoredSentence.features`), its
similarity read with the sentence it leans on, its answer type, and the question's `Signals` (the
rules' verdicts, the best retrieval score, how much of the question the case's words cover). The
gold answer rides along (a case question's `must_include` strings and evidence sentences, or an
article question's SQuAD answers), so `training/train_answerer.py` can label each candidate and
replay the answerer's decision and selection over any scorer.

The cases and articles are ingested into `--work-dir` once (an unchanged case is not embedded
again) and each dump is written there as JSON lines, one question a line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import astuple
from pathlib import Path
from typing import Any

from bot.answerers.extractive import ExtractiveAnswerer
from bot.lang.english import STRICT_TYPES, SYNTHESIS


def split_cases(folder: Path, split: str) -> list[str]:
    """The case ids `folder/splits.json` puts in `split` (the sealed test splits, "test" and any
    later "test-<n>", are refused)."""
    if split == "test" or split.startswith("test-"):
        raise SystemExit(f"the {split} split is sealed: it is only run once, by benchmarks/generality.py")
    return list(json.loads((folder / "splits.json").read_text(encoding="utf-8"))[split])


def case_source(folder: Path, case_id: str) -> Path:
    """The case file of `case_id` in `folder` (training/data's layout: cases/<id>/case.*)."""
    return next((folder / "cases" / case_id).glob("case.*"))


def case_questions(folder: Path, case_ids: Iterable[str], library: Any
                   ) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each question of the named cases (ingested into `library`), as the dump's question part."""
    from bot.evaluation.questions import load_questions
    from ingest.pipeline import ingest_file

    for case_id in case_ids:
        ingest_file(case_source(folder, case_id), library, progress=False)
        for q in load_questions(folder / "cases" / case_id / "questions.jsonl"):
            yield case_id, {"id": q.id, "question": q.question,
                            "history": [{"role": t.role, "content": t.content} for t in q.history],
                            "answerable": bool(q.answerable), "category": q.category,
                            "must_include": list(q.must_include), "evidence": list(q.evidence)}


def article_questions(articles: Iterable[Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each question of the SQuAD-format articles (already ingested), as the dump's question part."""
    for article in articles:
        for q in article.questions:
            yield article.case_id, {"id": q.id, "question": q.question, "history": [],
                                    "answerable": q.answerable, "category": "article",
                                    "answers": list(q.answers)}


def candidates(bot: Any, case_id: str, item: dict[str, Any]) -> dict[str, Any]:
    """One dump line: the question part, its signals and its candidates by the hand-set score."""
    from bot.answer import Turn

    answerer: ExtractiveAnswerer = bot.answerer
    history = tuple(Turn(t["role"], t["content"]) for t in item["history"])
    evidence = bot.evidence(item["question"], history, case_id)
    scored = answerer.score(evidence)
    signals = answerer.signals(evidence, scored)
    wanted = answerer.wanted_type(evidence)
    return {**item, "case": case_id, "strict": wanted in STRICT_TYPES,
            "synthesis": bool(SYNTHESIS.search(evidence.question)),
            "signals": list(astuple(signals)),
            "candidates": [{"row": s.row, "paragraph": s.paragraph, "text": s.text,
                            "typed": s.typed, "features": [round(f, 6) for f in s.features],
                            "leaned": round(s.leaned, 6)} for s in scored]}


def dump(bot: Any, questions: Iterable[tuple[str, dict[str, Any]]], path: Path) -> list[dict[str, Any]]:
    """Write the dump of `questions` to `path` (JSON lines) and return its lines."""
    from tqdm import tqdm

    lines = []
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for case_id, item in tqdm(questions, desc=path.stem, unit="question", file=sys.stderr):
            line = candidates(bot, case_id, item)
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            lines.append(line)
    return lines


def read_dump(path: Path) -> list[dict[str, Any]]:
    """The lines of a dump written by `dump`."""
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]
