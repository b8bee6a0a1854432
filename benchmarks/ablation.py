"""Which of the extractive answerer's rules pay: each switched off in turn, on both kinds of data.

For every variant (the answerer as it is, then with one rule switched off) it asks the SQuAD
articles' questions (as benchmarks/generality.py does) and the bundled case's question sets (as
`casebot eval` does), and prints one table row per variant: pooled facts, false abstention,
abstention on unanswerable questions and mean words on the articles; must_include, false
abstention and abstention accuracy on the case's sets. A rule is kept only where switching it
off makes the pooled articles worse.

Rules are switched off by replacing one method or function of the answerer in this process only.

Run: `.venv/bin/python benchmarks/ablation.py [--max-questions 25] [--variants a,b]`.
The case's sets are read from `cases/<id>/*.jsonl` of the checkout; the bundled case is ingested into
`--work-dir` like the articles.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from benchmarks.generality import DEFAULT_DATA, Tally, evaluate_article  # noqa: E402
from bot.settings import quiet_libraries  # noqa: E402

CASE_SETS = ("questions.jsonl", "heldout.jsonl")


def _variants() -> dict[str, Callable[[], AbstractContextManager[None]]]:
    """Each variant: a context manager that switches one rule off while it is open."""
    from bot.answerers import extractive
    from bot.answerers.extractive import ExtractiveAnswerer

    def patched(owner: Any, name: str, value: Any) -> Callable[[], AbstractContextManager[None]]:
        @contextmanager
        def switch() -> Iterator[None]:
            original = owner.__dict__[name]
            setattr(owner, name, value)
            try:
                yield
            finally:
                setattr(owner, name, original)
        return switch

    @contextmanager
    def nothing() -> Iterator[None]:
        yield

    return {
        "as it is": nothing,
        "no topic-word check": patched(ExtractiveAnswerer, "_unknown_focus", lambda self, e: []),
        "no counted-noun check": patched(ExtractiveAnswerer, "_counts", lambda self, s, n, e: True),
        "no answer-type check": patched(ExtractiveAnswerer, "_with_wanted_answer_first",
                                        lambda self, e, scored: scored),
        "answer type from the best only": patched(extractive, "_TYPED_REACH", 1),
        "no word budget": patched(extractive, "_ANSWER_WORDS", 10**6),
        "at most 50 words chosen": patched(extractive, "_ANSWER_WORDS", 50),
        "no subject-name removal": patched(ExtractiveAnswerer, "_topic_text",
                                           staticmethod(lambda query, case: None)),
        "no list items": patched(ExtractiveAnswerer, "_with_enumeration", lambda self, e, chosen: chosen),
    }


def case_metrics(bot: Any, case_id: str, folder: Path) -> dict[str, float | None]:
    """must_include, false abstention and abstention accuracy over the case's question sets."""
    from bot.evaluation.metrics import aggregate, score_question
    from bot.evaluation.questions import load_questions
    from bot.evaluation.runner import ask_question, outcome_of

    scores = []
    for name in CASE_SETS:
        for question in load_questions(folder / name):
            row = ask_question(bot, question, case_id)
            scores.append(score_question(question, outcome_of(row)))
    metrics, _ = aggregate(scores)
    return {k: metrics.get(k) for k in ("must_include", "false_abstention_rate", "abstention_accuracy")}


def main(argv: Sequence[str] | None = None) -> int:
    """Run every variant on the articles and the case; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SQuAD-format JSON")
    parser.add_argument("--max-questions", type=int, default=25, metavar="N",
                        help="a seeded sample of at most N questions per article (default 25)")
    parser.add_argument("--case", default="xpeng-volkswagen", help="the case whose sets are asked")
    parser.add_argument("--variants", default=None, help="comma-separated variant names (default: all)")
    parser.add_argument("--work-dir", type=Path, default=REPO / ".cache" / "generality")
    parser.add_argument("--seed", type=int, default=20260)
    args = parser.parse_args(argv)
    quiet_libraries()

    from benchmarks.squad import load_articles, open_articles
    from bot.answerers.extractive import ExtractiveAnswerer
    from bot.rag.chain import CaseBot
    from ingest.pipeline import ingest_file

    started = time.perf_counter()
    articles = load_articles(args.data)
    library = open_articles(articles, args.work_dir, progress=False)
    case_folder = REPO / "cases" / args.case
    ingest_file(case_folder / "case.txt", library)
    # The hand-set score alone: the shipped sentence reader was trained on these articles.
    bot = CaseBot(library, ExtractiveAnswerer(reader=None))
    variants = _variants()
    chosen = args.variants.split(",") if args.variants else list(variants)
    print("| variant | facts | false abst. | abst. on unans. | words | case must_include | "
          "case false abst. | case abst. accuracy |\n|---|---|---|---|---|---|---|---|")
    for name in chosen:
        with variants[name]():
            pooled = Tally(name)
            for article in articles:
                pooled.add(evaluate_article(article, bot, args.max_questions, args.seed, None))
            case = case_metrics(bot, args.case, case_folder)
        a = max(pooled.answerable, 1)
        print(f"| {name} | {pooled.facts / a:.3f} | {pooled.false_abstentions / a:.3f} | "
              f"{pooled.caught / max(pooled.unanswerable, 1):.3f} | "
              f"{pooled.words / max(pooled.answered, 1):.1f} | "
              + " | ".join(f"{v:.3f}" if v is not None else "n/a" for v in case.values()) + " |",
              flush=True)
    print(f"\n{args.max_questions} questions per article (seed {args.seed}); case sets: "
          f"{', '.join(CASE_SETS)}. Total time {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
