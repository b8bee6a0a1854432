"""Train the extractive answerer's learned parts (`make train`): the sentence scorer and the
abstention decision (bot/answerers/learned.py).

The questions of the train split of `--cases` (training/data) and of the articles of `--data`
(../shared/data) are asked once through the real retrieval; their candidates are dumped
(training/candidates.py) into `--work-dir` and everything after that runs offline in seconds:

- the scorer: non-negative weights over the six evidence features, fitted listwise (softmax
  cross-entropy over each answerable question's candidates, those holding the answer as targets);
- the abstention: a logistic regression over `decision_features` of the best candidates under that
  scorer, for the questions the answerer's rules leave to it; its threshold is the one declining
  the most unanswerable training questions at a false abstention of at most
  `Fitting.max_false_abstention`.

Both fits are full-batch gradient descent (Adam) from a seeded start: the same data and seed give
the same file. It prints how long it took and writes the models to `--work-dir/learned.json`;
shipping them is copying that file to `bot/answerers/learned.json` when `--compare` says they win
(docs/decisions/learned-answerer.md: the shipped file holds the hand-set rules).

`--compare` also judges the result before it is written, replaying the answerer's decision and
selection over the dumped candidates (no `_with_context` or list handling: a close proxy, confirmed
end to end with benchmarks/generality.py): the dev split per category, hand-set against learned,
and the articles in two folds (trained on the train cases and one half of the articles, judged on
the other half, and swapped).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from bot.answerers.config import HAND_SET as CONFIG  # noqa: E402
from bot.answerers.extractive import ExtractiveAnswerer, ScoredSentence, Signals  # noqa: E402
from bot.answerers.learned import (  # noqa: E402
    DECISION_CANDIDATES,
    SHIPPED_MODELS,
    AbstentionModel,
    LearnedModels,
    SentenceScorer,
    decision_features,
    hand_set_models,
)
from training.candidates import read_dump  # noqa: E402

DEFAULT_CASES = REPO / "training" / "data"
DEFAULT_ARTICLES = (REPO / ".." / "shared" / "data" / "squad2-train-10-articles.json").resolve()


@dataclass(frozen=True)
class Fitting:
    """The hand-set choices of the fits, each with its reason."""

    # Enough Adam steps for both losses to stop moving in the fourth decimal on the full data.
    steps: int = 600
    rate: float = 0.05
    # A question teaches the scorer when one of this many best candidates holds its answer: the
    # ones the answerer can choose from.
    candidates: int = 12
    # Keeps the standardised abstention coefficients small: a few thousand questions, ten features.
    l2: float = 1e-3
    # The relative cut-offs tried for a learned scorer (the hand-set one is 0.85).
    cutoffs: tuple[float, ...] = tuple(round(0.80 + 0.01 * i, 2) for i in range(20))


FITTING = Fitting()

# The hand-set rules the learned models are compared with (bot/answerers/config.py).
HAND_SET = hand_set_models(CONFIG)


def gold(line: dict[str, Any]) -> Callable[[str], bool]:
    """Whether a text holds the question's answer: every must_include string of a case question,
    one of the SQuAD answers of an article's."""
    from benchmarks.squad import contains_answer
    from bot.evaluation.metrics import missing_strings

    if "answers" in line:
        answers = tuple(line["answers"])
        return lambda text: contains_answer(text, answers)
    must = tuple(line["must_include"])
    return lambda text: bool(must) and not missing_strings(text, must)


def labels(line: dict[str, Any]) -> np.ndarray:
    """For each candidate, whether it answers the question: it holds the answer or is one of the
    question's evidence sentences."""
    holds = gold(line)
    evidence = set(line.get("evidence", ()))
    return np.array([c["text"] in evidence or holds(c["text"]) for c in line["candidates"]], dtype=bool)


def fit_scorer(lines: Sequence[dict[str, Any]], seed: int, fitting: Fitting = FITTING) -> SentenceScorer:
    """Non-negative weights putting the answering candidates first (listwise softmax loss), and
    the relative cut-off for them that answers the most training questions right at no more words
    than the hand-set score gives."""
    groups = []
    for line in lines:
        if not line["answerable"] or not line["candidates"]:
            continue
        target = labels(line)[:fitting.candidates]
        if target.any():
            features = np.array([c["features"] for c in line["candidates"][:fitting.candidates]])
            groups.append((features, target / target.sum()))
    rng = np.random.default_rng(seed)
    # Weights are exp(theta): non-negative, so every score stays a positive sum whose ratios the
    # answerer's relative cut-offs read.
    theta = np.log(np.full(len(groups[0][0][0]), 0.2)) + rng.normal(0, 0.01, len(groups[0][0][0]))
    first, second = np.zeros_like(theta), np.zeros_like(theta)
    for step in range(1, fitting.steps + 1):
        weights = np.exp(theta)
        gradient = np.zeros_like(theta)
        for features, target in groups:
            scores = features @ weights
            p = np.exp(scores - scores.max())
            p /= p.sum()
            gradient += features.T @ (p - target)
        gradient = gradient * weights / len(groups)
        first = 0.9 * first + 0.1 * gradient
        second = 0.999 * second + 0.001 * gradient ** 2
        theta -= fitting.rate * (first / (1 - 0.9 ** step)) / (np.sqrt(second / (1 - 0.999 ** step)) + 1e-8)
    weights = tuple(float(w) for w in np.exp(theta))
    budget = replay(lines, ExtractiveAnswerer(models=HAND_SET))[POOLED]
    best: tuple[int, float] = (-1, HAND_SET.scorer.cutoff)
    for cutoff in fitting.cutoffs:
        scorer = SentenceScorer(weights, cutoff)
        pooled = replay(lines, ExtractiveAnswerer(models=LearnedModels(scorer, HAND_SET.abstention)))[POOLED]
        if pooled.words * budget.answered <= budget.words * pooled.answered and pooled.facts > best[0]:
            best = (pooled.facts, cutoff)
    return SentenceScorer(weights, best[1])


def ranked(line: dict[str, Any], answerer: ExtractiveAnswerer) -> list[ScoredSentence]:
    """The question's candidates as the answerer ranks them (its scorer, then the wanted answer
    type first)."""
    scorer = answerer.learned().scorer
    scored = [ScoredSentence(c["row"], c["paragraph"], c["text"], c["features"][0], 0.0, c["typed"],
                             scorer.score(c["features"]), tuple(c["features"]), leaned=c["leaned"])
              for c in line["candidates"]]
    scored.sort(key=lambda s: -s.score)
    return answerer.wanted_first(scored, line["strict"])


def fit_logistic(x: np.ndarray, y: np.ndarray, seed: int,
                 fitting: Fitting = FITTING) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A logistic regression of `y` (0 or 1) on the standardised columns of `x`, fitted by
    full-batch Adam from a seeded start with a small L2 penalty: the columns' mean and scale, and
    the coefficients with the intercept last."""
    mean, scale = x.mean(0), x.std(0) + 1e-6
    design = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    rng = np.random.default_rng(seed)
    w = np.append(rng.normal(0, 0.01, x.shape[1]), 0.0)
    first, second = np.zeros_like(w), np.zeros_like(w)
    for step in range(1, fitting.steps + 1):
        p = 1 / (1 + np.exp(-(design @ w)))
        gradient = design.T @ (p - y) / len(y) + fitting.l2 * np.append(w[:-1], 0.0)
        first = 0.9 * first + 0.1 * gradient
        second = 0.999 * second + 0.001 * gradient ** 2
        w -= fitting.rate * (first / (1 - 0.9 ** step)) / (np.sqrt(second / (1 - 0.999 ** step)) + 1e-8)
    return mean, scale, w


def logistic_probabilities(x: np.ndarray, mean: np.ndarray, scale: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The probability `fit_logistic`'s regression gives each row of `x`."""
    return np.asarray(1 / (1 + np.exp(-(np.hstack([(x - mean) / scale, np.ones((len(x), 1))]) @ w))))


def most_handled_threshold(p: np.ndarray, y: np.ndarray, right: np.ndarray) -> float:
    """Declining below the threshold: the one handling the most rows right (an unanswerable one
    declined, an answerable one answered `right`); the lowest of equals (answer when in doubt)."""
    cuts = np.concatenate([[0.0], np.sort(p)])
    handled = [np.sum((p < t) & (y == 0)) + np.sum((p >= t) & right) for t in cuts]
    return float(cuts[int(np.argmax(handled))])


def strictest_threshold(p: np.ndarray, y: np.ndarray, max_false: float) -> float:
    """Declining below the threshold: the highest one declining at most `max_false` of the
    answerable rows (`y` 1)."""
    return float(max(t for t in np.concatenate([[0.0], np.sort(p)])
                     if np.sum((p < t) & (y == 1)) <= max_false * y.sum()))


def fit_abstention(lines: Sequence[dict[str, Any]], scorer: SentenceScorer, seed: int,
                   fitting: Fitting = FITTING) -> AbstentionModel:
    """A logistic regression deciding answerable from the best candidates' evidence, with the
    threshold that handles the most training questions right (an unanswerable one declined, an
    answerable one answered with its answer)."""
    answerer = ExtractiveAnswerer(models=LearnedModels(scorer, HAND_SET.abstention))
    rows, targets, correct = [], [], []
    for line in lines:
        scored = ranked(line, answerer)
        signals = Signals(*line["signals"])
        if answerer.ruled_out(signals, scored):
            continue
        top = scored[:DECISION_CANDIDATES]
        rows.append(decision_features([s.features for s in top], [s.leaned for s in top],
                                      signals.top_hit, signals.lexical))
        targets.append(float(line["answerable"]))
        text = " ".join(s.text for s in answerer.select(scored, line["synthesis"]))
        correct.append(bool(line["answerable"]) and gold(line)(text))
    x, y = np.array(rows), np.array(targets)
    mean, scale, w = fit_logistic(x, y, seed, fitting)
    threshold = most_handled_threshold(logistic_probabilities(x, mean, scale, w), y, np.array(correct))
    return AbstentionModel(tuple(mean), tuple(scale), tuple(w[:-1]), float(w[-1]), threshold)


def fit(lines: Sequence[dict[str, Any]], seed: int) -> LearnedModels:
    """Both models from the dumped questions."""
    scorer = fit_scorer(lines, seed)
    return LearnedModels(scorer, fit_abstention(lines, scorer, seed))


@dataclass
class Score:
    """Replayed counts for one group of questions."""

    answerable: int = 0
    unanswerable: int = 0
    facts: int = 0
    false_abstentions: int = 0
    caught: int = 0
    words: int = 0
    answered: int = 0

    def row(self, name: str) -> str:
        """The counts as one Markdown row."""
        a = max(self.answerable, 1)
        caught = f"{self.caught / self.unanswerable:.3f}" if self.unanswerable else "n/a"
        words = self.words / self.answered if self.answered else 0.0
        return (f"| {name} | {self.answerable}/{self.unanswerable} | {self.facts / a:.3f} | "
                f"{self.false_abstentions / a:.3f} | {caught} | {words:.1f} |")


def replay(lines: Sequence[dict[str, Any]], answerer: ExtractiveAnswerer) -> dict[str, Score]:
    """The answerer's decision and selection over the dumped candidates, counted per category
    (and pooled under POOLED)."""
    scores: dict[str, Score] = {}
    for line in lines:
        scored = ranked(line, answerer)
        answered = answerer.decide(Signals(*line["signals"]), scored, {})
        text = " ".join(s.text for s in answerer.select(scored, line["synthesis"])) if answered else ""
        for name in (line["category"], POOLED):
            score = scores.setdefault(name, Score())
            if not line["answerable"]:
                score.unanswerable += 1
                score.caught += not answered
                continue
            score.answerable += 1
            if not answered:
                score.false_abstentions += 1
                continue
            score.answered += 1
            score.words += len(text.split())
            score.facts += gold(line)(text)
    return scores


POOLED = "**pooled**"
HEADER = ("| category | questions (ans./unans.) | facts | false abst. | abst. on unans. | mean words |\n"
          "|---|---|---|---|---|---|")


def comparison(title: str, lines: Sequence[dict[str, Any]], models: LearnedModels) -> str:
    """Hand-set against learned (each part alone and both) over `lines`, per category."""
    variants = {"hand-set": HAND_SET,
                "learned scorer": LearnedModels(models.scorer, HAND_SET.abstention),
                "learned abstention": LearnedModels(HAND_SET.scorer, models.abstention),
                "both learned": models}
    out = [f"\n### {title}\n"]
    for name, variant in variants.items():
        scores = replay(lines, ExtractiveAnswerer(models=variant))
        out += [f"\n{name}:\n", HEADER] + [scores[c].row(c) for c in sorted(scores)]
    return "\n".join(out)


def dumped(name: str, work_dir: Path, make: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The dump `work_dir/<name>.jsonl`, made first when missing."""
    path = work_dir / f"{name}.jsonl"
    return read_dump(path) if path.exists() else make()


def main(argv: Sequence[str] | None = None) -> int:
    """Dump the candidates (once), fit both models, optionally compare, write the file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--cases", type=Path, default=DEFAULT_CASES, help="cases with splits.json")
    parser.add_argument("--data", type=Path, default=DEFAULT_ARTICLES, help="SQuAD-format articles")
    parser.add_argument("--max-questions", type=int, default=120, metavar="N",
                        help="a seeded sample of at most N questions per article (0: all)")
    parser.add_argument("--max-case-questions", type=int, default=0, metavar="N",
                        help="a seeded sample of at most N questions per case (default 0: all)")
    parser.add_argument("--part", choices=PARTS, default=None,
                        help="only dump this part's candidates (parts can be dumped at once)")
    parser.add_argument("--work-dir", type=Path, default=REPO / ".cache" / "train",
                        help="where cases are ingested and candidates dumped (kept between runs)")
    parser.add_argument("--seed", type=int, default=20261)
    parser.add_argument("--output", type=Path, default=None, metavar="FILE",
                        help="where to write the models (default: learned.json in --work-dir; "
                             f"copy it to {SHIPPED_MODELS.relative_to(REPO)} to ship it when "
                             "--compare says it wins)")
    parser.add_argument("--compare", action="store_true",
                        help="print hand-set against learned on the dev split and two article folds")
    parser.add_argument("--folds", type=Path, default=None, metavar="DIR",
                        help="with --compare: write each article fold's models to DIR/fold-<n>.json "
                             "(for benchmarks/generality.py --models)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.part is not None:
        from bot.settings import quiet_libraries

        quiet_libraries()
        make_dump(args.part, args)
        print(f"Dumped {args.part} in {time.perf_counter() - started:.1f} s.")
        return 0
    lines = _dumps(args)
    articles = lines["articles"]
    models = fit(lines["train"] + articles, args.seed)
    if args.compare:
        print(comparison("dev split (trained on the train split and every article)", lines["dev"], models))
        names = sorted({line["case"] for line in articles})
        halves = (set(names[:len(names) // 2]), set(names[len(names) // 2:]))
        for number, held in enumerate(halves, 1):
            fold = fit(lines["train"] + [a for a in articles if a["case"] not in held], args.seed)
            print(comparison(f"articles {', '.join(sorted(held))} (trained without them)",
                             [a for a in articles if a["case"] in held], fold))
            if args.folds is not None:
                args.folds.mkdir(parents=True, exist_ok=True)
                (args.folds / f"fold-{number}.json").write_text(fold.to_json(), encoding="utf-8")
    output = args.output or args.work_dir / "learned.json"
    output.write_text(models.to_json(), encoding="utf-8")
    print(f"\nWrote {output} in {time.perf_counter() - started:.1f} s (seed {args.seed}).")
    return 0


PARTS = ("train", "dev", "articles")


def _sample(items: Sequence[Any], most: int, rng: np.random.Generator) -> list[Any]:
    """A seeded sample of at most `most` items, in their order (all when `most` is 0)."""
    if not most or len(items) <= most:
        return list(items)
    return [items[i] for i in sorted(rng.choice(len(items), size=most, replace=False))]


def make_dump(part: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Ask a part's questions (a split of `--cases`, or the articles) and dump their candidates to
    `--work-dir/<part>.jsonl`; each part has its own store, so parts can be dumped at once."""
    from itertools import groupby

    from benchmarks.squad import load_articles, open_articles
    from bot.rag.chain import CaseBot
    from training.candidates import article_questions, case_questions, dump, split_cases
    from vectorstore.embeddings import SentenceEmbeddings
    from vectorstore.store import CaseLibrary, open_client

    rng = np.random.default_rng(args.seed)
    if part == "articles":
        chosen = load_articles(args.data)
        library = open_articles(chosen, args.work_dir / part, progress=False)
        questions = list(article_questions(
            type(a)(a.case_id, a.title, a.contexts, tuple(_sample(a.questions, args.max_questions, rng)))
            for a in chosen))
    else:
        library = CaseLibrary(open_client(args.work_dir / part / "store"), SentenceEmbeddings())
        asked = case_questions(args.cases, split_cases(args.cases, part), library)
        questions = (item for _, group in groupby(asked, key=lambda pair: pair[0])
                     for item in _sample(list(group), args.max_case_questions, rng))
    bot = CaseBot(library, ExtractiveAnswerer(models=HAND_SET))
    return dump(bot, questions, args.work_dir / f"{part}.jsonl")


def _dumps(args: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    """The dumped candidates of each part (made when missing)."""
    from bot.settings import quiet_libraries

    quiet_libraries()
    return {part: dumped(part, args.work_dir, lambda part=part: make_dump(part, args)) for part in PARTS}


if __name__ == "__main__":
    sys.exit(main())
