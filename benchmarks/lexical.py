"""Lexical index benchmark: casebot's BM25 (vectorstore.lexical, bm25s inside), the hand-written
loop it replaced, rank-bm25 and bm25s alone.

Each index is built over the sentences of a case (the bundled one, and a long one made of the
shared SQuAD 2.0 articles, CC BY-SA 4.0), then scores every document for each question of the
bundled case's question set, as hybrid retrieval does on every question. Printed: build time,
per-query time (median and p95) and how often each library's best document is casebot's.

Run: `.venv/bin/python benchmarks/lexical.py` (needs the dev extra: rank-bm25, bm25s).
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from vectorstore.lexical import BM25  # noqa: E402
from vectorstore.text import content_terms, sentences  # noqa: E402

SQUAD = REPO.parent / "shared" / "data" / "squad2-train-10-articles.json"
QUESTIONS = REPO / "cases" / "xpeng-volkswagen" / "questions.jsonl"
Scorer = Callable[[list[str]], Sequence[float]]


def loop_index(documents: list[list[str]]) -> Scorer:
    """The hand-written loop casebot used before bm25s (kept here as the baseline)."""
    frequencies = [Counter(doc) for doc in documents]
    lengths = [len(doc) for doc in documents]
    average = sum(lengths) / len(documents)
    k1, b, count = 1.2, 0.75, len(documents)
    df = Counter(term for doc in frequencies for term in doc)
    idf = {term: math.log(1 + (count - n + 0.5) / (n + 0.5)) for term, n in df.items()}

    def score(query: list[str]) -> list[float]:
        terms = [term for term in dict.fromkeys(query) if term in idf]
        results = []
        for freq, length in zip(frequencies, lengths, strict=True):
            norm = k1 * (1 - b + b * length / average)
            results.append(sum(idf[t] * freq[t] * (k1 + 1) / (freq[t] + norm) for t in terms if freq.get(t)))
        return results

    return score


def casebot_index(documents: list[list[str]]) -> Scorer:
    return BM25(documents).scores


def rank_bm25_index(documents: list[list[str]]) -> Scorer:
    from rank_bm25 import BM25Okapi

    index = BM25Okapi(documents, k1=1.2, b=0.75)
    return lambda query: list(index.get_scores(query))


def bm25s_index(documents: list[list[str]]) -> Scorer:
    import bm25s

    index = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    index.index(_as_bm25s_tokens(documents, bm25s), show_progress=False)

    def score(query: list[str]) -> Sequence[float]:
        known = [term for term in query if term in index.vocab_dict]
        return list(index.get_scores(known)) if known else [0.0] * len(documents)

    return score


def _as_bm25s_tokens(documents: list[list[str]], bm25s: object) -> object:
    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(term, len(vocab)) for term in doc] for doc in documents]
    return bm25s.tokenization.Tokenized(ids=ids, vocab=vocab)  # type: ignore[attr-defined]


SYSTEMS: dict[str, Callable[[list[list[str]]], Scorer]] = {
    "hand-written loop": loop_index,
    "casebot BM25 (bm25s inside)": casebot_index,
    "rank-bm25 BM25Okapi": rank_bm25_index,
    "bm25s (lucene)": bm25s_index,
}


def corpora() -> dict[str, list[list[str]]]:
    bundled = (REPO / "cases" / "xpeng-volkswagen" / "case.txt").read_text(encoding="utf-8")
    found = {"bundled case": [content_terms(s) for line in bundled.splitlines() for s in sentences(line)]}
    if SQUAD.is_file():
        data = json.loads(SQUAD.read_text(encoding="utf-8"))["data"]
        contexts = [p["context"] for article in data for p in article["paragraphs"]]
        found["10 SQuAD articles as one case"] = [content_terms(s) for c in contexts for s in sentences(c)]
    return {name: [doc for doc in docs if doc] for name, docs in found.items()}


def main() -> int:
    queries = [content_terms(json.loads(line)["question"])
               for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    print(f"{'corpus':<32}{'system':<30}{'docs':>7}{'build ms':>10}{'query p50 ms':>14}"
          f"{'query p95 ms':>14}{'same top-1':>12}")
    for corpus, documents in corpora().items():
        reference: list[int] = []
        for system, build in SYSTEMS.items():
            started = time.perf_counter()
            score = build(documents)
            built_ms = (time.perf_counter() - started) * 1000
            times, tops = [], []
            for query in queries:
                started = time.perf_counter()
                scores = score(query)
                times.append((time.perf_counter() - started) * 1000)
                tops.append(max(range(len(scores)), key=lambda i: scores[i]))
            reference = reference or tops
            same = sum(a == b for a, b in zip(reference, tops, strict=True)) / len(tops)
            p50, p95 = statistics.median(times), statistics.quantiles(times, n=20, method="inclusive")[-1]
            print(f"{corpus:<32}{system:<30}{len(documents):>7}{built_ms:>10.1f}{p50:>14.3f}{p95:>14.3f}"
                  f"{same:>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
