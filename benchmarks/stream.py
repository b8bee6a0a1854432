"""Latency benchmark of POST /api/v1/ask/stream: time to the first `token` event and to the end.

It ingests the bundled case into a fresh embedded index, starts `casebot serve --rate-limit off`
on a free 127.0.0.1 port (with the tests' helpers), warms it up with one pass over the case's
question set, then streams N questions one after another (reworded so that none is served from a
cache of the warm-up) and reads each response's raw bytes. Prints p50/p95/mean of first-token and
total time as a table; the server it starts is stopped at the end.

    .venv/bin/python benchmarks/stream.py [--requests 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the tests' way of starting and stopping a server
from conftest import CASEBOT, cli_env, running_server  # noqa: E402

QUESTIONS = REPO / "cases" / "xpeng-volkswagen" / "questions.jsonl"
REWORDING = "Streamed: "


def questions() -> list[dict[str, object]]:
    """Request bodies from the case's question set (question and history)."""
    lines = QUESTIONS.read_text(encoding="utf-8").splitlines()
    items = [json.loads(line) for line in lines if line.strip()]
    return [{"question": item["question"], "history": item.get("history") or []} for item in items]


def stream_once(http: httpx.Client, base: str, body: dict[str, object]) -> tuple[float, float, str]:
    """Seconds to the first token event and to the end of the stream, and the last event's kind."""
    begin = time.perf_counter()
    first = float("nan")
    raw = b""
    with http.stream("POST", f"{base}/api/v1/ask/stream", json=body) as response:
        response.raise_for_status()
        for chunk in response.iter_raw():
            raw += chunk
            if first != first and b"event: token\n" in raw:  # nan: not seen yet
                first = time.perf_counter() - begin
    total = time.perf_counter() - begin
    events = [block for block in raw.decode("utf-8").split("\n\n") if block.startswith("event: ")]
    last = events[-1].split("\n", 1)[0].removeprefix("event: ") if events else ""
    return first, total, last


def summary(name: str, seconds: list[float]) -> str:
    """One table row: p50, p95 and mean in milliseconds."""
    ms = sorted(s * 1000 for s in seconds)
    p95 = statistics.quantiles(ms, n=20, method="inclusive")[-1] if len(ms) > 1 else ms[0]
    return f"| {name} | {len(ms)} | {statistics.median(ms):.1f} | {p95:.1f} | {statistics.fmean(ms):.1f} |"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=30, help="streamed questions (default 30)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the timings as JSON")
    args = parser.parse_args(argv)
    bodies = questions()
    firsts: list[float] = []
    totals: list[float] = []
    endings: list[str] = []
    with tempfile.TemporaryDirectory(prefix="casebot-stream-") as tmp:
        print("ingesting and starting the server…", file=sys.stderr, flush=True)
        data_dir = Path(tmp)
        subprocess.run([CASEBOT, "ingest", "--quiet"], env=cli_env(data_dir), check=True,
                       capture_output=True, timeout=600)
        with running_server(data_dir, "--rate-limit", "off", "--rate-limit-ip", "off") as base, \
                httpx.Client(timeout=120) as http:
            for body in bodies:  # warm-up: loads the case and fills the per-word caches
                stream_once(http, base, body)
            for index in range(args.requests):
                body = dict(bodies[index % len(bodies)])
                body["question"] = f"{REWORDING * (1 + index // len(bodies))}{body['question']}"
                first, total, last = stream_once(http, base, body)
                endings.append(last)
                if first == first:  # an abstention may still stream its text; nan when none
                    firsts.append(first)
                totals.append(total)
    print("| measure | n | p50 ms | p95 ms | mean ms |\n|---|---:|---:|---:|---:|")
    print(summary("first token", firsts))
    print(summary("whole stream", totals))
    print(f"final events: {', '.join(f'{k} {endings.count(k)}' for k in sorted(set(endings)))}")
    if args.json:
        args.json.write_text(json.dumps({"first": firsts, "total": totals}), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
