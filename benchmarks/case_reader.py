"""Does a cross-encoder trained on the written business cases beat the hand-set sentence score?
(docs/decisions/case-reader.md)

The reader is the bundled all-MiniLM-L6-v2 (its first `--layers` layers, word embeddings frozen)
reading "question [SEP] sentence", mean-pooled, with one linear layer giving the logit that the
sentence answers the question. It is trained on the dumped candidates of training/data's train
split (`training/train_answerer.py --part train`), less ten of its cases kept to choose
thresholds on: for each question the hand-set score's best twelve candidates, labelled as
`make train` labels them (a sentence holding the answer or one of the evidence sentences; every
candidate of an unanswerable question is a negative). Loss per question: binary cross-entropy
over its candidates, a softmax over them towards the answering ones, and with `--question-loss`
a binary cross-entropy of the candidates' log-sum-exp against whether the case answers it.

It is judged on the dev split's dumps by replaying the answerer's decision and selection (as
`training/train_answerer.py --compare` does) with the reader's probability for the hand-set
score's best eight candidates:

- ranking: how often the first candidate holds the answer, by the hand-set score and by the reader;
- how well the reader's best probability among the first three tells answerable from not (AUC);
- answers: the hand-set score plus w times the reader's probability, with and without declining
  when the reader's best probability among the first three is under a threshold chosen on the ten
  kept train cases; and a logistic decision over the hand-set decision features and the reader's.

Run (about 35 minutes for six layers on two quiet cores):
`.venv/bin/python training/train_answerer.py --work-dir DUMPS --part train` and `--part dev`,
then `.venv/bin/python benchmarks/case_reader.py --dumps DUMPS --output DIR` (`--reuse` prints
the tables again from the probabilities it wrote, without training).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from bot.answerers.extractive import ScoredSentence, Signals  # noqa: E402
from bot.answerers.learned import DECISION_CANDIDATES, decision_features  # noqa: E402
from bot.answerers.reader import network  # noqa: E402
from training.candidates import read_dump  # noqa: E402
from training.train_answerer import (  # noqa: E402
    HAND_SET,
    Score,
    fit_logistic,
    gold,
    labels,
    logistic_probabilities,
    most_handled_threshold,
    strictest_threshold,
)
from training.train_reader import (  # noqa: E402
    ANSWERER,
    SEED,
    asked,
    by_hand_set,
    examples,
    kept_cases,
    probabilities,
    train,
)
from vectorstore.embeddings import bundled_model_path  # noqa: E402

READ = 8  # candidates the reader reads here (the answerer reads fewer: training/train_reader.py)
WEIGHTS = (0.0, 0.1, 0.2, 0.5, 1.0)
Line = dict[str, Any]


def first_read(lines: Sequence[Line]) -> list[tuple[str, list[str]]]:
    """Each question with the hand-set score's first READ candidates."""
    return [(asked(line), [c["text"] for c in by_hand_set(line)[:READ]]) for line in lines]


def reranked(line: Line, read: Sequence[float], weight: float
             ) -> tuple[list[ScoredSentence], dict[int, float]]:
    """The candidates by the hand-set score plus `weight` times the reader's probability (the
    wanted answer type first, as the answerer does), and the probability of each row read."""
    candidates = by_hand_set(line)
    probability = {c["row"]: p for c, p in zip(candidates, read, strict=False)}
    scored = [ScoredSentence(c["row"], c["paragraph"], c["text"], c["features"][0], 0.0, c["typed"],
                             HAND_SET.scorer.score(c["features"]) + weight * probability.get(c["row"], 0.0),
                             tuple(c["features"]), leaned=c["leaned"]) for c in candidates]
    scored.sort(key=lambda s: -s.score)
    return ANSWERER.wanted_first(scored, line["strict"]), probability


Ranked = tuple[list[ScoredSentence], dict[int, float]]
# Whether to answer, from the line, its ranked candidates and the reader's probability of each.
Decision = Callable[[Line, list[ScoredSentence], dict[int, float]], bool]


def count(lines: Sequence[Line], answer: Decision, reads: Sequence[Sequence[float]], weight: float) -> Score:
    """Replayed counts, pooled, of the answers `answer` lets through."""
    score = Score()
    for line, read in zip(lines, reads, strict=True):
        scored, probability = reranked(line, read, weight)
        answered = answer(line, scored, probability)
        text = " ".join(s.text for s in ANSWERER.select(scored, line["synthesis"])) if answered else ""
        if not line["answerable"]:
            score.unanswerable += 1
            score.caught += not answered
        elif not answered:
            score.answerable += 1
            score.false_abstentions += 1
        else:
            score.answerable += 1
            score.answered += 1
            score.words += len(text.split())
            score.facts += gold(line)(text)
    return score


def by_rules(line: Line, scored: list[ScoredSentence], probability: dict[int, float]) -> bool:
    """The shipped decision: the rules and the hand-set floor."""
    return ANSWERER.decide(Signals(*line["signals"]), scored, [])


def with_reader_floor(threshold: float) -> Decision:
    """The shipped decision, then declining when the reader's best probability among the first
    candidates is under `threshold`."""
    def answer(line: Line, scored: list[ScoredSentence], probability: dict[int, float]) -> bool:
        best = max((probability.get(s.row, 0.0) for s in scored[:DECISION_CANDIDATES]), default=0.0)
        return by_rules(line, scored, probability) and best >= threshold

    return answer


def decision_row(line: Line, scored: list[ScoredSentence], probability: dict[int, float]) -> np.ndarray:
    """The hand-set decision features, then the reader's best probability among the first
    candidates and its probability for the first."""
    top = scored[:DECISION_CANDIDATES]
    signals = Signals(*line["signals"])
    read = [probability.get(s.row, 0.0) for s in top] or [0.0]
    return np.array([*decision_features([s.features for s in top], [s.leaned for s in top],
                                        signals.top_hit, signals.lexical), max(read), read[0]])


def learned_decision(kept: Sequence[Line], kept_reads: Sequence[Sequence[float]], weight: float,
                     columns: list[int], max_false: float | None) -> Decision:
    """A logistic decision over `columns` of `decision_row`, fitted on the kept train cases the rules
    leave to it, with the threshold handling the most of them right (or the highest declining at
    most `max_false` of their answerable questions)."""
    rows, targets, right = [], [], []
    for line, read in zip(kept, kept_reads, strict=True):
        scored, probability = reranked(line, read, weight)
        if ANSWERER.ruled_out(Signals(*line["signals"]), scored):
            continue
        rows.append(decision_row(line, scored, probability)[columns])
        targets.append(float(line["answerable"]))
        text = " ".join(s.text for s in ANSWERER.select(scored, line["synthesis"]))
        right.append(bool(line["answerable"]) and gold(line)(text))
    x, y = np.array(rows), np.array(targets)
    mean, scale, w = fit_logistic(x, y, SEED)
    p = logistic_probabilities(x, mean, scale, w)
    threshold = most_handled_threshold(p, y, np.array(right)) if max_false is None \
        else strictest_threshold(p, y, max_false)

    def answer(line: Line, scored: list[ScoredSentence], probability: dict[int, float]) -> bool:
        if ANSWERER.ruled_out(Signals(*line["signals"]), scored):
            return False
        row = decision_row(line, scored, probability)[columns][None, :]
        return bool(logistic_probabilities(row, mean, scale, w)[0] >= threshold)

    return answer


def auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """The chance a positive scores above a negative (ties count half)."""
    a, b = np.asarray(positive)[:, None], np.asarray(negative)[None, :]
    return float((a > b).mean() + 0.5 * (a == b).mean())


def report(kept: Sequence[Line], kept_reads: Sequence[Sequence[float]], dev: Sequence[Line],
           dev_reads: Sequence[Sequence[float]]) -> str:
    """The tables of docs/decisions/case-reader.md for one trained reader."""
    hand_first = reader_first = ranked = 0
    answerable_best, unanswerable_best = [], []
    for line, read in zip(dev, dev_reads, strict=True):
        candidates = by_hand_set(line)[:READ]
        if not candidates:
            continue
        best = max(read[:DECISION_CANDIDATES])
        if not line["answerable"]:
            unanswerable_best.append(best)
            continue
        target = labels({**line, "candidates": candidates})
        if target[:DECISION_CANDIDATES].any():
            answerable_best.append(best)
        if target.any():
            ranked += 1
            hand_first += bool(target[0])
            reader_first += bool(target[int(np.argmax(read))])
    out = [f"Ranking ({ranked} answerable dev questions with an answering sentence among the first {READ}):",
           f"first candidate answers: hand-set {hand_first / ranked:.3f}, reader {reader_first / ranked:.3f}",
           f"AUC of the reader's best probability among the first {DECISION_CANDIDATES}, answerable (an "
           f"answering sentence among them) against unanswerable: "
           f"{auc(answerable_best, unanswerable_best):.3f}", "",
           "| ranking | decision | facts | false abst. | abst. on unans. | mean words |",
           "|---|---|---|---|---|---|"]

    def row(name: str, decision: str, score: Score) -> str:
        a = max(score.answerable, 1)
        caught = score.caught / max(score.unanswerable, 1)
        return (f"| {name} | {decision} | {score.facts / a:.3f} | {score.false_abstentions / a:.3f} | "
                f"{caught:.3f} | {score.words / max(score.answered, 1):.1f} |")

    for weight in WEIGHTS:
        name = "hand-set" if weight == 0 else f"hand-set + {weight:g} x reader"
        out.append(row(name, "rules and floor", count(dev, by_rules, dev_reads, weight)))
        cuts = [round(0.05 * i, 2) for i in range(1, 18)]
        kept_handled = {t: count(kept, with_reader_floor(t), kept_reads, weight) for t in cuts}
        best = max(cuts, key=lambda t: (kept_handled[t].facts + kept_handled[t].caught, -t))
        out.append(row(name, f"+ reader floor {best:g}",
                       count(dev, with_reader_floor(best), dev_reads, weight)))
    hand, reader, both = list(range(10)), [10, 11], list(range(12))
    for weight in (0.0, 0.1):
        name = "hand-set" if weight == 0 else f"hand-set + {weight:g} x reader"
        for label, columns in (("hand-set features", hand), ("reader's", reader), ("both", both)):
            for max_false, how in ((None, "most handled"), (0.05, "false abst. <= 0.05 on kept"),
                                   (0.10, "false abst. <= 0.10 on kept")):
                decide = learned_decision(kept, kept_reads, weight, columns, max_false)
                out.append(row(name, f"logistic, {label}, {how}",
                               count(dev, decide, dev_reads, weight)))
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """Train the reader, read the kept and dev questions, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--dumps", type=Path, required=True, help="folder with train.jsonl and dev.jsonl")
    parser.add_argument("--output", type=Path, required=True, help="folder for the probabilities read")
    parser.add_argument("--layers", type=int, default=6, help="MiniLM layers the reader keeps (default 6)")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--question-loss", type=float, default=0.0, metavar="WEIGHT",
                        help="weight of the per-question answerable loss (default 0: none)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--reuse", action="store_true",
                        help="print the tables from the probabilities in --output/read.json, no training")
    args = parser.parse_args(argv)
    train_lines = read_dump(args.dumps / "train.jsonl")
    dev = read_dump(args.dumps / "dev.jsonl")
    if args.reuse:
        read = json.loads((args.output / "read.json").read_text(encoding="utf-8"))
        kept = [line for line in train_lines if line["case"] in set(read["kept_cases"])]
        print(report(kept, read["kept"], dev, read["dev"]))
        return 0
    import torch
    from transformers import AutoTokenizer

    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    kept_names = kept_cases(train_lines, args.seed)
    kept = [line for line in train_lines if line["case"] in kept_names]
    tokenizer = AutoTokenizer.from_pretrained(bundled_model_path())
    model = network(args.layers)
    started = time.perf_counter()
    train(model, tokenizer, examples([line for line in train_lines if line["case"] not in kept_names]),
          args.epochs, args.seed, args.question_loss)
    minutes = (time.perf_counter() - started) / 60
    kept_reads = probabilities(model, tokenizer, first_read(kept))
    dev_reads = probabilities(model, tokenizer, first_read(dev))
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "read.json").write_text(json.dumps({"kept_cases": sorted(kept_names), "kept": kept_reads,
                                                       "dev": dev_reads}))
    trained_cases = len({line["case"] for line in train_lines}) - len(kept_names)
    print(f"Trained {args.layers} layers on {len(train_lines) - len(kept)} questions of {trained_cases} "
          f"train cases in {minutes:.1f} minutes\n")
    print(report(kept, kept_reads, dev, dev_reads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
