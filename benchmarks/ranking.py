"""Sentence-ranking benchmark: how often the extractive answerer ranks a sentence that states the
expected fact first, and among its first three.

For every answerable question with `must_include` strings, the default CaseBot retrieves as it does
when answering, the extractive answerer scores every sentence of the retrieved paragraphs, and the
benchmark finds the best-ranked sentence holding one of the strings ("gold"). This is the ceiling
the answerer's features put on its answers: an answer can only be right when a gold sentence is
ranked near the top, and only precise when it is ranked first.

Run: `.venv/bin/python benchmarks/ranking.py [QUESTIONS.jsonl ...]` (default: both question sets of
the bundled case). It ingests the case into a temporary store.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from benchmarks.latency import Row, render  # noqa: E402
from vectorstore.hybrid import DEFAULT_K  # noqa: E402

CASE_DIR = REPO / "cases" / "xpeng-volkswagen"
NOT_RETRIEVED = 10**6


def _normal(text: str) -> str:
    return re.sub(r"[^\w\s%$]", "", text.lower())


def gold_ranks(bot: object, answerer: object, path: Path, case_id: str) -> list[int]:
    """The rank (0 = first) of the first sentence holding a must_include string, per question;
    NOT_RETRIEVED when no retrieved sentence holds one."""
    from bot.answerers.extractive import ExtractiveAnswerer
    from bot.evaluation.questions import load_questions
    from bot.rag.chain import CaseBot

    assert isinstance(bot, CaseBot) and isinstance(answerer, ExtractiveAnswerer)
    ranks = []
    for question in load_questions(path):
        if not question.answerable or not question.must_include:
            continue
        scored = answerer.score(bot.evidence(question.question, question.history, case_id))
        wanted = [_normal(m) for m in question.must_include]
        ranks.append(next((i for i, s in enumerate(scored) if any(w in _normal(s.text) for w in wanted)),
                          NOT_RETRIEVED))
    return ranks


def rows_for(name: str, ranks: Sequence[int]) -> list[Row]:
    """Table rows for one question set."""
    count = len(ranks)

    def share(hit: int) -> str:
        return f"{hit / count:.3f} ({hit}/{count})" if count else "n/a"

    return [
        Row(f"{name}: gold sentence ranked first", share(sum(r == 0 for r in ranks))),
        Row(f"{name}: gold sentence in the first three", share(sum(r < 3 for r in ranks))),
        Row(f"{name}: no gold sentence retrieved", share(sum(r == NOT_RETRIEVED for r in ranks))),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("questions", nargs="*", type=Path,
                        default=[CASE_DIR / "questions.jsonl", CASE_DIR / "heldout.jsonl"])
    parser.add_argument("--case-file", type=Path, default=CASE_DIR / "case.txt")
    parser.add_argument("-k", type=int, default=DEFAULT_K, help="paragraphs retrieved per question")
    args = parser.parse_args(argv)
    for name, value in (("HF_HUB_OFFLINE", "1"), ("HF_HUB_DISABLE_TELEMETRY", "1"),
                        ("TOKENIZERS_PARALLELISM", "false")):
        os.environ.setdefault(name, value)

    from bot.answerers.extractive import ExtractiveAnswerer
    from bot.rag.chain import CaseBot
    from ingest.loaders import case_id_for
    from ingest.pipeline import ingest_paths
    from vectorstore.embeddings import SentenceEmbeddings
    from vectorstore.store import CaseLibrary, open_client

    with tempfile.TemporaryDirectory(prefix="casebot-ranking-") as tmp:
        library = CaseLibrary(open_client(Path(tmp) / "casebot"), SentenceEmbeddings())
        if any(o.report is None for o in ingest_paths([args.case_file], library)):
            print(f"error: could not ingest {args.case_file}", file=sys.stderr)
            return 1
        answerer = ExtractiveAnswerer()
        bot = CaseBot(library, answerer, k=args.k)
        rows = [row for path in args.questions
                for row in rows_for(path.name, gold_ranks(bot, answerer, path, case_id_for(args.case_file)))]
    print(f"Answerable questions with must_include strings; a gold sentence holds one of them; "
          f"top-{args.k} paragraphs retrieved.\n")
    print(render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
