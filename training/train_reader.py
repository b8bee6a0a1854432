"""Train the sentence reader that reorders the extractive answerer's best candidates (`make train`).

The reader (bot/answerers/reader.py) starts as the bundled all-MiniLM-L6-v2 with a fresh score
layer. For every answerable question of the SQuAD-format articles in `../shared/data/`, the
extractive answerer's hand-set score ranks the sentences of the retrieved paragraphs; the first of
its best twelve that holds a gold answer is the positive, up to seven that do not are the
negatives, and a listwise loss (softmax cross-entropy over the eight) teaches the reader to put
the positive first. Two questions a step, AdamW, a fixed number of passes over the questions in a
seeded order: the same data and seed give the same weights on the same machine.

It writes the weights in half precision (about 45 MB) to `bot/answerers/sentence_reader/` with
`training.json` beside them (the data, the seed, the steps, the time taken). About 26 minutes on
two cores, plus the articles' ingestion on the first run (kept in `--work-dir`).

Run: `make train`, or `.venv/bin/python training/train_reader.py [--articles 0,2,4] [--output FILE]`.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from benchmarks.generality import add_article_options, open_chosen_articles  # noqa: E402
from benchmarks.squad import contains_answer  # noqa: E402
from bot.answerers.reader import SHIPPED_WEIGHTS, SentenceReader  # noqa: E402
from bot.settings import quiet_libraries  # noqa: E402

CANDIDATES = 12
# A question trains the reader when one of this many best candidates holds the answer: the ones
# the answerer lets the reader reorder.
REORDERED = 8
NEGATIVES = 7
QUESTIONS_A_STEP = 2
ENCODER_RATE = 4e-5
HEAD_RATE = 1e-3
# 1.5 passes over every article's questions (about 3,000 steps, 21 minutes on two cores) keeps
# `make train` under 30 minutes; the benchmark's halves took about two passes of half as many.
EPOCHS = 1.5


@dataclass(frozen=True)
class Ranked:
    """One question with its candidate sentences, their hand-set scores and which hold the answer."""

    question: str
    texts: tuple[str, ...]
    scores: tuple[float, ...]
    holds: tuple[bool, ...]


def candidates(bot: Any, question: str, case_id: str, holds: Callable[[str], bool]) -> Ranked | None:
    """The hand-set score's best candidates for a question, or None when none of those the reader
    reorders holds the answer (nothing to learn from, or to judge)."""
    evidence = bot.evidence(question, (), case_id)
    scored = bot.answerer.hand_scored(evidence)[:CANDIDATES]
    labels = tuple(holds(s.text) for s in scored)
    if not any(labels[:REORDERED]):
        return None
    return Ranked(question, tuple(s.text for s in scored), tuple(s.score for s in scored), labels)


def article_questions(bot: Any, articles: Sequence[Any]) -> list[Ranked]:
    """The answerable questions of the articles whose candidates hold an answer, with them."""
    from tqdm import tqdm

    found = []
    for article in tqdm(articles, desc="candidates", unit="article"):
        for item in (q for q in article.questions if q.answerable):
            ranked = candidates(bot, item.question, article.case_id,
                                partial(contains_answer, answers=item.answers))
            found.extend([ranked] if ranked else [])
    return found


def listwise_loss(reader: SentenceReader, ranked: Ranked) -> Any:
    """Softmax cross-entropy of the first answer-holding sentence against up to seven others."""
    import torch

    positive = ranked.texts[ranked.holds.index(True)]
    negatives = [t for t, h in zip(ranked.texts, ranked.holds, strict=True) if not h][:NEGATIVES]
    logits = reader.logits(ranked.question, [positive, *negatives]).unsqueeze(0)
    return torch.nn.functional.cross_entropy(logits, torch.tensor([0]))


def train(reader: SentenceReader, questions: Sequence[Ranked], epochs: float, seed: int) -> int:
    """Train the reader in place for `epochs` passes over the questions; the steps taken."""
    import torch
    from tqdm import tqdm

    network = reader.network  # kept in eval mode: no dropout, as the benchmark measured it
    optimiser = torch.optim.AdamW([
        {"params": network.encoder.parameters(), "lr": ENCODER_RATE},
        {"params": network.head.parameters(), "lr": HEAD_RATE}], weight_decay=0.01)
    rng = random.Random(seed)
    steps = round(epochs * len(questions) / QUESTIONS_A_STEP)
    order: list[Ranked] = []
    with tqdm(total=steps, desc="training", unit="step") as bar:
        for _ in range(steps):
            if len(order) < QUESTIONS_A_STEP:
                order = list(questions)
                rng.shuffle(order)
            batch, order = order[:QUESTIONS_A_STEP], order[QUESTIONS_A_STEP:]
            loss = sum((listwise_loss(reader, ranked) for ranked in batch), torch.zeros(()))
            loss.backward()
            optimiser.step()
            optimiser.zero_grad()
            bar.update()
            bar.set_postfix(loss=f"{loss.item() / len(batch):.2f}", refresh=False)
    return steps


def fresh_reader(seed: int) -> SentenceReader:
    """The bundled MiniLM with a score layer drawn from `seed`, loaded now."""
    import torch

    torch.manual_seed(seed)
    reader = SentenceReader(weights=None)
    reader.warm_up()
    return reader


def main(argv: Sequence[str] | None = None) -> int:
    """Train the reader on the chosen articles and write its weights and training record."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_article_options(parser)
    parser.add_argument("--epochs", type=float, default=EPOCHS,
                        help=f"passes over the training questions (default {EPOCHS:g})")
    parser.add_argument("--output", type=Path, default=SHIPPED_WEIGHTS,
                        help=f"the weights file to write (default {SHIPPED_WEIGHTS.relative_to(REPO)})")
    args = parser.parse_args(argv)
    quiet_libraries()

    started = time.perf_counter()
    articles, bot = open_chosen_articles(args)
    questions = article_questions(bot, articles)
    reader = fresh_reader(args.seed)
    steps = train(reader, questions, args.epochs, args.seed)
    reader.save(args.output)
    record = {"data": args.data.name, "articles": [a.case_id for a in articles],
              "questions": len(questions), "epochs": args.epochs, "steps": steps,
              "questions_a_step": QUESTIONS_A_STEP, "seed": args.seed,
              "minutes": round((time.perf_counter() - started) / 60, 1)}
    args.output.with_name("training.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"Trained on {len(questions)} questions of {len(articles)} articles, {steps} steps in "
          f"{record['minutes']} minutes: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
