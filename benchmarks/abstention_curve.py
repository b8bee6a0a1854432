"""Abstention trade-off: how many unanswerable questions the answerer declines against how many
answerable ones it wrongly declines, as its similarity floor moves.

The extractive answerer declines when the best sentence it found is less similar to the question
than `min_similarity` (besides its rules for names, numbers and topics the case never mentions).
This sweeps that floor over the SQuAD-format articles of `benchmarks/generality.py`: every
unanswerable question of each article (they are written to look answerable) and a seeded sample of
its answerable ones, through the same code as `casebot eval`. Per floor it prints, pooled:

- false abstention: answerable questions declined;
- abstention on unanswerable: unanswerable questions declined;
- facts: answerable questions whose answer holds a gold answer (declined ones count as misses);

then a text plot of the curve. The default floor is marked; the issue's budget is a false
abstention of at most 0.05.

Run: `.venv/bin/python benchmarks/abstention_curve.py [--floors 0.1,0.2,0.3] [--answerable N]`.
The articles are ingested into the same `--work-dir` as the generality benchmark.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from benchmarks.generality import add_article_options, parse_articles  # noqa: E402
from benchmarks.squad import SquadArticle, SquadQuestion, contains_answer, load_articles, open_articles  # noqa: E402
from bot.settings import quiet_libraries  # noqa: E402

FALSE_ABSTENTION_BUDGET = 0.05
PLOT_WIDTH = 50


@dataclass(frozen=True)
class Point:
    """The pooled outcome at one similarity floor."""

    floor: float
    false_abstention: float
    caught: float
    facts: float


def questions_of(article: SquadArticle, answerable: int, seed: int) -> list[SquadQuestion]:
    """All unanswerable questions of an article and a seeded sample of its answerable ones."""
    import numpy as np

    unanswerable = [q for q in article.questions if not q.answerable]
    answerables = [q for q in article.questions if q.answerable]
    if len(answerables) > answerable:
        keep = sorted(np.random.default_rng(seed).choice(len(answerables), size=answerable,
                                                         replace=False))
        answerables = [answerables[i] for i in keep]
    return unanswerable + answerables


def measure(library: Any, asked: list[tuple[str, SquadQuestion]], floor: float) -> Point:
    """Ask every (case, question) with the answerer's similarity floor at `floor`."""
    from bot.answerers.extractive import ExtractiveAnswerer
    from bot.evaluation.metrics import strip_markers
    from bot.rag.chain import CaseBot

    # The hand-set score alone: the shipped sentence reader was trained on these articles.
    bot = CaseBot(library, ExtractiveAnswerer(min_similarity=floor, reader=None))
    answerable = unanswerable = declined = caught = facts = 0
    for case_id, item in asked:
        answer = bot.ask(item.question, (), case_id)
        if not item.answerable:
            unanswerable += 1
            caught += answer.abstained
            continue
        answerable += 1
        declined += answer.abstained
        facts += not answer.abstained and contains_answer(strip_markers(answer.answer), item.answers)
    return Point(floor, declined / max(answerable, 1), caught / max(unanswerable, 1),
                 facts / max(answerable, 1))


def plot(points: list[Point], default: float) -> str:
    """The curve as text: one bar per floor, its length the share of unanswerable questions
    declined, with the false abstention beside it."""
    lines = ["floor  abstention on unanswerable (#) | false abstention"]
    for point in points:
        bar = "#" * round(point.caught * PLOT_WIDTH)
        mark = " <- default" if abs(point.floor - default) < 1e-9 else ""
        over = " (over budget)" if point.false_abstention > FALSE_ABSTENTION_BUDGET else ""
        lines.append(f"{point.floor:5.2f}  {bar:<{PLOT_WIDTH}} {point.caught:.3f} | "
                     f"{point.false_abstention:.3f}{over}{mark}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Ingest the articles, sweep the floor, print the table and the plot."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_article_options(parser)
    parser.add_argument("--answerable", type=int, default=40, metavar="N",
                        help="a seeded sample of at most N answerable questions per article "
                             "(default 40); every unanswerable one is asked")
    parser.add_argument("--floors", default="0.1,0.15,0.2,0.25,0.3,0.35,0.4", metavar="A,B",
                        help="the similarity floors to try (default 0.1 to 0.4)")
    args = parser.parse_args(argv)
    try:
        floors = sorted({float(part) for part in args.floors.split(",") if part.strip()})
    except ValueError:
        parser.error(f"--floors: not a comma-separated list of numbers: {args.floors!r}")
    if not floors or not all(0.0 <= f <= 1.0 for f in floors):
        parser.error("--floors: give numbers between 0 and 1")
    quiet_libraries()

    from bot.answerers.extractive import ExtractiveAnswerer

    started = time.perf_counter()
    articles = load_articles(args.data)
    chosen = [articles[i] for i in parse_articles(args.articles, len(articles))]
    library = open_articles(chosen, args.work_dir)
    asked = [(a.case_id, q) for a in chosen for q in questions_of(a, args.answerable, args.seed)]
    points = []
    for floor in floors:
        points.append(measure(library, asked, floor))
        print(f"  floor {floor:.2f}: done", file=sys.stderr)
    default = ExtractiveAnswerer().min_similarity
    answerable = sum(q.answerable for _, q in asked)
    print(f"Data: {args.data.name}; {len(chosen)} articles; {answerable} answerable questions "
          f"(seed {args.seed}, at most {args.answerable} per article) and "
          f"{len(asked) - answerable} unanswerable.\n")
    print("| similarity floor | false abstention | abstention on unanswerable | facts |\n"
          "|---|---|---|---|")
    for point in points:
        name = f"**{point.floor:.2f}** (default)" if abs(point.floor - default) < 1e-9 \
            else f"{point.floor:.2f}"
        print(f"| {name} | {point.false_abstention:.3f} | {point.caught:.3f} | {point.facts:.3f} |")
    within = [p for p in points if p.false_abstention <= FALSE_ABSTENTION_BUDGET]
    if within:
        best = max(within, key=lambda p: (p.caught, p.facts))
        print(f"\nWithin a false abstention of {FALSE_ABSTENTION_BUDGET}: the floor {best.floor:.2f} "
              f"declines {best.caught:.3f} of the unanswerable questions.")
    print("\n" + plot(points, default))
    print(f"\nTotal time {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
