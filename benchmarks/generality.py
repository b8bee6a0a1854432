"""Generality benchmark: how the default answerer does on texts and questions nobody here wrote.

Each article of a SQuAD-format file becomes a case (its title line, then one paragraph per
context) and its crowd-written questions a question set; the questions go through the same code
as `casebot eval` (CaseBot.ask via bot.evaluation.runner.ask_question). Per article and pooled it prints:

- facts: share of answerable questions whose answer holds a gold answer (SQuAD-normalised);
- cites: share of answerable questions whose answer cites the gold paragraph;
- false abstention (answerable questions declined) and abstention on unanswerable questions;
- mean words of the answers given (markers aside), warm latency p95;
- baselines from the same store: the dense top-1 sentence, the BM25 top-1 sentence and the
  three sentences ranked first by reciprocal-rank fusion of the two (facts and words).

By default the scorer is judged leave-one-article-out: the models answering an article were
trained (bot/answerers/training.py) on the other articles only, so no article is judged by a model
that saw it. `--scorer shipped` uses the shipped model (trained on all of them: in-sample on the
default data). The threshold trade-off curve of the held-out predictions is printed too.

Run: `.venv/bin/python benchmarks/generality.py [--articles N] [--max-questions N]`. The articles
are ingested once into `--work-dir` (shared with `make train`), so later runs start fast.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

for _name, _value in (("HF_HUB_OFFLINE", "1"), ("HF_HUB_DISABLE_TELEMETRY", "1"),
                      ("TOKENIZERS_PARALLELISM", "false")):
    os.environ.setdefault(_name, _value)

from benchmarks.latency import percentile  # noqa: E402

DEFAULT_DATA = (REPO / ".." / "shared" / "data" / "squad2-train-10-articles.json").resolve()
RRF_K = 60


@dataclass
class Tally:
    """Counts for one article (or pooled)."""

    name: str
    answerable: int = 0
    unanswerable: int = 0
    facts: int = 0
    cites: int = 0
    false_abstentions: int = 0
    caught: int = 0
    words: int = 0
    answered: int = 0
    dense: int = 0
    bm25: int = 0
    rrf3: int = 0
    rrf3_words: int = 0
    latencies: list[float] | None = None

    def add(self, other: Tally) -> None:
        for field in ("answerable", "unanswerable", "facts", "cites", "false_abstentions", "caught",
                      "words", "answered", "dense", "bm25", "rrf3", "rrf3_words"):
            setattr(self, field, getattr(self, field) + getattr(other, field))
        self.latencies = (self.latencies or []) + (other.latencies or [])

    def row(self) -> str:
        a = max(self.answerable, 1)
        u = f"{self.caught / self.unanswerable:.3f}" if self.unanswerable else "n/a"
        words = self.words / self.answered if self.answered else 0.0
        p95 = percentile(self.latencies or [], 0.95)
        return (f"| {self.name} | {self.answerable}/{self.unanswerable} | {self.facts / a:.3f} | "
                f"{self.cites / a:.3f} | {self.false_abstentions / a:.3f} | {u} | {words:.1f} | "
                f"{p95:.0f} | {self.dense / a:.3f} | {self.bm25 / a:.3f} | {self.rrf3 / a:.3f} "
                f"({self.rrf3_words / a:.0f} w) |")


HEADER = ("| article | questions (ans./unans.) | facts | cites | false abst. | abst. on unans. | "
          "mean words | p95 ms | dense top-1 | BM25 top-1 | RRF top-3 |\n|---|---|---|---|---|---|---|---|"
          "---|---|---|")


def baselines(case: object, library: object, question: str) -> tuple[list[int], list[int], list[int]]:
    """Sentence rows ranked first by dense similarity, by BM25, and the RRF top three."""
    import numpy as np

    from vectorstore.store import CaseLibrary, LoadedCase
    from vectorstore.text import content_terms

    assert isinstance(case, LoadedCase) and isinstance(library, CaseLibrary)
    rows = [r for r in case.sentence_rows if case.paragraph_of(r) != 1]
    vector = library.embeddings.encode_query(question)
    dense = np.asarray(case.vectors[rows] @ vector)
    positions = {row: i for i, row in enumerate(case.sentence_rows)}
    lexical_all = case.sentence_index.scores(content_terms(question))
    lexical = np.array([lexical_all[positions[r]] for r in rows])
    dense_order = list(np.argsort(-dense, kind="stable"))
    bm25_order = list(np.argsort(-lexical, kind="stable"))
    fused = np.zeros(len(rows))
    for order in (dense_order, bm25_order):
        for rank, i in enumerate(order):
            fused[i] += 1.0 / (RRF_K + rank + 1)
    rrf = list(np.argsort(-fused, kind="stable"))
    return [rows[dense_order[0]]], [rows[bm25_order[0]]], [rows[i] for i in rrf[:3]]


def evaluate_article(article: object, library: object, answerer: object, max_questions: int | None,
                     seed: int) -> Tally:
    """Ask an article's questions (all, or a seeded sample) and count."""
    import numpy as np

    from bot.answerers.squad import SquadArticle, contains_answer
    from bot.evaluation.metrics import strip_markers
    from bot.evaluation.questions import Question
    from bot.evaluation.runner import ask_question
    from bot.rag.chain import CaseBot

    assert isinstance(article, SquadArticle)
    bot = CaseBot(library, answerer)  # type: ignore[arg-type]
    bot.ask("What is this case about?", (), article.case_id)  # warm: load the case
    case = bot.library.load(article.case_id)
    case.word_vectors(bot.library.embeddings)
    questions = list(article.questions)
    if max_questions is not None and len(questions) > max_questions:
        keep = sorted(np.random.default_rng(seed).choice(len(questions), size=max_questions,
                                                         replace=False))
        questions = [questions[i] for i in keep]
    tally = Tally(article.title, latencies=[])
    for item in questions:
        question = Question(item.id, item.question, answerable=item.answerable,
                            expected_paragraphs=(item.paragraph,))
        row = ask_question(bot, question, article.case_id)
        if row.get("latency_ms") is not None and tally.latencies is not None:
            tally.latencies.append(float(row["latency_ms"]))
        if not item.answerable:
            tally.unanswerable += 1
            tally.caught += bool(row["abstained"])
            continue
        tally.answerable += 1
        if row["abstained"]:
            tally.false_abstentions += 1
        else:
            text = strip_markers(row["answer"])
            tally.facts += contains_answer(text, item.answers)
            tally.cites += item.paragraph in {c["paragraph"] for c in row["citations"]}
            tally.words += len(text.split())
            tally.answered += 1
        dense, bm25, rrf3 = baselines(case, bot.library, item.question)
        tally.dense += contains_answer(case.texts[dense[0]], item.answers)
        tally.bm25 += contains_answer(case.texts[bm25[0]], item.answers)
        tally.rrf3 += contains_answer(" ".join(case.texts[r] for r in rrf3), item.answers)
        tally.rrf3_words += sum(len(case.texts[r].split()) for r in rrf3)
    return tally


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SQuAD-format JSON")
    parser.add_argument("--articles", type=int, default=None, metavar="N",
                        help="evaluate the first N articles only (default: all)")
    parser.add_argument("--max-questions", type=int, default=None, metavar="N",
                        help="a seeded sample of at most N questions per evaluated article")
    parser.add_argument("--scorer", choices=("loao", "shipped", "legacy"), default="loao",
                        help="loao: models trained without the article (default); shipped: the "
                             "shipped model; legacy: the answerer's own default (for older code)")
    parser.add_argument("--train-questions", type=int, default=None, metavar="N",
                        help="with loao: train on at most N questions per article (default: all)")
    parser.add_argument("--work-dir", type=Path, default=REPO / ".cache" / "train",
                        help="where the articles are ingested (shared with `make train`)")
    parser.add_argument("--seed", type=int, default=20260)
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for the model and the trees (1 is fastest on a busy machine)")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)

    from bot.answerers.extractive import ExtractiveAnswerer
    from bot.answerers.squad import load_articles

    started = time.perf_counter()
    articles = load_articles(args.data)
    evaluated = list(range(len(articles)))[:args.articles]
    from bot.answerers.training import ingest_articles, open_work_library

    library = open_work_library(args.work_dir)
    ingest_articles(library, articles, args.work_dir)
    answerers: dict[int, object] = {}
    cv_info = ""
    if args.scorer == "loao":
        import numpy as np

        from bot.answerers.training import collect_cached, cross_validate_cached, tradeoff

        examples = collect_cached(library, articles, args.work_dir, max_questions=args.train_questions,
                                  seed=args.seed)
        cv = cross_validate_cached(examples, args.work_dir, args.seed)
        answerable = np.array([e.answerable for e in examples], dtype=float)
        for index in evaluated:
            answerers[index] = ExtractiveAnswerer(scorer=cv.folds[index])
        fold = next(iter(cv.folds.values()))
        cv_info = (f"\nThreshold {fold.threshold:.3f} and second-sentence share {fold.second_share} "
                   f"chosen on the pooled held-out predictions of {len(examples)} training questions."
                   "\n\nTrade-off (held-out answer probability; abstain below the threshold):\n\n"
                   "| threshold | false abstention | abstention on unanswerable |\n|---|---|---|\n")
        cv_info += "\n".join(f"| {t:.2f} | {fa:.3f} | {ab:.3f} |"
                             for t, fa, ab in tradeoff(cv.answer_probabilities, answerable,
                                                       sorted({*np.linspace(0, 0.9, 10).round(2).tolist(),
                                                               round(fold.threshold, 3)})))
    else:
        for index in evaluated:
            answerers[index] = ExtractiveAnswerer()
    pooled = Tally("pooled", latencies=[])
    lines = []
    for index in evaluated:
        tally = evaluate_article(articles[index], library, answerers[index], args.max_questions,
                                 args.seed)
        pooled.add(tally)
        lines.append(tally.row())
        print(f"  {articles[index].title}: done", file=sys.stderr)
    sample = "all questions" if args.max_questions is None else \
        f"a seeded sample (seed {args.seed}) of at most {args.max_questions} questions per article"
    print(f"Data: {args.data.name}; articles evaluated: "
          f"{', '.join(articles[i].title for i in evaluated)}; {sample}; scorer: {args.scorer}.\n")
    print(HEADER)
    print("\n".join(lines))
    print(pooled.row().replace("| pooled |", "| **pooled** |"))
    print(cv_info)
    print(f"\nTotal time {time.perf_counter() - started:.0f} s; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
