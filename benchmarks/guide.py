"""Guide benchmark (not a test): how often assignment questions, asked in a student's words, get a
hint instead of an answer, and how often ordinary questions about the case get one by mistake.

`make bench-guide` (`.venv/bin/python benchmarks/guide.py`) measures the shipped matcher
(bot/teaching/assignment.py) on the bundled case, through the whole bot (real MiniLM, a real
Chroma index in a temporary folder), with the data of benchmarks/data/guide/ (its README says who
wrote what): the four assignment questions of `assignment.json`; the first paraphrase set
(`paraphrases.jsonl`) in its old dev half (the first six paraphrases of each question, every
other one of the other questions) and its old held-out half; the two fresh sealed sets
(`heldout-fresh.jsonl`, `heldout-fresh-2.jsonl`; the second's other questions are marked as fact
questions or as narrower questions about an assignment question's topic, and its fact questions
are also counted on their own); and the case's ordinary fact questions (category `fact` of
questions.jsonl, heldout.jsonl and heldout-fresh.jsonl beside the case), which must not be guided.

`benchmarks/guide.py --fit` develops the model on the training cases of
benchmarks/data/guide/train/ alone (none is the bundled case): every (question, assignment
question) pair's features, a logistic model fitted on them (paraphrase with its own assignment
question: 1; anything else, including the cases' own question sets in training/data/cases/<id>/:
0), the threshold as the lowest score guiding at most 5% of the training cases' fact questions. It
prints the leave-one-case-out table (fitted on all cases but one, measured on that one) and the
constants that bot/teaching/assignment.py ships.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.settings import BUNDLED_CASES, DEFAULT_CASE, quiet_libraries  # noqa: E402

quiet_libraries()

DATA = REPO / "benchmarks" / "data" / "guide"
TRAIN = DATA / "train"
TRAIN_CASES = REPO / "training" / "data" / "cases"
FACT_SETS = ("questions.jsonl", "heldout.jsonl", "heldout-fresh.jsonl")
FACT_TARGET, PARAPHRASE_TARGET = 0.05, 0.90
# Ridge penalty of the logistic fit: a few features, a few thousand pairs; only keeps Newton's
# steps well defined.
L2 = 0.01


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def choose_threshold(fact_scores: list[float], share: float = FACT_TARGET) -> float:
    """The lowest threshold (a score just above one of the facts') guiding at most `share` of them."""
    ranked = sorted(fact_scores, reverse=True)
    allowed = int(share * len(ranked))
    return ranked[allowed] + 1e-6 if allowed < len(ranked) else 0.0


def fit_logistic(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Means, spreads, weights and bias of a ridge logistic regression on standardised features
    (Newton's method)."""
    means, spreads = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.hstack([(x - means) / spreads, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    penalty = L2 * np.eye(len(w))
    penalty[-1, -1] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-z @ w))
        gradient = z.T @ (p - y) / len(y) + penalty @ w
        hessian = (z.T * (p * (1 - p))) @ z / len(y) + penalty
        w -= np.linalg.solve(hessian, gradient)
    return means, spreads, w[:-1], float(w[-1])


def _rate(hits: int, total: int) -> str:
    return f"{hits / total:.3f} ({hits}/{total})" if total else "–"


def fit() -> int:
    """Develop the model on the training cases: leave-one-case-out table, then the constants."""
    from bot.teaching.assignment import FEATURES, AssignmentMatcher
    from ingest.pipeline import ingest_paths
    from vectorstore.embeddings import SentenceEmbeddings
    from vectorstore.store import CaseLibrary, open_client

    embeddings = SentenceEmbeddings()
    # Per case: (question, kind, the assignment it paraphrases or None, features per assignment).
    cases: dict[str, list[tuple[str, str, int | None, np.ndarray]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        library = CaseLibrary(open_client(Path(tmp) / "data"), embeddings)
        matcher = AssignmentMatcher(Path(tmp) / "cases", embeddings)
        for folder in sorted(p for p in TRAIN.iterdir() if p.is_dir()):
            # The case with its assignment questions beside it, as an instructor would ship them.
            ours = Path(tmp) / "cases" / folder.name
            ours.mkdir(parents=True)
            shutil.copy(TRAIN_CASES / folder.name / "case.md", ours)
            shutil.copy(folder / "assignment.json", ours)
            ingest_paths([ours], library)
            case = library.load(folder.name)
            assignment = matcher.questions(case.info)
            items = [(r["question"], "paraphrase" if r["assignment"] else "other", r["assignment"])
                     for r in _jsonl(folder / "questions.jsonl")]
            # The case's own question set: none of it may be guided; its fact questions set the
            # threshold (follow-ups, which need their history, are left out).
            items += [(r["question"], "fact" if r.get("category") == "fact" else "set", None)
                      for r in _jsonl(TRAIN_CASES / folder.name / "questions.jsonl")
                      if not r.get("history")]
            cases[folder.name] = [(q, kind, target, matcher.features(
                q, embeddings.encode_query(q), case, assignment)) for q, kind, target in items]
            print(f"{folder.name}: {len(items)} questions", file=sys.stderr, flush=True)

    def pairs(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        rows = [(f[j], float(target == j + 1)) for n in names for _, _, target, f in cases[n]
                for j in range(len(f))]
        return np.array([r[0] for r in rows]), np.array([r[1] for r in rows])

    def scorer(model: tuple[np.ndarray, np.ndarray, np.ndarray, float]) -> Callable[[np.ndarray], float]:
        means, spreads, weights, bias = model
        return lambda f: float(np.max(1 / (1 + np.exp(-(((f - means) / spreads) @ weights + bias)))))

    def threshold_on(names: list[str], score: Callable[[np.ndarray], float]) -> float:
        return choose_threshold([score(f) for n in names for _, kind, _, f in cases[n] if kind == "fact"])

    names = list(cases)
    hits = {kind: [0, 0] for kind in ("paraphrase", "other", "fact", "set")}
    for held in names:
        rest = [n for n in names if n != held]
        score = scorer(fit_logistic(*pairs(rest)))
        threshold = threshold_on(rest, score)
        for _, kind, _, f in cases[held]:
            hits[kind][0] += score(f) >= threshold
            hits[kind][1] += 1
    print(f"Leave one training case out ({len(names)} cases): fitted and thresholded on the other "
          f"{len(names) - 1}, measured on the one left out\n")
    print(f"| paraphrases guided (target >= {PARAPHRASE_TARGET}) | other questions guided | "
          f"fact questions guided (target <= {FACT_TARGET}) | the sets' other questions guided |")
    print("|---|---|---|---|")
    print(f"| {_rate(*hits['paraphrase'])} | {_rate(*hits['other'])} | {_rate(*hits['fact'])} | "
          f"{_rate(*hits['set'])} |\n")
    model = fit_logistic(*pairs(names))
    threshold = threshold_on(names, scorer(model))
    means, spreads, weights, bias = model
    print(f"Fitted on all {len(names)} cases (features: {', '.join(FEATURES)}):")
    print(f"MEANS = {tuple(round(float(v), 4) for v in means)}")
    print(f"SPREADS = {tuple(round(float(v), 4) for v in spreads)}")
    print(f"WEIGHTS = {tuple(round(float(v), 4) for v in weights)}")
    print(f"BIAS = {round(bias, 4)}")
    print(f"MATCH_THRESHOLD = {round(threshold, 4)}")
    return 0


def main() -> int:
    """The shipped matcher on the bundled case, through the whole bot."""
    from bot.answer import Turn
    from bot.answerers.extractive import ExtractiveAnswerer
    from bot.rag.chain import CaseBot
    from bot.teaching.assignment import MATCH_THRESHOLD, AssignmentMatcher
    from bot.teaching.hints import Teacher
    from ingest.pipeline import ingest_paths
    from vectorstore.embeddings import SentenceEmbeddings
    from vectorstore.store import CaseLibrary, open_client

    paraphrases = _jsonl(DATA / "paraphrases.jsonl")
    fresh = _jsonl(DATA / "heldout-fresh.jsonl")
    fresh_2 = _jsonl(DATA / "heldout-fresh-2.jsonl")
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
        bot = CaseBot(library, ExtractiveAnswerer(),
                      teacher=Teacher(AssignmentMatcher(folder.parent, embeddings)))

        def guided(items: list[dict[str, Any]]) -> str:
            hits = sum(bot.ask(q["question"], tuple(Turn(**t) for t in q.get("history", [])),
                               DEFAULT_CASE).guided for q in items)
            return _rate(hits, len(items))

        rows = [(name, guided([q for q in items if q["assignment"]]),
                 guided([q for q in items if not q["assignment"]]))
                for name, items in (("first set, old dev half", dev),
                                    ("first set, old held-out half", test),
                                    ("fresh sealed set", fresh),
                                    ("second fresh sealed set", fresh_2))]
        fact_rate = guided(facts)
        fresh_2_facts = guided([q for q in fresh_2 if q.get("kind") == "fact"])
        fresh_2_narrower = guided([q for q in fresh_2 if q.get("kind") == "narrower"])
    print(f"Bundled case, shipped model (MATCH_THRESHOLD {MATCH_THRESHOLD}; chosen on the training "
          "cases)\n")
    print(f"| set | paraphrases guided (target >= {PARAPHRASE_TARGET}) | other questions guided |")
    print("|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nThe case's fact questions guided (target <= {FACT_TARGET}): {fact_rate}")
    print(f"The second fresh set's fact questions guided (target <= {FACT_TARGET}): {fresh_2_facts}; "
          f"its narrower questions on an assignment question's topic: {fresh_2_narrower}")
    return 0


if __name__ == "__main__":
    raise SystemExit(fit() if sys.argv[1:] == ["--fit"] else main())
