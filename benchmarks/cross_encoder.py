"""Does the sentence reader rank the answer sentence better than the hand-set score?

The sentence reader (bot/answerers/reader.py) is a cross-encoder: it reads the question and a
candidate sentence together, which a bi-encoder such as the bundled MiniLM cannot. This benchmark
trains one exactly as `make train` does (training/train_reader.py) but on half of the SQuAD-format
articles (every other one), and judges it on the other half (a seeded sample of answerable
questions) and on the bundled case's development and held-out sets (answerable single questions
whose `must_include` one sentence holds): the share of questions whose best of the first eight
candidates holds the answer, by the hand-set score, by the reader alone, and by the hand-set score
plus the reader's score standardised within the question times a weight (the answerer uses 0.1).

Run: `.venv/bin/python benchmarks/cross_encoder.py [--epochs 2]` (about 12 minutes of training
and five for the questions).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from benchmarks.generality import (  # noqa: E402
    add_article_options,
    bundled_case_questions,
    open_chosen_articles,
)
from bot.answerers.reader import SentenceReader  # noqa: E402
from bot.settings import DEFAULT_CASE, quiet_libraries  # noqa: E402
from training.train_reader import (  # noqa: E402
    REORDERED,
    Ranked,
    article_questions,
    candidates,
    fresh_reader,
    train,
)

BLENDS = (0.0, 0.05, 0.1, 0.2, 0.4, 1.0)


def states_one(text: str, needed: Sequence[str]) -> bool:
    """Whether a sentence states one of a case question's `must_include` phrases."""
    return any(phrase.lower() in text.lower() for phrase in needed)


def judge(reader: SentenceReader, questions: Sequence[Ranked]) -> dict[float, float]:
    """Per blend weight: the share of questions whose best candidate holds the answer."""
    hits = dict.fromkeys((*BLENDS, float("inf")), 0)
    for ranked in questions:
        read = reader.scores(ranked.question, ranked.texts[:REORDERED])
        standard = (read - read.mean()) / (read.std() + 1e-6)
        hand = np.array(ranked.scores[:REORDERED])
        for weight in hits:
            blended = standard if weight == float("inf") else hand + weight * standard
            hits[weight] += ranked.holds[int(np.argmax(blended))]
    return {weight: count / max(len(questions), 1) for weight, count in hits.items()}


def main(argv: Sequence[str] | None = None) -> int:
    """Train a reader on every other article, judge it on the rest and on the case."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_article_options(parser)
    parser.add_argument("--epochs", type=float, default=2.0,
                        help="passes over the training questions (default 2: about as many steps as "
                             "make train's 1.5 over every article)")
    parser.add_argument("--judged", type=int, default=500, metavar="N",
                        help="a seeded sample of N questions of the held-out articles to judge")
    parser.add_argument("--save", type=Path, metavar="FILE",
                        help="write the reader's weights here, e.g. for `generality.py --reader FILE "
                             "--articles 1,3,5,7,9` (the articles it was not trained on)")
    args = parser.parse_args(argv)
    quiet_libraries()

    started = time.perf_counter()
    articles, bot = open_chosen_articles(args)
    trained_on = article_questions(bot, articles[0::2])
    held = article_questions(bot, articles[1::2])
    held = random.Random(args.seed).sample(held, min(args.judged, len(held)))
    case: list[Ranked] = []
    for _, item in bundled_case_questions(bot.library):
        if item.answerable and item.must_include:
            found = candidates(bot, item.question, DEFAULT_CASE,
                               partial(states_one, needed=item.must_include))
            case.extend([found] if found else [])
    print(f"  {len(trained_on)} training questions, {len(held)} judged, {len(case)} of the case",
          file=sys.stderr)
    reader = fresh_reader(args.seed)
    steps = train(reader, trained_on, args.epochs, args.seed)
    if args.save:
        reader.save(args.save)
    on_articles, on_case = judge(reader, held), judge(reader, case)
    label = {0.0: "hand-set score", float("inf"): "reader alone"}
    rows = "\n".join(f"| {label.get(w, f'hand-set + {w:g} x reader')} | {on_articles[w]:.3f} "
                     f"| {on_case[w]:.3f} |" for w in on_articles)
    print(f"Sentence reader trained {args.epochs:g} passes ({steps} steps of two questions) over "
          f"{len(trained_on)} questions of every other article of {args.data.name}.\n\n"
          "Share of questions whose best of the first eight candidates holds the answer:\n\n"
          f"| ranking | held-out articles ({len(held)}) | bundled case ({len(case)}) |\n"
          f"|---|---|---|\n{rows}\n\nTotal time {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
