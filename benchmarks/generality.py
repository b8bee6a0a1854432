"""Generality benchmark: how the default answerer does on texts and questions nobody here wrote.

Each article of a SQuAD-format file becomes a case (its title line, then one paragraph per
context) and its crowd-written questions a question set; the questions go through the same code
as `casebot eval` (bot.evaluation.runner.ask_question). Per article and pooled it prints:

- facts: share of answerable questions whose answer holds a gold answer (SQuAD-normalised);
- cites: share of answerable questions whose answer cites the gold paragraph;
- false abstention (answerable questions declined) and abstention on unanswerable questions;
- mean words of the answers given (markers aside), warm latency p95;
- baselines from the same store: the dense top-1 sentence, the BM25 top-1 sentence and the
  three sentences ranked first by reciprocal-rank fusion of the two (facts and their words).

Run: `.venv/bin/python benchmarks/generality.py [--articles 0,3] [--max-questions N]`. The articles
are ingested once into `--work-dir`, so later runs start fast. `--results FILE` writes one JSON
line per question (question, answer, gold answers, verdicts) for reading the failures.

`--cases DIR [--split dev]` runs a folder of cases instead (`DIR/cases/<id>/case.*` with its
`questions.jsonl`, and `DIR/splits.json` naming each split's cases, as training/data holds them):
facts are answers holding every must_include string, cites answers citing an expected paragraph,
printed per category and pooled.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from benchmarks.squad import SquadArticle, contains_answer, load_articles, open_articles  # noqa: E402
from bot.settings import quiet_libraries  # noqa: E402

DEFAULT_DATA = (REPO / ".." / "shared" / "data" / "squad2-train-10-articles.json").resolve()
RRF_K = 60
# The bundled case's question sets the benchmarks may read (heldout-fresh-2 stays sealed).
CASE_SETS = ("questions", "heldout", "heldout-fresh")


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
    latencies: list[float] = field(default_factory=list)

    def count(self, row: dict[str, Any], answerable: bool | None, fact: Callable[[str], bool],
              cited: Callable[[set[int]], bool]) -> dict[str, Any]:
        """Count one answered question (`fact` judges the answer's text without markers, `cited`
        the paragraphs it cites); its verdict for the results file."""
        from bot.evaluation.metrics import strip_markers

        if row.get("latency_ms") is not None:
            self.latencies.append(float(row["latency_ms"]))
        verdict: dict[str, Any] = {"abstained": bool(row["abstained"])}
        if not answerable:
            self.unanswerable += 1
            self.caught += bool(row["abstained"])
            return verdict
        self.answerable += 1
        if row["abstained"]:
            self.false_abstentions += 1
            return verdict
        text = strip_markers(row["answer"])
        verdict["fact"] = fact(text)
        verdict["cited"] = cited({c["paragraph"] for c in row["citations"]})
        self.facts += verdict["fact"]
        self.cites += verdict["cited"]
        self.words += len(text.split())
        self.answered += 1
        return verdict

    def add(self, other: Tally) -> None:
        """Pool another article's counts into this one."""
        for counter in fields(self):
            if counter.type == "int":
                setattr(self, counter.name, getattr(self, counter.name) + getattr(other, counter.name))
        self.latencies += other.latencies

    def row(self) -> str:
        """The tally as one Markdown table row."""
        from bot.evaluation.metrics import percentile

        a = max(self.answerable, 1)
        caught = f"{self.caught / self.unanswerable:.3f}" if self.unanswerable else "n/a"
        words = self.words / self.answered if self.answered else 0.0
        p95 = percentile(self.latencies, 95) or 0.0
        return (f"| {self.name} | {self.answerable}/{self.unanswerable} | {self.facts / a:.3f} | "
                f"{self.cites / a:.3f} | {self.false_abstentions / a:.3f} | {caught} | {words:.1f} | "
                f"{p95:.0f} | {self.dense / a:.3f} | {self.bm25 / a:.3f} | {self.rrf3 / a:.3f} "
                f"({self.rrf3_words / a:.0f} w) |")


HEADER = ("| article | questions (ans./unans.) | facts | cites | false abst. | abst. on unans. | "
          "mean words | p95 ms | dense top-1 | BM25 top-1 | RRF top-3 |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|")


def baselines(case: Any, library: Any, question: str) -> tuple[int, int, list[int]]:
    """Sentence rows ranked first by dense similarity and by BM25, and the RRF top three."""
    import numpy as np

    from vectorstore.text import content_terms

    rows = [r for r in case.sentence_rows if case.paragraph_of(r) != 1]
    positions = {row: i for i, row in enumerate(case.sentence_rows)}
    dense = np.asarray(case.vectors[rows] @ library.embeddings.encode_query(question))
    lexical_all = case.sentence_index.scores(content_terms(question))
    lexical = np.array([lexical_all[positions[r]] for r in rows])
    dense_order = np.argsort(-dense, kind="stable")
    bm25_order = np.argsort(-lexical, kind="stable")
    fused = np.zeros(len(rows))
    for order in (dense_order, bm25_order):
        fused[order] += 1.0 / (RRF_K + np.arange(1, len(rows) + 1))
    rrf = np.argsort(-fused, kind="stable")
    return rows[dense_order[0]], rows[bm25_order[0]], [rows[i] for i in rrf[:3]]


def evaluate_article(article: SquadArticle, bot: Any, max_questions: int | None, seed: int,
                     results: Any) -> Tally:
    """Ask an article's questions (all, or a seeded sample) and count."""
    import numpy as np

    from bot.evaluation.questions import Question
    from bot.evaluation.runner import ask_question

    bot.ask("What is this case about?", (), article.case_id)  # warm: load the case
    case = bot.library.load(article.case_id)
    case.word_vectors(bot.library.embeddings)
    questions = list(article.questions)
    if max_questions is not None and len(questions) > max_questions:
        keep = sorted(np.random.default_rng(seed).choice(len(questions), size=max_questions,
                                                         replace=False))
        questions = [questions[i] for i in keep]
    tally = Tally(article.title)
    for item in questions:
        question = Question(item.id, item.question, answerable=item.answerable,
                            expected_paragraphs=(item.paragraph,))
        row = ask_question(bot, question, article.case_id)
        verdict = tally.count(row, item.answerable,
                              lambda text, gold=item.answers: contains_answer(text, gold),
                              lambda cited, gold=item.paragraph: gold in cited)
        if item.answerable:
            dense, bm25, rrf3 = baselines(case, bot.library, item.question)
            tally.dense += contains_answer(case.texts[dense], item.answers)
            tally.bm25 += contains_answer(case.texts[bm25], item.answers)
            tally.rrf3 += contains_answer(" ".join(case.texts[r] for r in rrf3), item.answers)
            tally.rrf3_words += sum(len(case.texts[r].split()) for r in rrf3)
        if results is not None:
            results.write(json.dumps({"case": article.case_id, "id": item.id, "question": item.question,
                                      "answerable": item.answerable, "paragraph": item.paragraph,
                                      "gold": item.answers, "answer": row["answer"], **verdict},
                                     ensure_ascii=False) + "\n")
    return tally


def add_article_options(parser: argparse.ArgumentParser) -> None:
    """The options naming the articles, where they are ingested and the sampling seed."""
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SQuAD-format JSON")
    parser.add_argument("--articles", default=None, metavar="I,J",
                        help="comma-separated article indexes, from 0 (default: all)")
    parser.add_argument("--work-dir", type=Path, default=REPO / ".cache" / "generality",
                        help="where the articles are ingested (kept between runs)")
    parser.add_argument("--seed", type=int, default=20260, help="the seed of the question samples")
    parser.add_argument("--models", default="shipped", metavar="shipped|hand-set|FILE",
                        help="the extractive answerer's learned models: shipped (default; trained "
                             "on these articles too, so judge the articles with a fold's FILE from "
                             "training/train_answerer.py --folds), hand-set (the hand-set weights "
                             "and similarity floor the models replaced) or a models file")


def answerer_for(spec: str) -> Any:
    """The extractive answerer `--models` names."""
    from bot.answerers.config import HAND_SET
    from bot.answerers.extractive import ExtractiveAnswerer
    from bot.answerers.learned import SHIPPED_MODELS, hand_set_models

    models = {"shipped": SHIPPED_MODELS, "hand-set": hand_set_models(HAND_SET)}
    return ExtractiveAnswerer(models=models[spec] if spec in models else Path(spec))


def open_chosen_articles(args: argparse.Namespace) -> tuple[list[SquadArticle], Any]:
    """The articles `--data` and `--articles` choose, and a CaseBot with the extractive answerer
    `--models` names over them (ingested into `--work-dir`)."""
    from bot.rag.chain import CaseBot

    articles = load_articles(args.data)
    articles = [articles[index] for index in parse_articles(args.articles, len(articles))]
    return articles, CaseBot(open_articles(articles, args.work_dir), answerer_for(args.models))


def bundled_case_questions(library: Any) -> list[tuple[str, Any]]:
    """The bundled case, ingested into `library`, and the single questions (those without a
    history) of its development and held-out sets, each with its set's name. The sealed set
    (heldout-fresh-2) is not read."""
    from bot.evaluation.questions import load_questions
    from bot.settings import DEFAULT_CASE
    from ingest.pipeline import ingest_file

    folder = REPO / "cases" / DEFAULT_CASE
    ingest_file(folder / "case.txt", library, progress=False)
    return [(name, question) for name in CASE_SETS
            for question in load_questions(folder / f"{name}.jsonl") if not question.history]


def parse_articles(spec: str | None, count: int) -> list[int]:
    """Article indexes from "0,3,5" (all when None)."""
    if spec is None:
        return list(range(count))
    chosen = [int(part) for part in spec.split(",") if part.strip()]
    bad = [i for i in chosen if not 0 <= i < count]
    if bad:
        raise SystemExit(f"--articles: no article {bad[0]} (the file has {count}, numbered from 0)")
    return chosen


CASE_HEADER = ("| category | questions (ans./unans.) | facts | cites | false abst. | abst. on unans. | "
               "mean words | p95 ms |\n|---|---|---|---|---|---|---|---|")


def case_row(tally: Tally) -> str:
    """A case-folder tally as one Markdown row (the article baselines have no case counterpart)."""
    return "|".join(tally.row().split("|")[:9]) + "|"


def evaluate_case_folder(folder: Path, split: str | None, work_dir: Path, results: Any,
                         models: str = "shipped") -> list[Tally]:
    """Ingest the cases of `folder` (one split, or all), ask their questions, count per category;
    the tallies, pooled last."""
    from bot.evaluation.metrics import missing_strings
    from bot.evaluation.questions import load_questions
    from bot.evaluation.runner import ask_question
    from bot.rag.chain import CaseBot
    from ingest.loaders import case_id_for
    from ingest.pipeline import discover, ingest_file
    from vectorstore.embeddings import SentenceEmbeddings
    from vectorstore.store import CaseLibrary, open_client

    chosen = None
    if split is not None:
        splits = json.loads((folder / "splits.json").read_text(encoding="utf-8"))
        if split not in splits:
            raise SystemExit(f"--split: no split {split!r} in {folder / 'splits.json'} "
                             f"(known: {', '.join(splits)})")
        chosen = set(splits[split])
    library = CaseLibrary(open_client(work_dir / "store"), SentenceEmbeddings())
    bot = CaseBot(library, answerer_for(models))
    tallies: dict[str, Tally] = {}
    for source in discover([folder / "cases"]):
        case_id = case_id_for(source)
        questions_file = source.parent / "questions.jsonl"
        if (chosen is not None and case_id not in chosen) or not questions_file.exists():
            continue
        ingest_file(source, library, progress=False)
        for question in load_questions(questions_file):
            row = ask_question(bot, question, case_id)
            tally = tallies.setdefault(question.category, Tally(question.category))
            verdict = tally.count(
                row, question.answerable,
                lambda text, must=question.must_include: not missing_strings(text, must),
                lambda cited, gold=frozenset(question.expected_paragraphs): bool(gold & cited))
            if results is not None:
                results.write(json.dumps({"case": case_id, "id": question.id, "category": question.category,
                                          "type": question.type, "question": question.question,
                                          "answerable": question.answerable,
                                          "expected": list(question.expected_paragraphs),
                                          "must_include": list(question.must_include),
                                          "answer": row["answer"], **verdict}, ensure_ascii=False) + "\n")
        print(f"  {case_id}: done", file=sys.stderr)
    pooled = Tally("**pooled**")
    for tally in tallies.values():
        pooled.add(tally)
    return [tallies[name] for name in sorted(tallies)] + [pooled]


def main(argv: Sequence[str] | None = None) -> int:
    """Ingest the articles (or a folder of cases), ask their questions, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_article_options(parser)
    parser.add_argument("--cases", type=Path, default=None, metavar="DIR",
                        help="a folder of cases with question sets (e.g. training/data) instead of "
                             "the articles")
    parser.add_argument("--split", default=None, metavar="NAME",
                        help="with --cases: only the cases DIR/splits.json puts in this split "
                             "(train, dev; the test split is sealed: run it once)")
    parser.add_argument("--max-questions", type=int, default=40, metavar="N",
                        help="a seeded sample of at most N questions per article (default 40; 0: all)")
    parser.add_argument("--results", type=Path, default=None, metavar="FILE",
                        help="write one JSON line per question to FILE")
    args = parser.parse_args(argv)
    quiet_libraries()

    started = time.perf_counter()
    if args.cases is not None:
        results = args.results.open("w", encoding="utf-8") if args.results else None
        try:
            tallies = evaluate_case_folder(args.cases, args.split, args.work_dir, results, args.models)
        finally:
            if results is not None:
                results.close()
        print(f"Cases: {args.cases}, split {args.split or 'all'}.\n")
        print(CASE_HEADER)
        print("\n".join(case_row(t) for t in tallies))
        print(f"\nTotal time {time.perf_counter() - started:.0f} s.")
        return 0
    articles, bot = open_chosen_articles(args)
    pooled = Tally("**pooled**")
    lines = []
    results = args.results.open("w", encoding="utf-8") if args.results else None
    try:
        for article in articles:
            tally = evaluate_article(article, bot, args.max_questions or None, args.seed, results)
            pooled.add(tally)
            lines.append(tally.row())
            print(f"  {article.title}: done", file=sys.stderr)
    finally:
        if results is not None:
            results.close()
    sample = "all questions" if not args.max_questions else \
        f"a seeded sample (seed {args.seed}) of at most {args.max_questions} questions per article"
    print(f"Data: {args.data.name}; {len(articles)} articles; {sample}.\n")
    print(HEADER)
    print("\n".join(lines))
    print(pooled.row())
    print(f"\nTotal time {time.perf_counter() - started:.0f} s; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
