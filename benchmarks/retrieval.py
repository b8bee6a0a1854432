"""Retrieval benchmark: casebot's hybrid retrieval against two baselines on one question set.

Systems, each run on the same questions (default: the bundled case's questions.jsonl):

(a) the LangChain tutorial default: RecursiveCharacterTextSplitter (1000 characters, 200 overlap)
    over the case text, the same MiniLM embeddings, Chroma, top-4 chunks. A chunk "cites" every
    paragraph it overlaps; the paragraph ranking lists the paragraphs of chunk 1 in reading order,
    then the new ones of chunk 2, and so on.
(b) BM25 alone over whole paragraphs (vectorstore.lexical.BM25 on content_terms), top-k.
(c) casebot's retrieval: exactly what the answerer receives (CaseBot.evidence): hybrid search over
    the ingested case, top-k, plus the paragraphs those cannot be read without ("Second, it ...");
    a follow-up is joined with the previous user question, less what it replaces. It "cites"
    every paragraph it returns, like the baselines.
(d) casebot's answers: the same retrieval, citing what the default answerer actually cites.

Metrics come from bot.evaluation.metrics (recall@k, MRR, citation precision), computed over the answerable
questions with expected paragraphs. Run: `.venv/bin/python benchmarks/retrieval.py`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from bot.evaluation.metrics import Outcome, aggregate, mean, score_question  # noqa: E402
from bot.evaluation.questions import Question, load_questions  # noqa: E402

COLUMNS = ("recall@1", "recall@3", "recall@5", "mrr", "citation_precision")
TUTORIAL_CHUNK, TUTORIAL_OVERLAP, TUTORIAL_K = 1000, 200, 4
Ranker = Callable[[Question], tuple[tuple[int, ...], tuple[int, ...]]]


def chunk_paragraphs(start: int, end: int, spans: Sequence[tuple[int, int, int]]) -> list[int]:
    """Numbers of the paragraphs (number, start, end) that overlap the text span [start, end)."""
    return [number for number, p_start, p_end in spans if p_start < end and start < p_end]


def langchain_ranker(text: str, spans: Sequence[tuple[int, int, int]], embeddings: object,
                     folder: Path) -> Ranker:
    """(a) the tutorial default: 1000/200 character chunks in Chroma, top-4, whole-chunk citations."""
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=TUTORIAL_CHUNK, chunk_overlap=TUTORIAL_OVERLAP,
                                              add_start_index=True)
    documents = splitter.create_documents([text])
    store = Chroma(collection_name="tutorial", embedding_function=embeddings,  # type: ignore[arg-type]
                   persist_directory=str(folder),
                   client_settings=ChromaSettings(anonymized_telemetry=False))
    store.add_documents(documents)

    def rank(question: Question) -> tuple[tuple[int, ...], tuple[int, ...]]:
        ranking: list[int] = []
        for doc in store.similarity_search(question.question, k=TUTORIAL_K):
            start = int(doc.metadata["start_index"])
            for number in chunk_paragraphs(start, start + len(doc.page_content), spans):
                if number not in ranking:
                    ranking.append(number)
        return tuple(ranking), tuple(ranking)

    return rank


def bm25_ranker(paragraphs: Sequence[tuple[int, str]], k: int) -> Ranker:
    """(b) BM25 over whole paragraphs; cites its top-k."""
    from vectorstore.lexical import BM25
    from vectorstore.text import content_terms

    index = BM25([content_terms(text) for _, text in paragraphs])

    def rank(question: Question) -> tuple[tuple[int, ...], tuple[int, ...]]:
        scores = index.scores(content_terms(question.question))
        order = sorted((i for i, s in enumerate(scores) if s > 0), key=lambda i: (-scores[i], i))
        top = tuple(paragraphs[i][0] for i in order[:k])
        return top, top

    return rank


def casebot_rankers(library: object, case_id: str, k: int) -> tuple[Ranker, Ranker]:
    """(c) casebot's hybrid retrieval citing its top-k, and (d) casebot's answers' own citations."""
    from bot.evaluation.runner import ask_question, outcome_of
    from bot.factory import make_answerer
    from bot.rag.chain import CaseBot
    from bot.settings import Settings
    from vectorstore.store import CaseLibrary

    assert isinstance(library, CaseLibrary)
    bot = CaseBot(library, make_answerer(Settings.from_env({})), k=k)

    def retrieval(question: Question) -> tuple[tuple[int, ...], tuple[int, ...]]:
        evidence = bot.evidence(question.question, question.history, case_id)
        top = tuple(hit.paragraph for hit in evidence.hits)
        return top, top

    def answers(question: Question) -> tuple[tuple[int, ...], tuple[int, ...]]:
        outcome = outcome_of(ask_question(bot, question, case_id))
        return outcome.retrieved, outcome.cited

    return retrieval, answers


def evaluate(rank: Ranker, questions: Sequence[Question]) -> dict[str, float | None]:
    """recall@k, MRR and citation precision of one system, scored by bot.evaluation.metrics."""
    scores, cited_counts = [], []
    for question in questions:
        retrieved, cited = rank(question)
        scores.append(score_question(question, Outcome("", False, cited=cited, retrieved=retrieved)))
        if question.expected_paragraphs:
            cited_counts.append(float(len(cited)))
    metrics, _ = aggregate(scores)
    row: dict[str, float | None] = {name: metrics[name] for name in COLUMNS}
    row["cited"] = mean(cited_counts)
    return row


def format_table(rows: dict[str, dict[str, float | None]], casebot: Sequence[str],
                 baselines: Sequence[str]) -> str:
    """The results as a plain-text table, with casebot / best baseline ratios."""
    headers = ("recall@1", "recall@3", "recall@5", "MRR", "cit.prec", "cited")
    width = max(len(name) for name in [*rows, *(f"{c} / best baseline" for c in casebot)]) + 2
    lines = [f"{'system':<{width}}" + "".join(f"{h:>10}" for h in headers), "-" * (width + 10 * len(headers))]

    def cell(value: float | None, digits: str = ".3f") -> str:
        return f"{value:>10{digits}}" if value is not None else f"{'n/a':>10}"

    for name, row in rows.items():
        lines.append(f"{name:<{width}}" + "".join(cell(row[c]) for c in COLUMNS) + cell(row["cited"], ".1f"))
    lines.append("")
    for system in casebot:
        ratios = []
        for column in COLUMNS:
            best = max((rows[b][column] or 0.0) for b in baselines)
            value = rows[system][column]
            ratios.append(f"{value / best:>9.2f}x" if value is not None and best else f"{'n/a':>10}")
        lines.append(f"{system + ' / best baseline':<{width}}" + "".join(ratios))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every system on the question set and print the comparison table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--case-file", type=Path, default=REPO / "cases" / "xpeng-volkswagen" / "case.txt")
    parser.add_argument("--questions", type=Path,
                        help="question set (default: questions.jsonl beside the case)")
    parser.add_argument("-k", type=int, default=5, help="paragraphs per question for (b), (c), (d)")
    args = parser.parse_args(argv)
    for name, value in (("HF_HUB_OFFLINE", "1"), ("HF_HUB_DISABLE_TELEMETRY", "1"),
                        ("TOKENIZERS_PARALLELISM", "false")):
        os.environ.setdefault(name, value)

    from ingest.loaders import case_id_for, load_text
    from ingest.paragraphs import parse_case
    from ingest.pipeline import ingest_paths
    from vectorstore.embeddings import SentenceEmbeddings
    from vectorstore.store import CaseLibrary, open_client

    questions = load_questions(args.questions or args.case_file.parent / "questions.jsonl")
    scored = [q for q in questions if q.expected_paragraphs]
    case_id = case_id_for(args.case_file)
    text = load_text(args.case_file)
    parsed = parse_case(text, case_id)
    spans = [(p.number, p.start, p.end) for p in parsed.paragraphs]
    embeddings = SentenceEmbeddings()

    with tempfile.TemporaryDirectory(prefix="casebot-bench-") as tmp:
        library = CaseLibrary(open_client(Path(tmp) / "casebot"), embeddings)
        outcomes = ingest_paths([args.case_file], library)
        if any(o.report is None for o in outcomes):
            print(f"error: could not ingest {args.case_file}: {outcomes}", file=sys.stderr)
            return 1
        retrieval, answers = casebot_rankers(library, case_id, args.k)
        systems: dict[str, Ranker] = {
            "(a) langchain tutorial": langchain_ranker(text, spans, embeddings, Path(tmp) / "tutorial"),
            "(b) bm25 paragraphs": bm25_ranker([(p.number, p.text) for p in parsed.paragraphs], args.k),
            "(c) casebot retrieval": retrieval,
            "(d) casebot answers": answers,
        }
        rows = {name: evaluate(rank, questions) for name, rank in systems.items()}

    names = list(rows)
    source = args.questions or args.case_file.parent / "questions.jsonl"
    print(f"{len(questions)} questions from {source}; metrics over the {len(scored)} with expected "
          f"paragraphs (definitions: bot.evaluation.metrics).\n"
          f"(a) 1000/200-character chunks, MiniLM, Chroma, top-{TUTORIAL_K} chunks citing every paragraph "
          f"they overlap; (b) BM25 over paragraphs, top-{args.k}; (c) casebot retrieval, top-{args.k} "
          f"and the paragraphs they go on from or into; "
          f"(d) what casebot's answers cite. cit.prec = citation precision; cited = paragraphs cited "
          f"per question.\n")
    print(format_table(rows, casebot=names[2:], baselines=names[:2]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
