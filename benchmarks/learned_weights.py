"""Could learned sentence weights beat the hand-set ones? Learn them on SQuAD and compare.

The extractive answerer scores each candidate sentence as a weighted sum of six kinds of evidence
(`bot.answerers.extractive.Weights`). This benchmark learns those weights from SQuAD-format
articles: each article becomes a case, each answerable question is asked through the real
retrieval, and the candidates' evidence is recorded with a label (does the sentence hold a gold
answer, in the gold paragraph?). A listwise model (softmax over one question's candidates, the way
the answerer picks the best one) is fitted by gradient descent in numpy; each article is judged by
weights learned without it (leave one article out). It prints that table and the weights learned
on all articles, which `--output` also writes as JSON.

The default answerer keeps the hand-set weights: measured in this project, the learned ones put
the answer sentence first more often on the articles but answer fewer of the bundled case's
questions, its fresh held-out set included (README, "Answers on any case").

Run: `.venv/bin/python benchmarks/learned_weights.py [--questions 100]` (about 10 minutes).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from benchmarks.generality import DEFAULT_DATA  # noqa: E402
from benchmarks.squad import SquadArticle, contains_answer, load_articles, open_articles  # noqa: E402
from bot.settings import quiet_libraries  # noqa: E402

SEED = 20260
STEPS = 600
LEARNING_RATE = 0.05
# A small pull towards zero keeps weights of rarely useful evidence from growing on noise.
L2 = 1e-3


@dataclass(frozen=True)
class Question:
    """One asked question: its candidates' evidence and which candidates hold the answer."""

    article: int
    features: np.ndarray  # candidates x evidence kinds
    positive: np.ndarray  # bool per candidate


def collect(bot: Any, article_index: int, article: SquadArticle, limit: int | None,
            rng: np.random.Generator) -> list[Question]:
    """Ask an article's answerable questions (a seeded sample of `limit`) and record evidence."""
    answerable = [q for q in article.questions if q.answerable]
    if limit is not None and len(answerable) > limit:
        answerable = [answerable[i] for i in sorted(rng.choice(len(answerable), limit, replace=False))]
    found = []
    for item in answerable:
        evidence = bot.evidence(item.question, (), article.case_id)
        scored = bot.answerer.score(evidence)
        if not scored:
            continue
        features = np.array([s.features for s in scored], dtype=float)
        positive = np.array([s.paragraph == item.paragraph and contains_answer(s.text, item.answers)
                             for s in scored])
        found.append(Question(article_index, features, positive))
    return found


def fit(questions: Sequence[Question], start: np.ndarray, steps: int = STEPS) -> np.ndarray:
    """Weights maximising the softmax likelihood of the answer-holding candidates (Adam).

    Questions whose candidates hold no answer teach nothing about ranking and are left out.
    """
    usable = [q for q in questions if q.positive.any()]
    if not usable:
        return start.astype(float).copy()
    x = np.vstack([q.features for q in usable])
    positive = np.concatenate([q.positive for q in usable])
    group = np.repeat(np.arange(len(usable)), [len(q.positive) for q in usable])
    w = start.astype(float).copy()
    m, v = np.zeros_like(w), np.zeros_like(w)
    for step in range(1, steps + 1):
        scores = x @ w
        exp = np.exp(scores - scores.max())
        p = exp / np.bincount(group, exp)[group]  # softmax within each question
        hit = np.where(positive, exp, 0.0)
        share = hit / np.bincount(group, hit)[group]  # the answer-holding candidates' shares
        grad = 2 * L2 * w - ((share - p) @ x) / len(usable)
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        w -= LEARNING_RATE * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    return w


def top_holds_answer(questions: Sequence[Question], w: np.ndarray) -> float:
    """Share of questions whose best-scored candidate holds the answer."""
    if not questions:
        return 0.0
    return sum(bool(q.positive[int(np.argmax(q.features @ w))]) for q in questions) / len(questions)


def rescaled(w: np.ndarray, like: np.ndarray) -> np.ndarray:
    """`w` scaled to the hand-set weights' total, so the answerer's relative cut-offs keep their
    meaning (ranking does not depend on the scale)."""
    total = np.abs(w).sum()
    return w * (np.abs(like).sum() / total) if total else w


def main(argv: Sequence[str] | None = None) -> int:
    """Collect evidence on the articles, judge hand-set against learned weights, write weights."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SQuAD-format JSON")
    parser.add_argument("--questions", type=int, default=150, metavar="N",
                        help="a seeded sample of at most N answerable questions per article (0: all)")
    parser.add_argument("--work-dir", type=Path, default=REPO / ".cache" / "generality",
                        help="where the articles are ingested (shared with benchmarks/generality.py)")
    parser.add_argument("--output", type=Path, default=None, metavar="FILE",
                        help="also write the weights learned on all articles as JSON")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    quiet_libraries()

    from bot.answerers.extractive import ExtractiveAnswerer, Weights
    from bot.rag.chain import CaseBot

    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    articles = load_articles(args.data)
    library = open_articles(articles, args.work_dir)
    hand = np.array(astuple(Weights()), dtype=float)
    # The hand-set score alone: the shipped sentence reader was trained on these articles.
    bot = CaseBot(library, ExtractiveAnswerer(weights=Weights(), reader=None))
    questions: list[Question] = []
    for index, article in enumerate(articles):
        questions += collect(bot, index, article, args.questions or None, rng)
        print(f"  {article.title}: {sum(q.article == index for q in questions)} questions",
              file=sys.stderr)
    rows = ["| article | questions | answer in candidates | hand-set: best holds it | "
            "learned without it: best holds it |", "|---|---|---|---|---|"]
    pooled = {"n": 0, "any": 0, "hand": 0.0, "learned": 0.0}
    for index, article in enumerate(articles):
        held = [q for q in questions if q.article == index]
        learned = fit([q for q in questions if q.article != index], hand)
        hand_top, learned_top = top_holds_answer(held, hand), top_holds_answer(held, learned)
        reachable = sum(bool(q.positive.any()) for q in held)
        rows.append(f"| {article.title} | {len(held)} | {reachable / max(len(held), 1):.3f} | "
                    f"{hand_top:.3f} | {learned_top:.3f} |")
        pooled["n"] += len(held)
        pooled["any"] += reachable
        pooled["hand"] += hand_top * len(held)
        pooled["learned"] += learned_top * len(held)
    n = max(pooled["n"], 1)
    rows.append(f"| **pooled** | {pooled['n']} | {pooled['any'] / n:.3f} | {pooled['hand'] / n:.3f} "
                f"| {pooled['learned'] / n:.3f} |")
    final = rescaled(fit(questions, hand), hand)
    names = [f.name for f in fields(Weights)]
    table = "\n".join(rows)
    weights_table = "\n".join(f"| {name} | {h:.3f} | {x:.3f} |"
                              for name, h, x in zip(names, hand, final, strict=True))
    print(f"{len(questions)} answerable questions (a seeded sample, seed {args.seed}, of at most "
          f"{args.questions or 'all'} per article) of {args.data.name}.\n\n"
          "Share of questions whose best-scored sentence holds a gold answer in the gold paragraph "
          "(among the sentences of the retrieved paragraphs); learned weights judged leave one "
          f"article out:\n\n{table}\n\nWeights learned on all articles (scaled to the hand-set "
          f"total):\n\n| evidence | hand-set | learned |\n|---|---|---|\n{weights_table}\n\n"
          f"Total time {time.perf_counter() - started:.0f} s.")
    if args.output is not None:
        args.output.write_text(json.dumps({n: round(float(x), 4) for n, x in
                                           zip(names, final, strict=True)}, indent=2) + "\n",
                               encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
