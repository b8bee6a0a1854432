"""Latency benchmark (not a test): warm `ask`, cold `casebot ask`, ingest time, peak memory.

Run with `make bench` or `.venv/bin/python benchmarks/latency.py [--runs 100] [--cold-runs 3]`.
Everything happens in a fresh temporary index; nothing in your data folder is touched. Targets on
a 2-core machine: warm p50 under 100 ms, cold `casebot ask` under 8 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.evaluation.metrics import percentile  # noqa: E402  (after the path is set)
from bot.settings import quiet_libraries  # noqa: E402

quiet_libraries()

CASE_ID = "xpeng-volkswagen"
WARM_P50_TARGET_MS = 100.0
COLD_ASK_TARGET_S = 8.0
T = TypeVar("T")


@dataclass(frozen=True)
class Row:
    """One line of the results table."""

    metric: str
    value: str
    target: str = ""
    ok: bool | None = None


def timed(action: Callable[[], T]) -> tuple[T, float]:
    """The result of `action` and the seconds it took."""
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def load_questions(path: Path) -> list[dict[str, Any]]:
    """The case's question set: one JSON object a line."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def casebot_executable() -> str:
    """The `casebot` console script of the running interpreter's environment."""
    candidate = Path(sys.executable).with_name("casebot")
    if not candidate.exists():
        raise SystemExit(f"{candidate} not found: run `make setup` first")
    return str(candidate)


# Runs one command and reports its wall time and peak memory: measured from a small parent, so the
# child's peak is its own and not inherited from this (large) benchmark process through fork.
_MEASURE = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
result = subprocess.run(sys.argv[1:], capture_output=True, text=True)
elapsed = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"code": result.returncode, "seconds": elapsed, "peak": peak,
                  "stdout": result.stdout, "stderr": result.stderr}))
"""


def measure_casebot(data_dir: Path, *args: str) -> dict[str, Any]:
    """Run `casebot ARGS` against `data_dir` as its own process: exit code, seconds, peak MiB,
    stdout and stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEBOT_")}
    env["CASEBOT_DATA_DIR"] = str(data_dir)
    measured = subprocess.run([sys.executable, "-c", _MEASURE, casebot_executable(), *args],
                              env=env, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(measured.stdout)
    result["peak_mb"] = kib_to_mb(int(result["peak"]))
    return result


def cold_ask(data_dir: Path, question: str) -> tuple[float, float]:
    """Seconds and peak MiB of one `casebot ask --json` process, start to exit."""
    result = measure_casebot(data_dir, "ask", "--json", question)
    if result["code"] != 0:
        raise SystemExit(f"casebot ask failed ({result['code']}): {result['stderr'].strip()}")
    json.loads(result["stdout"])
    return float(result["seconds"]), float(result["peak_mb"])


def kib_to_mb(peak: int) -> float:
    """ru_maxrss in MiB (it is KiB on Linux, bytes on macOS)."""
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def run(runs: int, cold_runs: int, questions_file: Path) -> list[Row]:
    """Measure everything in a fresh temporary index; the rows of the results table."""
    from bot.answer import Turn
    from bot.answerers.extractive import ExtractiveAnswerer
    from bot.rag.chain import CaseBot
    from bot.settings import BUNDLED_CASES
    from ingest.pipeline import ingest_paths
    from vectorstore.embeddings import SentenceEmbeddings
    from vectorstore.store import CaseLibrary, open_client

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="casebot-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        embeddings = SentenceEmbeddings()
        _, model_s = timed(lambda: embeddings.encode(["warm up the model"]))
        rows.append(Row("model load (in process)", f"{model_s:.2f} s"))

        library = CaseLibrary(open_client(data_dir), embeddings)
        outcomes, ingest_s = timed(lambda: ingest_paths([BUNDLED_CASES / CASE_ID], library))
        report = outcomes[0].report
        if report is None:
            raise SystemExit(f"ingest failed: {outcomes[0].error}")
        rows.append(Row("ingest, fresh store", f"{ingest_s:.2f} s",
                        f"{report.paragraphs} paragraphs, {report.embedded} chunks embedded"))
        outcomes, reingest_s = timed(lambda: ingest_paths([BUNDLED_CASES / CASE_ID], library))
        again = outcomes[0].report
        assert again is not None and again.unchanged and again.embedded == 0
        rows.append(Row("re-ingest, unchanged", f"{reingest_s * 1000:.0f} ms", "0 chunks embedded"))

        bot = CaseBot(library, ExtractiveAnswerer())
        questions = load_questions(questions_file)
        bot.ask("How much did Volkswagen invest in XPeng?", case=CASE_ID)  # load the case
        latencies: list[float] = []
        slowest: list[tuple[float, str]] = []
        for index in range(runs):
            item = questions[index % len(questions)]
            history = tuple(Turn(t["role"], t["content"]) for t in item.get("history", []))
            started = time.perf_counter()
            bot.ask(item["question"], history, CASE_ID)
            latencies.append((time.perf_counter() - started) * 1000)
            slowest.append((latencies[-1], str(item.get("id", index))))
        # `or 0.0` only for the type checker: --runs is at least 1, so latencies is never empty.
        p50, p95 = percentile(latencies, 50) or 0.0, percentile(latencies, 95) or 0.0
        rows.append(Row(f"warm ask p50 ({runs} questions)", f"{p50:.1f} ms",
                        f"< {WARM_P50_TARGET_MS:.0f} ms", p50 < WARM_P50_TARGET_MS))
        rows.append(Row("warm ask p95", f"{p95:.1f} ms"))
        rows.append(Row("warm ask max", f"{max(latencies):.1f} ms", "slowest: " + ", ".join(
            f"{qid} {ms:.0f} ms" for ms, qid in sorted(slowest, reverse=True)[:3])))
        own_peak = kib_to_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        rows.append(Row("peak RSS, benchmark process", f"{own_peak:.0f} MiB",
                        "model + store + answering"))

        measured = [cold_ask(data_dir, "How much did Volkswagen invest in XPeng?")
                    for _ in range(cold_runs)]
        if not measured:  # --cold-runs 0: the warm numbers only
            return rows
        colds = [seconds for seconds, _ in measured]
        cold = statistics.median(colds)
        rows.append(Row(f"cold `casebot ask` (median of {cold_runs})", f"{cold:.2f} s",
                        f"< {COLD_ASK_TARGET_S:.0f} s", cold < COLD_ASK_TARGET_S))
        rows.append(Row("cold `casebot ask` runs", ", ".join(f"{c:.2f}" for c in colds) + " s"))
        rows.append(Row("peak RSS, `casebot ask` process",
                        f"{max(peak for _, peak in measured):.0f} MiB"))
    return rows


def render(rows: Sequence[Row]) -> str:
    """The results as a Markdown table."""
    lines = ["| metric | value | target / note | met |", "|---|---|---|---|"]
    for row in rows:
        met = "" if row.ok is None else ("yes" if row.ok else "NO")
        lines.append(f"| {row.metric} | {row.value} | {row.target} | {met} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=100, help="warm questions to time (default 100)")
    parser.add_argument("--cold-runs", type=int, default=3,
                        help="cold processes to time (default 3; 0 skips them)")
    parser.add_argument("--questions", type=Path,
                        default=REPO / "cases" / CASE_ID / "questions.jsonl",
                        help="question set to cycle through (default: the bundled case's)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return report(run(args.runs, args.cold_runs, args.questions))


def report(rows: Sequence[Row]) -> int:
    """Print the table and the machine's state; the exit code: 1 when a target was missed."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(render(rows))
    print(f"\n{os.cpu_count()} CPUs, load average {load:.2f} at the end; "
          f"Python {sys.version.split()[0]}")
    return 0 if all(row.ok is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
