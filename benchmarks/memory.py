"""Memory benchmark of `casebot serve`: does the server's resident memory plateau under load?

Starts `casebot serve` on a free 127.0.0.1 port (rate limits off) over a data folder with the
bundled case ingested (a fresh one unless --data-dir names one), then runs mixed load from N
concurrent clients for a while: API questions, streamed questions, ratings of the answers, page
loads (/ and /embed), and web-chat conversations through gradio_client, each in a new session as
students open the page. The server's RSS is sampled every few seconds from /proc (Linux). Prints a
table and a verdict: RSS plateaued when the last third of the run grew by less than 5%.

    .venv/bin/python benchmarks/memory.py [--clients 8] [--minutes 10] [--interval 5]
        [--data-dir DIR]

The server is stopped at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
QUESTIONS = REPO / "cases" / "xpeng-volkswagen" / "questions.jsonl"
CASE = "xpeng-volkswagen"
PLATEAU_GROWTH = 0.05  # the last third of the run may grow RSS by less than this
ACTIONS = ("ask", "stream", "page", "ask", "chat", "stream", "page", "ask")


@dataclass
class Counts:
    """Requests done and failed, shared by the client threads."""

    done: int = 0
    failed: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def add(self, ok: bool) -> None:
        with self._lock:
            self.done += 1
            self.failed += not ok


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mib(pid: int) -> float:
    """The resident set size of process `pid` in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def questions() -> list[str]:
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [row["question"] for row in rows if not row.get("history")]


def wait_ready(base: str, server: subprocess.Popen[bytes], timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"casebot serve exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{base} did not answer within {timeout:g} s")


def client_loop(number: int, base: str, asked: list[str], stop: threading.Event, counts: Counts) -> None:
    """One client: the mixed actions in turn until `stop`, each question slightly reworded so
    that nothing is answered from a cache."""
    from gradio_client import Client

    rng = random.Random(number)
    with httpx.Client(base_url=base, timeout=120) as http:
        for step in itertools.count():
            if stop.is_set():
                return
            action = ACTIONS[(step + number) % len(ACTIONS)]
            question = f"{rng.choice(asked)} ({number}-{step})"
            try:
                if action == "ask":
                    response = http.post("/api/v1/ask", json={"question": question})
                    ok = response.status_code == 200
                    answer_id = response.json().get("answer_id") if ok else None
                    if answer_id:
                        rated = http.post("/api/v1/feedback", json={
                            "answer_id": answer_id, "rating": rng.choice(("up", "down")),
                            "comment": "memory benchmark"})
                        counts.add(rated.status_code == 200)
                elif action == "stream":
                    with http.stream("POST", "/api/v1/ask/stream", json={"question": question}) as events:
                        body = b"".join(events.iter_bytes())
                    ok = events.status_code == 200 and b"event: answer" in body
                elif action == "page":
                    ok = all(http.get(path).status_code == 200 for path in ("/", f"/embed/?case={CASE}"))
                else:  # a new web-chat session: two turns, a follow-up included
                    chat = Client(f"{base}/", verbose=False, download_files=False)
                    chat.predict(question, CASE, api_name="/ask")
                    chat.predict("When was that?", CASE, api_name="/ask")
                    ok = True
            except Exception:
                ok = False
            counts.add(ok)


def verdict(samples: list[tuple[float, float, int, int]]) -> tuple[bool, float]:
    """(plateaued, growth of the last third) from (seconds, RSS MiB, done, failed) samples."""
    third = samples[len(samples) * 2 // 3:]
    start, end = third[0][1], max(s[1] for s in third)
    growth = (end - start) / start
    return growth < PLATEAU_GROWTH, growth


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--minutes", type=float, default=10.0, help="how long (default 10)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between samples (default 5)")
    parser.add_argument("--data-dir", type=Path, help="a data folder with the case ingested "
                        "(default: a fresh one, ingested first)")
    args = parser.parse_args()
    os.environ.update(GRADIO_ANALYTICS_ENABLED="False", HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_OFFLINE="1")
    with tempfile.TemporaryDirectory(prefix="casebot-memory-") as scratch:
        data = args.data_dir or Path(scratch) / "data"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CASEBOT_")}
        env["CASEBOT_DATA_DIR"] = str(data)
        if args.data_dir is None:
            print("ingesting the bundled case ...", file=sys.stderr)
            subprocess.run([BIN / "casebot", "ingest", "--quiet"], env=env, check=True)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = Path(scratch) / "serve.log"
        with log.open("wb") as handle:
            server = subprocess.Popen([BIN / "casebot", "serve", "--port", str(port), "--rate-limit", "off",
                                       "--rate-limit-ip", "off"], env=env, stdout=handle,
                                      stderr=subprocess.STDOUT)
        try:
            wait_ready(base, server)
            return run(args, base, server.pid)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def run(args: argparse.Namespace, base: str, pid: int) -> int:
    asked = questions()
    counts = Counts()
    stop = threading.Event()
    clients = [threading.Thread(target=client_loop, args=(n, base, asked, stop, counts), daemon=True)
               for n in range(args.clients)]
    start = time.monotonic()
    samples = [(0.0, rss_mib(pid), 0, 0)]
    print(f"{args.clients} clients for {args.minutes:g} min against {base}; RSS at start "
          f"{samples[0][1]:.0f} MiB\n")
    print(f"{'time (s)':>9} {'RSS (MiB)':>10} {'requests':>9} {'failed':>7}")
    for thread in clients:
        thread.start()
    deadline = start + args.minutes * 60
    while (now := time.monotonic()) < deadline:
        stop.wait(min(args.interval, deadline - now))
        sample = (time.monotonic() - start, rss_mib(pid), counts.done, counts.failed)
        samples.append(sample)
        print(f"{sample[0]:9.0f} {sample[1]:10.0f} {sample[2]:9d} {sample[3]:7d}", flush=True)
    stop.set()
    for thread in clients:
        thread.join(timeout=180)
    plateaued, growth = verdict(samples)
    peak = max(s[1] for s in samples)
    print(f"\nRSS {samples[0][1]:.0f} MiB at start, {samples[-1][1]:.0f} MiB at the end, peak {peak:.0f} "
          f"MiB; {counts.done} requests ({counts.done / samples[-1][0]:.1f}/s), {counts.failed} failed")
    print(f"last third of the run: RSS grew {growth:+.1%} -> "
          f"{'plateaued' if plateaued else 'DID NOT plateau'} (threshold {PLATEAU_GROWTH:.0%})")
    return 0 if plateaued else 1


if __name__ == "__main__":
    sys.exit(main())
