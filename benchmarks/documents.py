"""Documents benchmark: the same articles as .txt, as PDFs in several layouts and as .docx, read and
asked side by side.

Each SQuAD article (see benchmarks/squad.py) is written as the plain-text case generality.py uses,
as a PDF in each layout of tests/case_documents.py (one and two columns, a title page, running
headers and footers with page numbers, footnote marks and notes, an exhibit table and a figure)
and as a .docx (running header and footer, the exhibit table). Per article and format it prints:

- whole: the share of the article's paragraphs read whole (exactly one paragraph holds the
  context, its words at least 95% the same, glyphs the PDF font cannot draw aside);
- title: whether the title was read right;
- facts and cites, judged as in generality.py (the gold paragraph is the one that read the
  context, since exhibits and a title page shift the numbers);
- exhibit: the exhibit's cells asked one by one ("What was the Revenue in 2021?"): the share of
  answers holding the cell and citing the exhibit.

Then the ingest time of a long case (two articles, about 30 pages as a PDF) as .txt and as .pdf,
each into a fresh store, and the share of the PDF's time spent reading it.

Run: `.venv/bin/python benchmarks/documents.py [--articles 0,3] [--max-questions N]` (or `make
bench-documents`). Cases are written and ingested into `--work-dir`, kept between runs.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing
sys.path.insert(0, str(REPO / "tests"))  # the document writers the tests use

from case_documents import (  # noqa: E402
    EXHIBIT_HEADER,
    EXHIBIT_ROWS,
    LAYOUTS,
    read_map,
    write_docx,
    write_pdf,
)

from benchmarks.generality import (  # noqa: E402
    HEADER,
    Tally,
    add_article_options,
    evaluate_article,
    parse_articles,
)
from benchmarks.squad import FIRST_CONTEXT, SquadArticle, load_articles, write_case  # noqa: E402
from bot.settings import quiet_libraries  # noqa: E402

# The long case of the timing: these articles (by title) one after the other.
TIMING_ARTICLES = ("New_York_City", "Beyoncé")


def exhibit_questions() -> list[tuple[str, str]]:
    """One question per cell of the exhibit, with the cell's value."""
    return [(f"What was the {name} in {row[0]}?", cell)
            for row in EXHIBIT_ROWS for name, cell in zip(EXHIBIT_HEADER[1:], row[1:], strict=True)]


def ask_exhibit(bot: Any, case_id: str) -> float:
    """The share of the exhibit's cells answered with the cell and a citation of the exhibit."""
    from bot.evaluation.questions import Question
    from bot.evaluation.runner import ask_question

    good = 0
    questions = exhibit_questions()
    for index, (question, cell) in enumerate(questions):
        row = ask_question(bot, Question(f"x{index}", question), case_id)
        cited = any(str(c.get("label", "")).startswith("Exhibit") for c in row["citations"])
        good += cell in row["answer"] and cited
    return good / len(questions)


def write_formats(article: SquadArticle, folder: Path) -> dict[str, Path]:
    """The article as .txt, as a PDF in each layout and as .docx: format name -> file."""
    paragraphs = [" ".join(c.split()) for c in article.contexts]
    files = {"txt": write_case(article, folder / "txt")}
    for layout in LAYOUTS:
        path = folder / layout.name / f"{article.case_id}-{layout.name}.pdf"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            write_pdf(path, article.title, paragraphs, layout)
        files[layout.name] = path
    path = folder / "docx" / f"{article.case_id}-docx.docx"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        write_docx(path, article.title, paragraphs)
    files["docx"] = path
    return files


def timing(articles: list[SquadArticle], work_dir: Path) -> str:
    """Ingest one long case as .txt and as a one-column PDF, each into a fresh store."""
    from ingest.loaders import case_id_for, read_case
    from ingest.pipeline import ingest_read
    from vectorstore.embeddings import SentenceEmbeddings
    from vectorstore.store import CaseLibrary, open_client

    chosen = [a for a in articles if a.title.replace(" ", "_") in TIMING_ARTICLES]
    long = SquadArticle("long-case", "A long case", tuple(c for a in chosen for c in a.contexts), ())
    folder = work_dir / "timing"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    pdf = write_pdf(folder / "long-case.pdf", long.title, [" ".join(c.split()) for c in long.contexts],
                    LAYOUTS[0])
    txt = write_case(long, folder)
    embeddings = SentenceEmbeddings()
    embeddings.encode(["warm up the model"])
    seconds = {}
    for name, path in (("txt", txt), ("pdf", pdf)):
        library = CaseLibrary(open_client(folder / f"store-{name}"), embeddings)
        started = time.perf_counter()
        ingest_read(path, library)
        seconds[name] = time.perf_counter() - started
    started = time.perf_counter()
    case, reading = read_case(pdf, case_id_for(pdf))
    reading_s = time.perf_counter() - started
    return (f"Ingest of one long case ({len(case.paragraphs)} paragraphs, {reading.pages} PDF pages): "
            f".txt {seconds['txt']:.1f} s, .pdf {seconds['pdf']:.1f} s "
            f"({seconds['pdf'] / seconds['txt']:.2f}x); reading the PDF alone {reading_s:.1f} s.")


def main(argv: Sequence[str] | None = None) -> int:
    """Write every format of the chosen articles, ingest them, ask, print the tables."""
    import os

    from bot.answerers.extractive import ExtractiveAnswerer
    from bot.rag.chain import CaseBot
    from ingest.pipeline import ingest_read
    from vectorstore.embeddings import SentenceEmbeddings
    from vectorstore.store import CaseLibrary, open_client

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_article_options(parser)
    parser.set_defaults(work_dir=REPO / ".cache" / "documents")
    parser.add_argument("--max-questions", type=int, default=30, metavar="N",
                        help="a seeded sample of at most N questions per article (default 30; 0: all)")
    parser.add_argument("--no-timing", action="store_true", help="skip the ingest timing")
    args = parser.parse_args(argv)
    quiet_libraries()
    started = time.perf_counter()
    articles = load_articles(args.data)
    chosen = [articles[i] for i in parse_articles(args.articles, len(articles))]
    library = CaseLibrary(open_client(args.work_dir / "store"), SentenceEmbeddings())
    bot = CaseBot(library, ExtractiveAnswerer())
    reading_rows, answer_rows = [], []
    pooled: dict[str, Tally] = {}
    for article in chosen:
        for name, path in write_formats(article, args.work_dir / "cases").items():
            case_id = f"{article.case_id}-{name}"[:64]
            # The case id comes from the file name: one file per article and format.
            named = path.with_name(f"{case_id}{path.suffix}")
            if not named.exists():
                shutil.copyfile(path, named)
            began = time.perf_counter()
            _, reading = ingest_read(named, library, progress=False)
            seconds = time.perf_counter() - began
            case = library.load(case_id)
            where, read_whole = read_map(article.contexts, case.paragraphs)
            whole = len(read_whole)
            exhibit = "n/a" if name == "txt" else f"{ask_exhibit(bot, case_id):.2f}"
            title = "yes" if case.info.title == article.title else f"no: {case.info.title}"
            reading_rows.append(
                f"| {article.title} | {name} | {whole}/{len(article.contexts)} "
                f"({whole / len(article.contexts):.3f}) | {title} | {exhibit} | {seconds:.1f} | "
                f"{reading.summary() or '-'} |")
            questions = tuple(replace(q, paragraph=where.get(q.paragraph - FIRST_CONTEXT, -1))
                              for q in article.questions)
            tally = evaluate_article(replace(article, case_id=case_id, questions=questions), bot,
                                     args.max_questions or None, args.seed, None)
            tally.name = f"{article.title} · {name}"
            answer_rows.append(tally.row())
            # As it goes, so that a run stopped early still says something.
            print(f"  {reading_rows[-1]}\n  {answer_rows[-1]}", file=sys.stderr, flush=True)
            pooled.setdefault(name, Tally(f"**pooled · {name}**")).add(tally)
        print(f"  {article.title}: done", file=sys.stderr)
    print(f"Data: {args.data.name}; {len(chosen)} articles; at most {args.max_questions or 'all'} "
          f"questions per article (seed {args.seed}).\n")
    print("| article | format | read whole | title | exhibit cells | ingest s | reading summary |\n"
          "|---|---|---|---|---|---|---|")
    print("\n".join(reading_rows))
    print()
    print(HEADER)
    print("\n".join(answer_rows))
    print("\n".join(tally.row() for tally in pooled.values()))
    if not args.no_timing:
        print()
        print(timing(articles, args.work_dir))
    print(f"\nTotal time {time.perf_counter() - started:.0f} s; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
