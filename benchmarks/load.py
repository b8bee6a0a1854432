"""Load benchmark of `casebot serve`: N concurrent clients on POST /api/v1/ask.

For each store mode (embedded Chroma, Chroma server) it ingests the bundled case into a fresh
index, starts `casebot serve --rate-limit off` on a free 127.0.0.1 port, and runs a bounded number of
requests at each concurrency level, after one warm-up pass, asking the case's own question set
(reworded per level so no answer comes from a cache). Prints throughput, p50/p95 latency and
errors as a table; every process it starts is stopped at the end.

    .venv/bin/python benchmarks/load.py [--clients 1,5,20] [--requests 60] [--modes embedded,server]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the tests' way of waiting for a server to answer
from conftest import stop, wait_until_ready  # noqa: E402

BIN = Path(sys.executable).parent
QUESTIONS = REPO / "cases" / "xpeng-volkswagen" / "questions.jsonl"
REWORDINGS = ("Tell me: ", "Quick question: ", "Please answer: ", "I wonder: ", "Say: ", "Q: ")


@dataclass(frozen=True)
class Row:
    """The result of one concurrency level in one store mode."""

    mode: str
    clients: int
    requests: int
    ok: int
    errors: int
    seconds: float
    throughput: float
    p50_ms: float
    p95_ms: float


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env_for(data_dir: Path, chroma_url: str = "") -> dict[str, str]:
    """The environment of the casebot processes of one mode."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEBOT_")}
    env["CASEBOT_DATA_DIR"] = str(data_dir)  # the casebot command keeps itself offline
    if chroma_url:
        env["CASEBOT_CHROMA_URL"] = chroma_url
    return env


@contextmanager
def started(args: list[str], env: dict[str, str], health: str, log: Path) -> Iterator[None]:
    """Run a server process until the block ends, once `health` answers 200."""
    with log.open("wb") as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_until_ready(health, process, log, timeout=240)
            yield
        finally:
            stop(process)


@contextmanager
def casebot_server(mode: str, workdir: Path) -> Iterator[str]:
    """Ingest the bundled case in `mode` and serve it; yields the base URL."""
    data_dir = workdir / f"data-{mode}"
    with contextmanager_chroma(mode, workdir) as chroma_url:
        env = env_for(data_dir, chroma_url)
        subprocess.run([str(BIN / "casebot"), "ingest", "--quiet"], env=env, check=True,
                       capture_output=True, timeout=600)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        # Every simulated student comes from 127.0.0.1: the per-address ceiling is off too.
        with started([str(BIN / "casebot"), "serve", "--port", str(port), "--rate-limit", "off",
                      "--rate-limit-ip", "off"], env,
                     f"{base}/healthz", workdir / f"serve-{mode}.log"):
            yield base


@contextmanager
def contextmanager_chroma(mode: str, workdir: Path) -> Iterator[str]:
    """A Chroma server for mode `server` (its URL), nothing for `embedded` ('')."""
    if mode == "embedded":
        yield ""
        return
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with started([str(BIN / "chroma"), "run", "--path", str(workdir / "chroma-db"), "--host",
                  "127.0.0.1", "--port", str(port)], os.environ.copy(), f"{url}/api/v2/heartbeat",
                 workdir / "chroma.log"):
        yield url


def questions() -> list[dict[str, object]]:
    """Request bodies from the case's question set (question and history)."""
    bodies = []
    for line in QUESTIONS.read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            bodies.append({"question": item["question"], "history": item.get("history") or []})
    return bodies


def run_level(base: str, mode: str, clients: int, total: int, bodies: list[dict[str, object]],
              level: int) -> Row:
    """`total` requests spread over `clients` concurrent clients; latency per request.

    Every level asks the same questions in the same order, reworded per level (and per pass over
    the set) so that no request is served from the query-vector cache of an earlier one.
    """
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(total))

    def client() -> None:
        nonlocal errors
        with httpx.Client(timeout=120) as http:
            while True:
                with lock:
                    index = next(counter, None)
                if index is None:
                    return
                body = dict(bodies[index % len(bodies)])
                rounds = level * (1 + (total - 1) // len(bodies)) + index // len(bodies)
                if rounds:
                    body["question"] = f"{REWORDINGS[(rounds - 1) % len(REWORDINGS)]}{body['question']}"
                begin = time.perf_counter()
                try:
                    ok = http.post(f"{base}/api/v1/ask", json=body).status_code == 200
                except httpx.HTTPError:
                    ok = False
                elapsed = (time.perf_counter() - begin) * 1000
                with lock:
                    if ok:
                        latencies.append(elapsed)
                    else:
                        errors += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    begin = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - begin
    ordered = sorted(latencies) or [float("nan")]
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return Row(mode, clients, total, len(latencies), errors, round(seconds, 2),
               round(len(latencies) / seconds, 2), round(statistics.median(ordered), 1), round(p95, 1))


def table(rows: list[Row]) -> str:
    """The results as a Markdown table."""
    lines = ["| mode | clients | requests | ok | errors | req/s | p50 ms | p95 ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r.mode} | {r.clients} | {r.requests} | {r.ok} | {r.errors} | {r.throughput:.2f} | "
              f"{r.p50_ms:.0f} | {r.p95_ms:.0f} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,5,20", help="concurrency levels (default 1,5,20)")
    parser.add_argument("--requests", type=int, default=60, help="requests per level (default 60)")
    parser.add_argument("--modes", default="embedded,server", help="embedded and/or server")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    levels = [int(n) for n in args.clients.split(",")]
    bodies = questions()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="casebot-load-") as tmp:
        for mode in args.modes.split(","):
            print(f"[{mode}] ingesting and starting the server…", file=sys.stderr, flush=True)
            with casebot_server(mode, Path(tmp)) as base:
                # Warm-up, outside the measurement: one pass over the question set loads the case
                # and fills the per-word caches, so every level measures the same steady state.
                for body in bodies:
                    httpx.post(f"{base}/api/v1/ask", json={**body, "question": "Warm-up: "
                               + str(body["question"])}, timeout=300)
                for level, clients in enumerate(levels):
                    row = run_level(base, mode, clients, args.requests, bodies, level)
                    print(f"[{mode}] {clients} clients: {row.throughput} req/s, p50 {row.p50_ms} ms, "
                          f"p95 {row.p95_ms} ms, {row.errors} errors", file=sys.stderr, flush=True)
                    rows.append(row)
    print(table(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2), encoding="utf-8")
    return 0 if all(r.errors == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
