"""Guide benchmark (not a test): how often assignment questions, asked in a student's words, get a
hint instead of an answer, and how often ordinary questions about the case get one by mistake.

Run with `make bench-guide` or `.venv/bin/python benchmarks/guide.py`. Data in benchmarks/data/guide/:
`assignment.json` (four discussion questions an instructor wrote for the bundled case) and
`paraphrases.jsonl` (12 paraphrases of each, written by someone who saw neither the matcher nor
its threshold, and 24 other questions about the case, `"assignment": null`). The case's ordinary
fact questions are those of category `fact` in questions.jsonl, heldout.jsonl and heldout-fresh.jsonl.

The threshold is chosen on half of the paraphrases (the first six of each assignment question)
and half of the other questions: the lowest score that guides at most 5% of the fact questions.
The other half is reported on its own, with the threshold the code ships (MATCH_THRESHOLD).
Everything runs through the real bot (real MiniLM, a real Chroma index in a temporary folder).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.settings import BUNDLED_CASES, DEFAULT_CASE, quiet_libraries  # noqa: E402

quiet_libraries()

DATA = REPO / "benchmarks" / "data" / "guide"
FACT_SETS = ("questions.jsonl", "heldout.jsonl", "heldout-fresh.jsonl")
FACT_TARGET, PARAPHRASE_TARGET = 0.05, 0.90


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def choose_threshold(fact_scores: list[float], share: float = FACT_TARGET) -> float:
    """The lowest threshold (a score just above one of the facts') guiding at most `share` of them."""
    ranked = sorted(fact_scores, reverse=True)
    allowed = int(share * len(ranked))
    return ranked[allowed] + 1e-4 if allowed < len(ranked) else 0.0


def main() -> int:
    from bot.answer import Turn
    from bot.answerers.extractive import ExtractiveAnswerer
    from bot.rag.chain import CaseBot
    from bot.teaching.assignment import MATCH_THRESHOLD, AssignmentMatcher
    from bot.teaching.hints import Teacher
    from ingest.pipeline import ingest_paths
    from vectorstore.embeddings import SentenceEmbeddings
    from vectorstore.store import CaseLibrary, open_client

    paraphrases = _jsonl(DATA / "paraphrases.jsonl")
    facts = [q for name in FACT_SETS for q in _jsonl(BUNDLED_CASES / DEFAULT_CASE / name)
             if q.get("category") == "fact"]
    seen: dict[Any, int] = {}
    dev: list[dict[str, Any]] = []
    test: list[dict[str, Any]] = []
    for item in paraphrases:
        position = seen[item["assignment"]] = seen.get(item["assignment"], -1) + 1
        in_dev = position < 6 if item["assignment"] is not None else position % 2 == 0
        (dev if in_dev else test).append(item)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "cases" / DEFAULT_CASE
        folder.mkdir(parents=True)
        shutil.copy(BUNDLED_CASES / DEFAULT_CASE / "case.txt", folder)
        shutil.copy(DATA / "assignment.json", folder)
        embeddings = SentenceEmbeddings()
        library = CaseLibrary(open_client(Path(tmp) / "data"), embeddings)
        ingest_paths([folder.parent], library)
        case = library.load(DEFAULT_CASE)
        matcher = AssignmentMatcher(folder.parent, embeddings)

        def score(question: str) -> float:
            best = matcher.closest(question, embeddings.encode_query(question), case)
            return best.score if best is not None else 0.0

        chosen = choose_threshold([score(q["question"]) for q in facts])
        bot = CaseBot(library, ExtractiveAnswerer(), teacher=Teacher(matcher))

        def guided(items: list[dict[str, Any]]) -> str:
            hits = sum(bot.ask(q["question"], tuple(Turn(**t) for t in q.get("history", [])),
                               DEFAULT_CASE).guided for q in items)
            return f"{hits / len(items):.3f} ({hits}/{len(items)})"

        rows = []
        for name, threshold in (("chosen on the dev half", chosen),
                                ("shipped MATCH_THRESHOLD", MATCH_THRESHOLD)):
            matcher.threshold = threshold
            rows.append((f"{name}: {threshold:.3f}", guided([q for q in dev if q["assignment"]]),
                         guided([q for q in test if q["assignment"]]),
                         guided([q for q in dev if not q["assignment"]]),
                         guided([q for q in test if not q["assignment"]]), guided(facts)))
    print(f"| threshold | paraphrases guided, dev half (target >= {PARAPHRASE_TARGET}) | paraphrases "
          f"guided, held-out half | other questions guided, dev | other questions guided, held out "
          f"| fact questions guided (target <= {FACT_TARGET}) |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
