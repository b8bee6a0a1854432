"""Training of the extractive answerer's scorer (`make train`): seeded, offline, minutes on 2 cores.

1. Each SQuAD-format article becomes a case (bot/answerers/squad.py), ingested into a work store.
2. Every question goes through the same retrieval as `casebot ask`; each sentence of the retrieved
   paragraphs gets its features (bot/answerers/scorer.py) and the label "states a gold answer"
   (in the gold paragraph, holding an answer span, SQuAD-normalised).
3. Leave-one-article-out: a sentence model trained without an article ranks that article's
   sentences; from those rankings the answer/abstain model is trained and evaluated the same way,
   and the abstention threshold and the second-sentence share are chosen on the pooled held-out
   predictions (false abstention at most the target, then most unanswerables caught).
4. The final models are trained on every article and written as JSON with a data card beside them.

Needs scikit-learn (the `dev` extra); answering does not.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bot.answerers.scorer import (
    MODEL_PATH,
    QUESTION_FEATURES,
    SENTENCE_FEATURES,
    Candidates,
    Logistic,
    Scorer,
    Trees,
    candidate_features,
    evidence_summary,
    question_features,
)
from bot.answerers.squad import SquadArticle, contains_answer, load_articles, write_case

DEFAULT_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" \
    / "squad2-train-10-articles.json"
SEED = 20260
NEAR_WORD = 0.65
FALSE_ABSTENTION_TARGET = 0.04
SECOND_SHARES = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.01)
MAX_WORDS = 60
WORDS_TARGET = 45.0


@dataclass
class Example:
    """One question with its candidates, their labels and the evidence they came from."""

    article: int
    question_id: str
    answerable: bool
    candidates: Candidates
    labels: np.ndarray
    summary: np.ndarray
    words: np.ndarray = field(default_factory=lambda: np.zeros(0))


def open_work_library(work_dir: Path) -> Any:
    """A case library in `work_dir` (kept between runs: unchanged articles are not re-embedded)."""
    from vectorstore.embeddings import SentenceEmbeddings
    from vectorstore.store import CaseLibrary, open_client

    return CaseLibrary(open_client(work_dir / "store"), SentenceEmbeddings())


def ingest_articles(library: Any, articles: Sequence[SquadArticle], work_dir: Path,
                    progress: bool = True) -> None:
    """Write each article as a case file and ingest it (a no-op when already ingested)."""
    from ingest.pipeline import ingest_file

    for article in articles:
        path = write_case(article, work_dir / "cases")
        started = time.perf_counter()
        report = ingest_file(path, library)
        if progress and not report.unchanged:
            print(f"  ingested {article.case_id}: {report.embedded} chunks in "
                  f"{time.perf_counter() - started:.0f} s", file=sys.stderr)


class _Unpickler(pickle.Unpickler):
    """Reads this module's own cache, whether it was written under `python -m` or by import."""

    def find_class(self, module: str, name: str) -> Any:
        if name in ("Example", "Candidates"):
            return {"Example": Example, "Candidates": Candidates}[name]
        return super().find_class(module, name)


def collect_cached(library: Any, articles: Sequence[SquadArticle], work_dir: Path,
                   max_questions: int | None = None, seed: int = SEED, progress: bool = True
                   ) -> list[Example]:
    """collect() over every article, kept in `work_dir` (a local cache of this machine's own
    runs, keyed by the articles, the sample and the source of the feature code)."""
    import hashlib

    from bot.answerers import scorer

    key = hashlib.sha256()
    for text in (Path(scorer.__file__).read_text(encoding="utf-8"),
                 Path(__file__).read_text(encoding="utf-8").split("def fit_trees")[0],
                 *(a.case_text() for a in articles), repr([q.id for a in articles for q in a.questions]),
                 f"{max_questions}-{seed}"):
        key.update(text.encode("utf-8"))
    path = work_dir / f"examples-{key.hexdigest()[:16]}.pickle"
    if path.exists():
        with path.open("rb") as handle:
            cached: list[Example] = _Unpickler(handle).load()
        return cached
    examples = collect(library, articles, max_questions=max_questions, seed=seed, progress=progress)
    with path.open("wb") as handle:
        pickle.dump(examples, handle)
    return examples


def collect(library: Any, articles: Sequence[SquadArticle], indices: Sequence[int] | None = None,
            max_questions: int | None = None, seed: int = SEED, progress: bool = True) -> list[Example]:
    """Candidates, features and labels for the questions of the articles (sampled when asked)."""
    from bot.answerers.extractive import ExtractiveAnswerer
    from bot.rag.chain import CaseBot

    bot = CaseBot(library, ExtractiveAnswerer())
    examples = []
    rng = np.random.default_rng(seed)
    for index in indices if indices is not None else range(len(articles)):
        article = articles[index]
        questions = list(article.questions)
        if max_questions is not None and len(questions) > max_questions:
            keep = sorted(rng.choice(len(questions), size=max_questions, replace=False))
            questions = [questions[i] for i in keep]
        library.load(article.case_id).word_vectors(library.embeddings)
        started = time.perf_counter()
        for question in questions:
            try:
                evidence = bot.evidence(question.question, (), article.case_id)
            except ValueError:  # an empty or over-long question: nothing to learn from
                continue
            candidates = candidate_features(evidence)
            labels = np.array([float(question.answerable and paragraph == question.paragraph
                                     and contains_answer(evidence.case.texts[row], question.answers))
                               for row, paragraph in zip(candidates.rows, candidates.paragraphs,
                                                         strict=True)])
            words = np.array([len(evidence.case.texts[r].split()) for r in candidates.rows])
            summary = evidence_summary(evidence, candidates, NEAR_WORD)
            examples.append(Example(index, question.id, question.answerable, candidates, labels,
                                    summary, words))
        if progress:
            print(f"  {article.case_id}: {len(questions)} questions in "
                  f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
    return examples


def fit_trees(x: np.ndarray, y: np.ndarray, seed: int = SEED) -> Trees:
    """A gradient-boosted tree model of P(sentence states the answer), as plain arrays."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.08, max_leaf_nodes=15,
                                           min_samples_leaf=40, l2_regularization=1.0,
                                           early_stopping=False, random_state=seed)
    model.fit(x, y)
    trees = [predictors[0].nodes for predictors in model._predictors]
    result = Trees(float(np.ravel(model._baseline_prediction)[0]),
                   [t["feature_idx"].astype(np.int64) for t in trees],
                   [t["num_threshold"].astype(np.float64) for t in trees],
                   [t["left"].astype(np.int64) for t in trees],
                   [t["right"].astype(np.int64) for t in trees],
                   [t["is_leaf"].astype(bool) for t in trees],
                   [t["value"].astype(np.float64) for t in trees])
    check = x[:200]
    if not np.allclose(result.logits(check), model.decision_function(check), atol=1e-6):
        raise RuntimeError("exported trees disagree with scikit-learn")
    return result


def fit_logistic(x: np.ndarray, y: np.ndarray) -> Logistic:
    """A balanced logistic model of P(the case answers the question)."""
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=0.5, class_weight="balanced", max_iter=2000)
    model.fit((x - mean) / scale, y)
    return Logistic(mean, scale, model.coef_[0].astype(np.float64), float(model.intercept_[0]))


def _stack(examples: Sequence[Example]) -> tuple[np.ndarray, np.ndarray]:
    rows = [e.candidates.features for e in examples if len(e.labels)]
    labels = [e.labels for e in examples if len(e.labels)]
    if not rows:
        return np.zeros((0, len(SENTENCE_FEATURES))), np.zeros(0)
    return np.vstack(rows).astype(np.float64), np.concatenate(labels)


def question_matrix(examples: Sequence[Example], probabilities: Sequence[np.ndarray]) -> np.ndarray:
    """The answer/abstain features of every example, given its sentence probabilities."""
    return np.vstack([question_features(e.candidates, p, e.summary)
                      for e, p in zip(examples, probabilities, strict=True)]) if examples else \
        np.zeros((0, len(QUESTION_FEATURES)))


@dataclass
class CrossValidation:
    """Pooled leave-one-article-out predictions."""

    sentence_probabilities: list[np.ndarray]
    answer_probabilities: np.ndarray
    folds: dict[int, Scorer]


def cross_validate(examples: Sequence[Example], seed: int = SEED, progress: bool = True
                   ) -> CrossValidation:
    """Leave-one-article-out: each article's sentences and questions judged by models trained
    without it."""
    articles = sorted({e.article for e in examples})
    sentence_probabilities: list[np.ndarray] = [np.zeros(0)] * len(examples)
    fold_trees: dict[int, Trees] = {}
    for held in articles:
        x, y = _stack([e for e in examples if e.article != held])
        fold_trees[held] = trees = fit_trees(x, y, seed)
        for i, e in enumerate(examples):
            if e.article == held:
                sentence_probabilities[i] = trees.predict(e.candidates.features.astype(np.float64))
        if progress:
            print(f"  sentence model without article {held} trained", file=sys.stderr)
    q = question_matrix(examples, sentence_probabilities)
    answerable = np.array([e.answerable for e in examples], dtype=float)
    answer_probabilities = np.zeros(len(examples))
    logistics: dict[int, Logistic] = {}
    for held in articles:
        train = np.array([e.article != held for e in examples])
        logistics[held] = fit_logistic(q[train], answerable[train])
        answer_probabilities[~train] = logistics[held].predict(q[~train])
    threshold = choose_threshold(answer_probabilities, answerable)
    share = choose_second_share(examples, sentence_probabilities)
    folds = {held: Scorer(fold_trees[held], logistics[held], threshold, share, NEAR_WORD,
                          {"held_out_article": held}) for held in articles}
    return CrossValidation(sentence_probabilities, answer_probabilities, folds)


def cross_validate_cached(examples: Sequence[Example], work_dir: Path, seed: int = SEED,
                          progress: bool = True) -> CrossValidation:
    """cross_validate(), kept in `work_dir` beside the examples it was computed from."""
    import hashlib

    key = hashlib.sha256(repr([(e.question_id, e.article) for e in examples]).encode())
    key.update(Path(__file__).read_text(encoding="utf-8").encode())
    key.update(str(seed).encode())
    path = work_dir / f"folds-{key.hexdigest()[:16]}.json"
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
        return CrossValidation([np.asarray(p) for p in data["sentence_probabilities"]],
                               np.asarray(data["answer_probabilities"]),
                               {int(k): Scorer.from_json(v) for k, v in data["folds"].items()})
    cv = cross_validate(examples, seed, progress)
    path.write_text(json.dumps({
        "sentence_probabilities": [p.tolist() for p in cv.sentence_probabilities],
        "answer_probabilities": cv.answer_probabilities.tolist(),
        "folds": {str(k): v.to_json() for k, v in cv.folds.items()}}), encoding="utf-8")
    return cv


def tradeoff(answer_probabilities: np.ndarray, answerable: np.ndarray,
             thresholds: Sequence[float] | None = None) -> list[tuple[float, float, float]]:
    """(threshold, false abstention, abstention on unanswerable) for a range of thresholds."""
    thresholds = thresholds or [round(t, 3) for t in np.linspace(0.0, 0.9, 19)]
    curve = []
    for t in thresholds:
        abstain = answer_probabilities < t
        false = float(abstain[answerable == 1].mean()) if (answerable == 1).any() else 0.0
        caught = float(abstain[answerable == 0].mean()) if (answerable == 0).any() else 0.0
        curve.append((float(t), false, caught))
    return curve


def choose_threshold(answer_probabilities: np.ndarray, answerable: np.ndarray,
                     target: float = FALSE_ABSTENTION_TARGET) -> float:
    """The highest threshold whose false abstention stays at or under `target`."""
    positives = np.sort(answer_probabilities[answerable == 1])
    if not len(positives):
        return 0.5
    index = int(np.floor(target * len(positives)))
    return float(positives[min(index, len(positives) - 1)]) - 1e-9


def selection_scores(examples: Sequence[Example], probabilities: Sequence[np.ndarray], share: float,
                     max_words: int = MAX_WORDS) -> tuple[float, float, float, float]:
    """(facts, mean words, top-1, top-2) on answerable questions for a second-sentence share."""
    facts, words, top1, top2, count = 0.0, 0.0, 0.0, 0.0, 0
    for e, p in zip(examples, probabilities, strict=True):
        if not e.answerable:
            continue
        count += 1
        if not len(p):
            continue
        order = np.argsort(-p, kind="stable")
        chosen = [int(order[0])]
        total = int(e.words[order[0]])
        for i in order[1:3]:
            if p[i] < share * p[order[0]] or total + e.words[i] > max_words:
                break
            chosen.append(int(i))
            total += int(e.words[i])
        facts += float(e.labels[chosen].max() > 0)
        words += total
        top1 += float(e.labels[order[0]] > 0)
        top2 += float(e.labels[order[:2]].max() > 0)
    count = max(count, 1)
    return facts / count, words / count, top1 / count, top2 / count


def choose_second_share(examples: Sequence[Example], probabilities: Sequence[np.ndarray]) -> float:
    """The share giving the most facts while answers stay under WORDS_TARGET words on average."""
    best = (-1.0, 1.01)
    for share in SECOND_SHARES:
        facts, words, _, _ = selection_scores(examples, probabilities, share)
        if words <= WORDS_TARGET and facts > best[0]:
            best = (facts, share)
    return best[1]


def write_data_card(path: Path, info: dict[str, Any]) -> None:
    """The data card beside the model: what it is, what it was trained on, how it scores."""
    curve = "\n".join(f"| {t:.2f} | {fa:.3f} | {ab:.3f} |" for t, fa, ab in info["tradeoff"])
    articles = "\n".join(f"| {name} | {n} | {u} |" for name, n, u in info["articles"])
    text = f"""# Data card: casebot's answer-sentence scorer (`scorer.json`)

Written by `make train` (`python -m bot.answerers.training`); do not edit by hand.

## What it is

Two small models read by `bot/answerers/scorer.py`, stored as plain JSON (no pickle, no code):

- **sentence model**: gradient-boosted trees ({info['trees']} trees, at most 15 leaves each,
  scikit-learn {info['sklearn']} `HistGradientBoostingClassifier`, exported to arrays) giving the
  probability that a sentence of the retrieved paragraphs states the answer, from
  {len(SENTENCE_FEATURES)} features: {", ".join(SENTENCE_FEATURES)}.
- **answer/abstain model**: logistic regression (balanced classes) giving the probability that the
  case answers the question, from {len(QUESTION_FEATURES)} features of the best candidates:
  {", ".join(QUESTION_FEATURES)}.
- **threshold** {info['threshold']:.4f}: the answerer abstains below it. Chosen on pooled
  leave-one-article-out predictions so that false abstention is at most
  {FALSE_ABSTENTION_TARGET:.0%}. **second_share** {info['second_share']}: a second sentence is
  added when it is at least this share as likely as the best (answers at most {WORDS_TARGET:.0f}
  words on average in cross-validation).

No text, vector or question of the training data is stored in the model, only split thresholds,
leaf values and coefficients. Size: {info['bytes'] / 1024:.0f} KiB.

## Training data

The first 10 articles of the SQuAD 2.0 training set (Rajpurkar, Jia and Liang, "Know What You
Don't Know: Unanswerable Questions for SQuAD", ACL 2018), text from Wikipedia, license
CC BY-SA 4.0; read from `{info['data']}` (see its README). Each article is a case; its
crowd-written questions are the training questions ({info['questions']} questions,
{info['unanswerable']} unanswerable). A sentence is a positive example when it is in the question's
gold paragraph and holds a gold answer span (SQuAD-normalised).

| article | questions | unanswerable |
|---|---|---|
{articles}

Seed {info['seed']}; {info['rows']} candidate sentences; trained in {info['seconds']:.0f} s on
{os.cpu_count()} CPUs.

## Scores (leave-one-article-out, pooled over the {info['questions']} questions)

| measure | value |
|---|---|
| answer sentence ranked first (answerable questions) | {info['top1']:.3f} |
| answer sentence in the first two | {info['top2']:.3f} |
| answer sentence among the chosen sentences (facts, before abstention) | {info['facts']:.3f} |
| mean words of the chosen sentences | {info['words']:.1f} |
| false abstention at the threshold | {info['false_abstention']:.3f} |
| abstention on unanswerable questions at the threshold | {info['caught']:.3f} |

Trade-off of the threshold (false abstention on answerable questions against abstention on
unanswerable ones; only two articles have unanswerable questions):

| threshold | false abstention | abstention on unanswerable |
|---|---|---|
{curve}

## Limits

Trained on encyclopaedic English with questions written by people looking at one paragraph;
business cases name things by description more often ("the German carmaker"), which the features
see only through MiniLM similarity. `benchmarks/generality.py` measures it on articles it was not
trained on; `casebot eval` on the bundled case.
"""
    path.write_text(text, encoding="utf-8")


def train(data: Path, work_dir: Path, output: Path, seed: int = SEED, progress: bool = True
          ) -> dict[str, Any]:
    """The whole training run; writes `output` and its data card, returns the scores."""
    import sklearn

    started = time.perf_counter()
    articles = load_articles(data)
    library = open_work_library(work_dir)
    ingest_articles(library, articles, work_dir, progress)
    examples = collect_cached(library, articles, work_dir, progress=progress)
    cv = cross_validate_cached(examples, work_dir, seed, progress)
    answerable = np.array([e.answerable for e in examples], dtype=float)
    threshold = next(iter(cv.folds.values())).threshold
    share = next(iter(cv.folds.values())).second_share
    facts, words, top1, top2 = selection_scores(examples, cv.sentence_probabilities, share)
    x, y = _stack(examples)
    trees = fit_trees(x, y, seed)
    q = question_matrix(examples, [trees.predict(e.candidates.features.astype(np.float64))
                                   for e in examples])
    # The answer/abstain model sees held-out sentence probabilities, as it will on new cases.
    q_cv = question_matrix(examples, cv.sentence_probabilities)
    logistic = fit_logistic(q_cv, answerable)
    del q
    abstain = cv.answer_probabilities < threshold
    info: dict[str, Any] = {
        "seed": seed, "data": str(data.name), "sklearn": sklearn.__version__,
        "questions": len(examples), "unanswerable": int((answerable == 0).sum()), "rows": len(y),
        "trees": len(trees.value), "threshold": threshold, "second_share": share,
        "top1": top1, "top2": top2, "facts": facts, "words": words,
        "false_abstention": float(abstain[answerable == 1].mean()),
        "caught": float(abstain[answerable == 0].mean()) if (answerable == 0).any() else 0.0,
        "tradeoff": tradeoff(cv.answer_probabilities, answerable),
        "articles": [(a.title, len(a.questions), sum(not q.answerable for q in a.questions))
                     for a in articles],
    }
    scorer = Scorer(trees, logistic, threshold, share, NEAR_WORD,
                    {k: v for k, v in info.items() if k not in ("tradeoff", "articles")})
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(scorer.to_json(), separators=(",", ":")) + "\n", encoding="utf-8")
    info["bytes"] = output.stat().st_size
    info["seconds"] = time.perf_counter() - started
    write_data_card(output.with_name("DATA_CARD.md"), info)
    return info


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m bot.answerers.training`: train and write the shipped scorer."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA.resolve(),
                        help="SQuAD-format JSON (default: ../shared/data/squad2-train-10-articles.json)")
    parser.add_argument("--work-dir", type=Path, default=Path(".cache/train"),
                        help="where the articles are ingested (kept to speed up later runs)")
    parser.add_argument("--output", type=Path, default=MODEL_PATH)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for the model and the trees (1 is fastest on a busy machine)")
    args = parser.parse_args(argv)
    for name, value in (("HF_HUB_OFFLINE", "1"), ("HF_HUB_DISABLE_TELEMETRY", "1"),
                        ("TOKENIZERS_PARALLELISM", "false"), ("OMP_NUM_THREADS", str(args.threads))):
        os.environ.setdefault(name, value)
    import torch

    torch.set_num_threads(args.threads)
    np.random.seed(args.seed)
    info = train(args.data, args.work_dir, args.output, args.seed)
    print(f"wrote {args.output} ({info['bytes'] / 1024:.0f} KiB) in {info['seconds']:.0f} s: top-1 "
          f"{info['top1']:.3f}, top-2 {info['top2']:.3f}, facts {info['facts']:.3f} at "
          f"{info['words']:.1f} words, threshold {info['threshold']:.3f} (false abstention "
          f"{info['false_abstention']:.3f}, unanswerable caught {info['caught']:.3f})")
    for t, fa, ab in info["tradeoff"]:
        print(f"  threshold {t:.2f}: false abstention {fa:.3f}, abstention on unanswerable {ab:.3f}")
    return 0


if __name__ == "__main__":
    # Run as the imported module, so what it caches names its classes by their module.
    from bot.answerers.training import main as _main

    sys.exit(_main())
