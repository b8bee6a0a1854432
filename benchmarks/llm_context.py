"""LLM context cost benchmark (not a test): tokens sent per question, `whole` against `retrieved`,
and the answer latency through a scripted OpenAI-compatible server on 127.0.0.1.

Run with `.venv/bin/python benchmarks/llm_context.py [--questions 20]`. Two cases, ingested into a
fresh temporary index: the bundled case (about 770 words) and a long case of about 20,000 words
made by joining the first articles of the SQuAD 2.0 training set in ../shared/data (Rajpurkar et
al. 2018, CC BY-SA 4.0; Wikipedia text), one section per article. Questions: the bundled case's own
set, and the SQuAD questions of the joined articles.

Tokens are the policy's count (the stated estimate of bot.answerers.context: chars / 4 or words *
4 / 3, whichever is more) of everything the server received for the answer (system and user
messages), and of the case text alone. The scripted server answers instantly, so latency is
casebot's own: retrieval, prompt, HTTP streaming and citation enforcement.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CASE_ID = "xpeng-volkswagen"
LONG_ID = "squad-joined"
SQUAD = REPO.parent / "shared" / "data" / "squad2-train-10-articles.json"
LONG_WORDS = 20_000
REPLY = "The case says so [¶{n}]."


def long_case(folder: Path, words: int = LONG_WORDS) -> tuple[Path, list[str]]:
    """A Markdown case of about `words` words from the SQuAD articles, and their questions."""
    data = json.loads(SQUAD.read_text(encoding="utf-8"))["data"]
    lines = ["# SQuAD 2.0 articles joined into one case", ""]
    questions: list[str] = []
    total = 0
    for article in data:
        lines += [f"## {article['title'].replace('_', ' ')}", ""]
        for paragraph in article["paragraphs"]:
            if total >= words:
                break
            lines += [" ".join(paragraph["context"].split()), ""]
            total += len(paragraph["context"].split())
            questions += [qa["question"] for qa in paragraph["qas"] if not qa.get("is_impossible")][:1]
        if total >= words:
            break
    path = folder / LONG_ID / "case.md"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path, questions


def percentile(values: list[float], fraction: float) -> float:
    """The `fraction` quantile, by rank (enough for a printed table)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    """Print the table; exit 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=20, help="questions per case (default 20)")
    args = parser.parse_args(argv)

    from fake_openai import FakeOpenAI

    from bot.answer import Answer
    from bot.answerers.context import estimate_tokens
    from bot.factory import make_answerer
    from bot.rag.chain import CaseBot
    from bot.settings import BUNDLED_CASES, Settings
    from ingest.pipeline import ingest_paths
    from vectorstore.embeddings import SentenceEmbeddings
    from vectorstore.store import CaseLibrary, open_client

    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI() as fake:
        folder = Path(tmp)
        path, long_questions = long_case(folder / "cases")
        library = CaseLibrary(open_client(folder / "index"), SentenceEmbeddings())
        print("ingesting the bundled case and the joined SQuAD case…", file=sys.stderr)
        ingest_paths([BUNDLED_CASES, path.parent.parent], library)
        rows = [json.loads(line) for line in (BUNDLED_CASES / CASE_ID / "questions.jsonl")
                .read_text(encoding="utf-8").splitlines() if line.strip()]
        bundled = [r["question"] for r in rows if r.get("category") not in ("injection",)
                   and not r.get("history")]
        cases = [(CASE_ID, bundled[:args.questions]), (LONG_ID, long_questions[:args.questions])]

        print(f"\n{'case':<18} {'words':>7} {'case tok':>8} {'mode':<10} {'sent':<9} "
              f"{'tokens/q mean':>13} {'max':>7} {'¶ sent':>6} {'p50 ms':>7} {'p95 ms':>7}")
        for case_id, questions in cases:
            loaded = library.load(case_id)
            words = sum(len(text.split()) for _, text in loaded.paragraphs.values())
            for mode in ("retrieved", "whole", "auto"):
                settings = Settings(llm="openai:bench", openai_base_url=fake.base_url, llm_context=mode)
                bot = CaseBot(library, make_answerer(settings, encode=library.embeddings.encode_query))
                context = bot.answerer.context  # type: ignore[attr-defined]
                case_tokens = context.whole(loaded)[2]
                sent_tokens: list[int] = []
                paragraphs: list[int] = []
                latencies: list[float] = []
                chosen = set()
                bot.ask(questions[0], (), case_id)  # warm up (model, case, client)
                for question in questions:
                    evidence = bot.evidence(question, (), case_id)
                    built = context.build(evidence)
                    chosen.add(built.mode)
                    number = built.evidence.hits[0].paragraph if built.evidence.hits else 1
                    fake.reply(REPLY.format(n=number))
                    started = time.perf_counter()
                    answer = bot.ask(question, (), case_id)
                    latencies.append((time.perf_counter() - started) * 1000)
                    assert isinstance(answer, Answer)
                    request = fake.requests[-1]
                    sent_tokens.append(estimate_tokens(request.message_text()))
                    paragraphs.append(len(built.evidence.hits))
                print(f"{case_id:<18} {words:>7} {case_tokens:>8} {mode:<10} {'/'.join(sorted(chosen)):<9} "
                      f"{statistics.mean(sent_tokens):>13.0f} {max(sent_tokens):>7} "
                      f"{statistics.mean(paragraphs):>6.1f} {percentile(latencies, 0.5):>7.0f} "
                      f"{percentile(latencies, 0.95):>7.0f}")
        print(f"\nbudget for auto: {Settings().llm_context_tokens} tokens (CASEBOT_LLM_CONTEXT_TOKENS); "
              "tokens by the stated estimate (chars/4 or words*4/3, whichever is more)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
