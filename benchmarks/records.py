"""Records benchmark (not a test): what keeping a record costs an answer.

Measures, for a SQLite file and optionally a PostgreSQL URL:
- `Recorder.record()` as the web layer calls it after each answer (queues the row; the target is
  under 5 ms at p50),
- a synchronous write of the same row, for comparison (what the background thread saves),
- with `--answers N`: the real extractive answer over the bundled case, with and without recording.

Run with `.venv/bin/python benchmarks/records.py [--runs 500] [--answers 40]
[--postgres postgresql+psycopg://user@127.0.0.1:5432/db]`. Everything goes to temporary files.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TARGET_P50_MS = 5.0
QUESTIONS = ["How much did Volkswagen invest in XPeng?", "When was the partnership announced?",
             "Why did Volkswagen need a partner in China?", "What did XPeng gain from the deal?",
             "Who won the 2022 football World Cup?"]


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    """p50, p95 and max in ms."""
    ordered = sorted(samples)
    return (statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
            ordered[-1])


def timed(fn: Callable[[int], object], runs: int) -> list[float]:
    """Milliseconds per call of fn(i) for i in range(runs)."""
    samples = []
    for i in range(runs):
        started = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def record_costs(url: str, runs: int) -> list[tuple[str, list[float]]]:
    """(label, samples) for the queued and the synchronous write on the database at `url`."""
    from datetime import UTC, datetime

    from bot.answer import Answer, Citation, Turn
    from bot.records import AnswerRecord, Recorder, RecordStore
    from bot.records.database import open_engine
    from bot.records.repository import new_answer_id

    store = RecordStore(open_engine(url)).create()
    citation = Citation("c:12", "¶12", 12, "Act II", "text", 0.8)
    answer = Answer("Volkswagen invested $700 million [¶12].", False, (citation,), "c", "extractive", 40.0)
    history = (Turn("user", "Who invested?"), Turn("assistant", "Volkswagen [¶3]."))
    recorder = Recorder(store)
    queued = timed(lambda i: recorder.record(answer, QUESTIONS[i % 5], history, "api", "s"), runs)
    assert recorder.writer is not None and recorder.writer.flush(60)
    recorder.close()

    def write_now(i: int) -> None:
        store.add_answer(AnswerRecord(new_answer_id(), datetime.now(UTC), "c", QUESTIONS[i % 5], history,
                                      answer.answer, False, (12,), "extractive", 40.0, "api", "s"))

    synchronous = timed(write_now, runs)
    kind = url.split(":", 1)[0].split("+")[0]
    return [(f"{kind}: Recorder.record() (queued)", queued),
            (f"{kind}: synchronous write (for comparison)", synchronous)]


def answer_costs(runs: int, data_dir: Path) -> list[tuple[str, list[float]]]:
    """The real answer latency over the bundled case without and with recording."""
    from bot.answerers.extractive import ExtractiveAnswerer
    from bot.rag.chain import CaseBot
    from bot.records import Recorder, RecordStore
    from bot.records.database import default_database_url, open_engine
    from bot.settings import BUNDLED_CASES
    from ingest.pipeline import ingest_paths
    from vectorstore.embeddings import SentenceEmbeddings
    from vectorstore.store import CaseLibrary, open_client

    library = CaseLibrary(open_client(data_dir / "index"), SentenceEmbeddings())
    list(ingest_paths([BUNDLED_CASES], library, progress=False))
    bot = CaseBot(library, ExtractiveAnswerer())
    bot.warm_up()
    recorder = Recorder(RecordStore(open_engine(default_database_url(data_dir))).create())
    for question in QUESTIONS:  # warm every path once, so neither column pays for it
        bot.ask(question)
    plain: list[float] = []
    recorded: list[float] = []
    # Interleaved, so that load from other processes falls on both columns alike.
    for i in range(runs):
        question = QUESTIONS[i % 5]
        plain += timed(lambda _, q=question: bot.ask(q), 1)
        recorded += timed(lambda _, q=question: recorder.record(bot.ask(q), q, (), "api"), 1)
    recorder.close()
    return [("answer, records off", plain), ("answer + Recorder.record()", recorded)]


def main() -> int:
    """Print the table; exit 1 when the queued write misses its p50 target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500, help="records written per database")
    parser.add_argument("--answers", type=int, default=0, help="real answers to time (0: skip)")
    parser.add_argument("--postgres", metavar="URL", help="also measure this PostgreSQL database")
    args = parser.parse_args()
    rows: list[tuple[str, list[float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += record_costs(f"sqlite:///{Path(tmp) / 'records.sqlite3'}", args.runs)
        if args.postgres:
            rows += record_costs(args.postgres, args.runs)
        if args.answers:
            rows += answer_costs(args.answers, Path(tmp))
    print(f"{'what':<46}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    print("-" * 82)
    for label, samples in rows:
        p50, p95, peak = percentiles(samples)
        print(f"{label:<46}{len(samples):>6}{p50:>10.3f}{p95:>10.3f}{peak:>10.2f}")
    worst = max(percentiles(s)[0] for label, s in rows if "queued" in label)
    print(f"\nqueued write p50 {worst:.3f} ms (target under {TARGET_P50_MS:g} ms): "
          f"{'met' if worst < TARGET_P50_MS else 'MISSED'}")
    return 0 if worst < TARGET_P50_MS else 1


if __name__ == "__main__":
    sys.exit(main())
