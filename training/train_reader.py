"""Train the case reader and the decision that reads it (`make train-reader`;
bot/answerers/reader.py, docs/decisions/case-reader.md).

The reader is the bundled all-MiniLM-L6-v2's first `--layers` layers reading "question [SEP]
sentence" (word embeddings frozen). It trains on the dumped candidates of training/data's train
split (`training/train_answerer.py --part train` writes them to `--work-dir/train.jsonl`), less
ten of its cases kept to fit the decision on: for each question the hand-set score's best twelve
candidates, labelled as `make train` labels them (a sentence holding the answer or one of the
evidence sentences; every candidate of an unanswerable question is a negative). Loss per
question: binary cross-entropy over its candidates, a softmax over them towards the answering
ones, and (`--question-loss`) a binary cross-entropy of the candidates' log-sum-exp against
whether the case answers it, which is what teaches it to tell a near-miss from a question the
case answers.

Then, on the kept cases, with the reader reading the best `--read` candidates and its
probability added to their scores at `--weight`: a logistic regression over `reader_features`
for the questions the answerer's rules leave to it, with the highest threshold declining at most
`--max-false-abstention` of their answerable questions.

One pass in a seeded order, two questions a step, AdamW; it prints how long it took and writes
`reader.pt` and `learned.json` to `--output` (default `--work-dir`). Shipping them is copying
both beside bot/answerers/learned.py when benchmarks/generality.py says they win.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from bot.answer import Turn  # noqa: E402
from bot.answerers.extractive import ExtractiveAnswerer, Signals  # noqa: E402
from bot.answerers.learned import DECISION_CANDIDATES, AbstentionModel, LearnedModels, reader_features  # noqa: E402
from bot.answerers.reader import MAX_TOKENS, network, read_question, save  # noqa: E402
from training.candidates import read_dump  # noqa: E402
from training.train_answerer import (  # noqa: E402
    HAND_SET,
    fit_logistic,
    labels,
    logistic_probabilities,
    ranked,
    strictest_threshold,
)
from vectorstore.embeddings import bundled_model_path  # noqa: E402

TRAINED = 12  # candidates a question trains on
KEPT_CASES = 10  # train cases kept out of training, to fit the decision on
SEED = 20261
ANSWERER = ExtractiveAnswerer(models=HAND_SET)
Line = dict[str, Any]


def asked(line: Line) -> str:
    """A dumped question as the reader reads it (a follow-up after the question it follows)."""
    return read_question(str(line["question"]), [Turn(t["role"], t["content"]) for t in line["history"]])


def by_hand_set(line: Line) -> list[dict[str, Any]]:
    """The question's candidates, best first by the hand-set score."""
    return sorted(line["candidates"], key=lambda c: -HAND_SET.scorer.score(c["features"]))


def examples(lines: Sequence[Line]) -> list[tuple[str, list[str], np.ndarray]]:
    """Each question with its best candidates and their labels (an answerable question none of
    whose candidates answers it teaches nothing and is left out)."""
    out = []
    for line in lines:
        candidates = by_hand_set(line)[:TRAINED]
        target = labels({**line, "candidates": candidates}) if line["answerable"] \
            else np.zeros(len(candidates), dtype=bool)
        if candidates and (target.any() or not line["answerable"]):
            out.append((asked(line), [c["text"] for c in candidates], target.astype(np.float32)))
    return out


def train(model: Any, tokenizer: Any, data: Sequence[tuple[str, list[str], np.ndarray]], epochs: float,
          seed: int, question_loss: float) -> None:
    """AdamW over the data in a seeded order, two questions a step."""
    import torch
    from tqdm import tqdm

    torch.manual_seed(seed)
    order_rng = random.Random(seed)
    optimiser = torch.optim.AdamW([
        {"params": [p for p in model.encoder.parameters() if p.requires_grad], "lr": 4e-5},
        {"params": model.head.parameters(), "lr": 1e-3}], weight_decay=0.01)
    order: list[tuple[str, list[str], np.ndarray]] = []
    model.train()
    for _ in tqdm(range(int(epochs * len(data) / 2)), desc="training", unit="step", file=sys.stderr):
        if len(order) < 2:
            order = list(data)
            order_rng.shuffle(order)
        batch, order = order[:2], order[2:]
        loss = torch.zeros(())
        for question, texts, target in batch:
            logits = model(**tokenizer([question] * len(texts), texts, truncation=True,
                                       max_length=MAX_TOKENS, padding=True, return_tensors="pt"))
            y = torch.tensor(target)
            loss = loss + torch.nn.functional.binary_cross_entropy_with_logits(logits, y)
            if question_loss:
                loss = loss + question_loss * torch.nn.functional.binary_cross_entropy_with_logits(
                    torch.logsumexp(logits, 0), torch.tensor(float(target.any())))
            if target.any():
                loss = loss + torch.nn.functional.cross_entropy(logits.unsqueeze(0),
                                                                (y / y.sum()).unsqueeze(0))
        loss.backward()
        optimiser.step()
        optimiser.zero_grad()
    model.eval()


def probabilities(model: Any, tokenizer: Any, questions: Sequence[tuple[str, list[str]]]
                  ) -> list[list[float]]:
    """The reader's probability for each question's sentences."""
    import torch

    out = []
    with torch.inference_mode():
        for question, texts in questions:
            out.append(torch.sigmoid(model(**tokenizer([question] * len(texts), texts, truncation=True,
                                                        max_length=MAX_TOKENS, padding=True,
                                                        return_tensors="pt"))).tolist() if texts else [])
    return out


def decision_reads(lines: Sequence[Line]) -> list[tuple[str, list[str]]]:
    """Each question with the candidates its decision reads: the first `DECISION_CANDIDATES` as the
    answerer ranks them (hand-set score, wanted answer type first)."""
    return [(asked(line), [s.text for s in ranked(line, ANSWERER)[:DECISION_CANDIDATES]]) for line in lines]


def fit_decision(lines: Sequence[Line], reads: Sequence[Sequence[float]], max_false: float,
                 seed: int) -> AbstentionModel:
    """A logistic regression over `reader_features` for the questions the rules leave to it, with
    the highest threshold declining at most `max_false` of their answerable questions."""
    rows, targets = [], []
    for line, read in zip(lines, reads, strict=True):
        if ANSWERER.ruled_out(Signals(*line["signals"]), ranked(line, ANSWERER)):
            continue
        rows.append(reader_features(read))
        targets.append(float(line["answerable"]))
    x, y = np.array(rows), np.array(targets)
    mean, scale, w = fit_logistic(x, y, seed)
    threshold = strictest_threshold(logistic_probabilities(x, mean, scale, w), y, max_false)
    return AbstentionModel(tuple(mean), tuple(scale), tuple(w[:-1]), float(w[-1]), threshold)


def kept_cases(lines: Sequence[Line], seed: int, kept: int = KEPT_CASES) -> set[str]:
    """The train cases kept out of the reader's training, to fit the decision on (seeded)."""
    cases = sorted({line["case"] for line in lines})
    random.Random(seed).shuffle(cases)
    return set(cases[:kept])


def main(argv: Sequence[str] | None = None) -> int:
    """Train the reader on the dumped train split, fit the decision on the kept cases, write both."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--work-dir", type=Path, default=REPO / ".cache" / "train",
                        help="where `training/train_answerer.py --part train` dumped train.jsonl")
    parser.add_argument("--output", type=Path, default=None, metavar="DIR",
                        help="where to write reader.pt and learned.json (default: --work-dir)")
    parser.add_argument("--layers", type=int, default=3, help="MiniLM layers the reader keeps (default 3)")
    parser.add_argument("--epochs", type=float, default=1.0,
                        help="passes over the training questions (default 1)")
    parser.add_argument("--question-loss", type=float, default=1.0, metavar="WEIGHT",
                        help="weight of the per-question answerable loss (default 1)")
    parser.add_argument("--articles", action=argparse.BooleanOptionalAction, default=True,
                        help="also train on the articles' dumped candidates (--work-dir/articles.jsonl, "
                             "`training/train_answerer.py --part articles`; default: yes)")
    parser.add_argument("--hold-articles", default="", metavar="ID,ID",
                        help="articles left out of training, to judge the reader on them (a fold)")
    parser.add_argument("--max-false-abstention", type=float, default=0.005, metavar="SHARE",
                        help="of the kept cases' answerable questions the decision may decline "
                             "(default 0.005)")
    parser.add_argument("--kept-cases", type=int, default=KEPT_CASES, metavar="N",
                        help=f"train cases kept to fit the decision on, not trained on ({KEPT_CASES})")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    import torch
    from transformers import AutoTokenizer

    from bot.settings import quiet_libraries

    quiet_libraries()
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)  # the score layer's first weights
    lines = read_dump(args.work_dir / "train.jsonl")
    held_articles = {name.strip() for name in args.hold_articles.split(",") if name.strip()}
    articles = [line for line in read_dump(args.work_dir / "articles.jsonl")
                if line["case"] not in held_articles] if args.articles else []
    kept = kept_cases(lines, args.seed, args.kept_cases)
    held = [line for line in lines if line["case"] in kept]
    trained = [line for line in lines if line["case"] not in kept] + articles
    tokenizer = AutoTokenizer.from_pretrained(bundled_model_path())
    model = network(args.layers)
    started = time.perf_counter()
    train(model, tokenizer, examples(trained), args.epochs, args.seed, args.question_loss)
    decision = fit_decision(held, probabilities(model, tokenizer, decision_reads(held)),
                            args.max_false_abstention, args.seed)
    output = args.output or args.work_dir
    save(model, output / "reader.pt")
    models = LearnedModels(HAND_SET.scorer, decision, reader=True)
    (output / "learned.json").write_text(models.to_json(), encoding="utf-8")
    print(f"Trained {args.layers} layers on {len(trained)} questions ({len(articles)} of articles) and "
          f"fitted the decision on the {len(held)} questions of {len(kept)} kept cases in "
          f"{(time.perf_counter() - started) / 60:.1f} minutes; wrote {output / 'reader.pt'} and "
          f"{output / 'learned.json'} (seed {args.seed}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
