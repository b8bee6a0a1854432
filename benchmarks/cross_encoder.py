"""Could a cross-encoder trained here rank the answer sentence better than the hand-set score?

A cross-encoder reads the question and a candidate sentence together, which a bi-encoder such as
the bundled MiniLM cannot. No trained one ships in a wheel (DESIGN.md), so this benchmark trains
one from the bundled MiniLM within the budget `make train` would have (minutes on two cores):
MiniLM's six layers read "question [SEP] sentence", their output is mean-pooled and a linear layer
gives the score; a listwise loss (softmax over one question's candidates: the first sentence
holding a gold answer against up to seven that do not) trains it on half of the SQuAD-format
articles (every other one). The candidates are the answerer's own: the best twelve sentences of
the retrieved paragraphs by the hand-set score.

It is judged on the other half of the articles (a seeded sample of answerable questions) and on
the bundled case's three question sets (answerable single questions whose `must_include` one
sentence holds): the share of questions whose best of the first eight candidates holds the
answer, by the hand-set score, by the cross-encoder alone, and by the hand-set score plus the
cross-encoder's score standardised within the question times a weight.

Run: `.venv/bin/python benchmarks/cross_encoder.py [--minutes 14]` (the minutes of training, plus
about five for the questions).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from benchmarks.generality import (  # noqa: E402
    add_article_options,
    bundled_case_questions,
    open_chosen_articles,
)
from benchmarks.squad import contains_answer  # noqa: E402
from bot.settings import DEFAULT_CASE, quiet_libraries  # noqa: E402

CANDIDATES = 12
JUDGED = 8
NEGATIVES = 7
BLENDS = (0.0, 0.05, 0.1, 0.2, 0.4, 1.0)
MAX_TOKENS = 128


@dataclass(frozen=True)
class Ranked:
    """One question with its candidate sentences, their hand-set scores and which hold the answer."""

    question: str
    texts: tuple[str, ...]
    scores: tuple[float, ...]
    holds: tuple[bool, ...]


def states_one(text: str, needed: Sequence[str]) -> bool:
    """Whether a sentence states one of a case question's `must_include` phrases."""
    return any(phrase.lower() in text.lower() for phrase in needed)


def candidates(bot: Any, question: str, case_id: str, holds: Callable[[str], bool]) -> Ranked | None:
    """The answerer's best candidates for a question, or None when none holds the answer."""
    evidence = bot.evidence(question, (), case_id)
    scored = bot.answerer.score(evidence)[:CANDIDATES]
    labels = tuple(holds(s.text) for s in scored)
    if not any(labels[:JUDGED]):
        return None
    return Ranked(question, tuple(s.text for s in scored), tuple(s.score for s in scored), labels)


class CrossEncoder:
    """MiniLM reading a question and a sentence together, mean-pooled, then a linear score."""

    def __init__(self, seed: int) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        from vectorstore.embeddings import bundled_model_path

        torch.manual_seed(seed)
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(bundled_model_path())
        self.reader = AutoModel.from_pretrained(bundled_model_path())
        self.head = torch.nn.Linear(self.reader.config.hidden_size, 1)

    def scores(self, question: str, texts: Sequence[str]) -> Any:
        """One score per text (a tensor)."""
        batch = self.tokenizer([question] * len(texts), list(texts), truncation=True,
                               max_length=MAX_TOKENS, padding=True, return_tensors="pt")
        hidden = self.reader(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        return self.head((hidden * mask).sum(1) / mask.sum(1)).squeeze(-1)

    def train(self, questions: list[Ranked], minutes: float, seed: int) -> int:
        """Train for `minutes` on two questions a step; the number of steps taken."""
        torch = self.torch
        rng = random.Random(seed)
        optimiser = torch.optim.AdamW([
            {"params": self.reader.parameters(), "lr": 4e-5},
            {"params": self.head.parameters(), "lr": 1e-3}], weight_decay=0.01)
        started, steps = time.perf_counter(), 0
        while time.perf_counter() - started < minutes * 60:
            order = list(questions)
            rng.shuffle(order)
            for first in range(0, len(order) - 1, 2):
                loss = sum((self._loss(ranked) for ranked in order[first:first + 2]),
                           torch.zeros(()))
                loss.backward()
                optimiser.step()
                optimiser.zero_grad()
                steps += 1
                if time.perf_counter() - started >= minutes * 60:
                    break
        return steps

    def _loss(self, ranked: Ranked) -> Any:
        """Softmax cross-entropy of the first answer-holding sentence against non-holding ones."""
        positive = ranked.texts[ranked.holds.index(True)]
        negatives = [t for t, h in zip(ranked.texts, ranked.holds, strict=True) if not h][:NEGATIVES]
        logits = self.scores(ranked.question, [positive, *negatives]).unsqueeze(0)
        return self.torch.nn.functional.cross_entropy(logits, self.torch.tensor([0]))

    def judge(self, questions: Sequence[Ranked]) -> dict[float, float]:
        """Per blend weight: the share of questions whose best candidate holds the answer."""
        hits = dict.fromkeys((*BLENDS, float("inf")), 0)
        with self.torch.no_grad():
            for ranked in questions:
                read = self.scores(ranked.question, ranked.texts[:JUDGED]).numpy()
                standard = (read - read.mean()) / (read.std() + 1e-6)
                hand = np.array(ranked.scores[:JUDGED])
                for weight in hits:
                    blended = standard if weight == float("inf") else hand + weight * standard
                    hits[weight] += ranked.holds[int(np.argmax(blended))]
        return {weight: count / max(len(questions), 1) for weight, count in hits.items()}


def main(argv: Sequence[str] | None = None) -> int:
    """Collect candidates, train on half of the articles, judge on the rest and on the case."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_article_options(parser)
    parser.add_argument("--minutes", type=float, default=14.0, help="minutes of training")
    parser.add_argument("--judged", type=int, default=500, metavar="N",
                        help="a seeded sample of N questions of the held-out articles to judge")
    args = parser.parse_args(argv)
    quiet_libraries()

    started = time.perf_counter()
    articles, bot = open_chosen_articles(args)
    train: list[Ranked] = []
    held: list[Ranked] = []
    for index, article in enumerate(articles):
        for item in (q for q in article.questions if q.answerable):
            found = candidates(bot, item.question, article.case_id,
                               partial(contains_answer, answers=item.answers))
            (train if index % 2 == 0 else held).extend([found] if found else [])
    held = random.Random(args.seed).sample(held, min(args.judged, len(held)))
    case: list[Ranked] = []
    for _, item in bundled_case_questions(bot.library):
        if item.answerable and item.must_include:
            found = candidates(bot, item.question, DEFAULT_CASE,
                               partial(states_one, needed=item.must_include))
            case.extend([found] if found else [])
    print(f"  {len(train)} training questions, {len(held)} judged, {len(case)} of the case",
          file=sys.stderr)
    encoder = CrossEncoder(args.seed)
    steps = encoder.train(train, args.minutes, args.seed)
    on_articles, on_case = encoder.judge(held), encoder.judge(case)
    label = {0.0: "hand-set score", float("inf"): "cross-encoder alone"}
    rows = "\n".join(f"| {label.get(w, f'hand-set + {w:g} x cross-encoder')} | {on_articles[w]:.3f} "
                     f"| {on_case[w]:.3f} |" for w in on_articles)
    print(f"Cross-encoder trained {args.minutes:g} minutes ({steps} steps of two questions) on "
          f"{len(train)} questions of every other article of {args.data.name}.\n\n"
          "Share of questions whose best of the first eight candidates holds the answer:\n\n"
          f"| ranking | held-out articles ({len(held)}) | bundled case ({len(case)}) |\n"
          f"|---|---|---|\n{rows}\n\nTotal time {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
