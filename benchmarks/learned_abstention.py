"""Could a calibrated model of the evidence decline more unanswerable questions than the rules?

The extractive answerer declines on evidence read by rules: a name or number the case never
mentions, a rare name no retrieved paragraph mentions, a best sentence below its similarity floor,
a topic with nothing near it in the case. This benchmark asks whether a learned model does better
on the questions those rules let through: a logistic regression over the evidence of the answer
(the best sentence's six kinds of evidence, its lead over the second, how much of the question the
case, the best sentence and its paragraph hold, the retriever's scores, the question's names
missing from the best paragraph) predicts the probability that the question is unanswerable.

Over the SQuAD-format articles of `benchmarks/generality.py` (every unanswerable question and a
seeded sample of answerable ones, through the same code as `casebot eval`), each article is judged
by a model fitted without it (leave one article out). Per probability threshold it prints, pooled:
facts, false abstention and abstention on unanswerable when the model's decline is added to the
answerer's own. Then a model fitted on all articles is applied to the bundled case's question
sets: how many more answerable and unanswerable questions it would decline there.

Run: `.venv/bin/python benchmarks/learned_abstention.py [--answerable 80]` (about 5 minutes).
"""

from __future__ import annotations

import argparse
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

from benchmarks.abstention_curve import questions_of  # noqa: E402
from benchmarks.generality import (  # noqa: E402
    CASE_SETS,
    add_article_options,
    bundled_case_questions,
    open_chosen_articles,
)
from benchmarks.squad import contains_answer  # noqa: E402
from bot.settings import DEFAULT_CASE, quiet_libraries  # noqa: E402

THRESHOLDS = (0.9, 0.7, 0.5, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15)
STEPS = 2000
LEARNING_RATE = 0.05
L2 = 1e-3


@dataclass(frozen=True)
class Asked:
    """One question through the answerer: its evidence, what the answerer did, the truth."""

    group: str  # the article's case id, or the case's question set
    features: np.ndarray
    answerable: bool
    declined: bool
    fact: bool


def evidence_features(answerer: Any, evidence: Any) -> np.ndarray | None:
    """The evidence of the answer as numbers, or None when no sentence was scored."""
    from bot.answerers.extractive import _asked
    from bot.lang.english import names_in
    from vectorstore.text import content_terms

    scored = answerer.score(evidence)
    if not scored:
        return None
    case, best = evidence.case, scored[0]
    terms = set(content_terms(evidence.question))
    share = (lambda found: len(terms & found) / len(terms)) if terms else (lambda found: 0.0)
    names = {t for name in names_in(_asked(evidence.question)) for t in content_terms(name)}
    paragraph = case.paragraph_terms[best.paragraph]
    second = scored[1].score if len(scored) > 1 else 0.0
    top = evidence.hits[0] if evidence.hits else None
    return np.array([*best.features, best.score - second, max(s.similarity for s in scored),
                     share(case.vocabulary), share(case.terms[best.row]), share(paragraph),
                     top.score if top else 0.0, top.fused if top else 0.0,
                     len(names - paragraph), len(terms)], dtype=float)


def states_all(text: str, needed: Sequence[str]) -> bool:
    """Whether an answer states every `must_include` phrase of a case question."""
    return all(phrase.lower() in text.lower() for phrase in needed)


def ask(bot: Any, group: str, question: str, case_id: str, answerable: bool,
        holds: Callable[[str], bool]) -> Asked | None:
    """Ask one question; `holds(answer text)` says whether the answer holds the fact."""
    from bot.evaluation.metrics import strip_markers

    evidence = bot.evidence(question, (), case_id)
    answer = bot.answerer.answer(evidence)
    features = evidence_features(bot.answerer, evidence)
    if features is None:
        return None
    fact = answerable and not answer.abstained and holds(strip_markers(answer.answer))
    return Asked(group, features, answerable, answer.abstained, fact)


def fit(asked: Sequence[Asked]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A logistic regression (standardised features, Adam, a little L2) of "unanswerable" over
    the questions the answerer did not decline: (mean, scale, weights with the bias last)."""
    x = np.array([a.features for a in asked if not a.declined])
    y = np.array([not a.answerable for a in asked if not a.declined], dtype=float)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    m, v = np.zeros_like(w), np.zeros_like(w)
    for step in range(1, STEPS + 1):
        p = 1 / (1 + np.exp(-(z @ w)))
        grad = z.T @ (p - y) / len(y) + 2 * L2 * np.append(w[:-1], 0.0)
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        w -= LEARNING_RATE * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    return mean, scale, w


def probability(model: tuple[np.ndarray, np.ndarray, np.ndarray], asked: Asked) -> float:
    """The model's probability that the question is unanswerable."""
    mean, scale, w = model
    return float(1 / (1 + np.exp(-(np.append((asked.features - mean) / scale, 1.0) @ w))))


def outcome(asked: Sequence[Asked], p: Sequence[float], threshold: float) -> tuple[float, float, float]:
    """(facts, false abstention, abstention on unanswerable) when the model also declines."""
    declined = [a.declined or q >= threshold for a, q in zip(asked, p, strict=True)]
    answerable = [(a, d) for a, d in zip(asked, declined, strict=True) if a.answerable]
    unanswerable = [d for a, d in zip(asked, declined, strict=True) if not a.answerable]
    return (sum(a.fact and not d for a, d in answerable) / max(len(answerable), 1),
            sum(d for _, d in answerable) / max(len(answerable), 1),
            sum(unanswerable) / max(len(unanswerable), 1))


def main(argv: Sequence[str] | None = None) -> int:
    """Ask the articles' and the case's questions, fit leave one article out, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_article_options(parser)
    parser.add_argument("--answerable", type=int, default=80, metavar="N",
                        help="a seeded sample of N answerable questions per article, with all of "
                             "its unanswerable ones (default 80)")
    args = parser.parse_args(argv)
    quiet_libraries()

    started = time.perf_counter()
    articles, bot = open_chosen_articles(args)
    asked: list[Asked] = []
    for article in articles:
        for q in questions_of(article, args.answerable, args.seed):
            found = ask(bot, article.case_id, q.question, article.case_id, q.answerable,
                        partial(contains_answer, answers=q.answers))
            asked += [found] if found else []
        print(f"  {article.title}: asked", file=sys.stderr)
    held_out = {a.case_id: fit([x for x in asked if x.group != a.case_id]) for a in articles}
    p = [probability(held_out[a.group], a) for a in asked]
    facts, false_abstention, caught = outcome(asked, [0.0] * len(asked), 1.0)
    rows = [f"| answerer alone | {facts:.3f} | {false_abstention:.3f} | {caught:.3f} |"]
    for threshold in THRESHOLDS:
        facts, false_abstention, caught = outcome(asked, p, threshold)
        rows.append(f"| declines also at p >= {threshold:.2f} | {facts:.3f} | "
                    f"{false_abstention:.3f} | {caught:.3f} |")

    model = fit(asked)
    on_case: dict[str, list[Asked]] = {name: [] for name in CASE_SETS}
    for name, item in bundled_case_questions(bot.library):
        found = ask(bot, name, item.question, DEFAULT_CASE, bool(item.answerable),
                    partial(states_all, needed=item.must_include))
        on_case[name] += [found] if found else []
    case_rows = []
    for name, rows_of_set in on_case.items():
        left = [a for a in rows_of_set if not a.declined]
        for threshold in (0.5, 0.3, 0.2):
            more = [a for a in left if probability(model, a) >= threshold]
            case_rows.append(f"| {name} | {threshold:.2f} | {sum(a.answerable for a in more)} of "
                             f"{sum(a.answerable for a in left)} | "
                             f"{sum(not a.answerable for a in more)} of "
                             f"{sum(not a.answerable for a in left)} |")
    print(f"{len(asked)} questions of {len(articles)} articles ({args.data.name}; every "
          f"unanswerable one and {args.answerable} answerable ones each, seed {args.seed}); the "
          "model judged leave one article out:\n\n"
          "| decision | facts | false abstention | abstains on unanswerable |\n|---|---|---|---|\n"
          + "\n".join(rows)
          + "\n\nThe model fitted on all articles, on the bundled case's sets (single questions; "
          "counts among those the answerer itself answers):\n\n"
          "| set | declines also at p >= | answerable declined | unanswerable declined |\n"
          "|---|---|---|---|\n" + "\n".join(case_rows)
          + f"\n\nTotal time {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
