"""Sessions under load against one `casebot serve`: 20 concurrent web-chat sessions (gradio_client
on the `/` app's `ask` event) and 20 API clients, 5 turns each, every session with its own canary
in its history.

Pass: no request fails, no canary shows up in another session's answers or history, and after the
sessions end their chat state expires (the server runs with CASEBOT_SESSION_TTL=4): a session that
comes back finds an empty history, and the server's RSS (from /proc) is back near its baseline.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import CASE_ID, running_server

pytestmark = [pytest.mark.server, pytest.mark.model]

SESSIONS = 20
TURNS = 5
TTL_S = 15  # long enough that no turn of a loaded 2-core machine outlasts it
RSS_MARGIN_MB = 25.0
FOLLOW_UPS = ["How much did Volkswagen invest in XPeng?", "When was that announced?",
              "Why did Volkswagen need a partner in China?", "What did XPeng gain from the deal?"]


def rss_mb(pid: int) -> float:
    """Resident set size of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def server_pid(base: str) -> int:
    """The pid of the process listening on the server's port (the `casebot serve` python)."""
    port = base.rsplit(":", 1)[1]
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(f":{int(port):04X}") and fields[3] == "0A":  # LISTEN
                inode = fields[9]
    assert inode, "no listening socket"
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if fd.readlink().as_posix() == f"socket:[{inode}]":
                    return int(proc.name)
        except (PermissionError, FileNotFoundError, OSError):
            continue
    raise AssertionError("no process owns the listening socket")


@pytest.fixture(scope="module")
def server(ingested_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(ingested_data_dir, "--rate-limit", "off", "--session-ttl", str(TTL_S),
                        log_dir=tmp_path_factory.mktemp("logs")) as base:
        yield base


def canary() -> str:
    return f"ZQX{secrets.token_hex(4).upper()}"  # no Markdown specials: shown as typed


def chat_session(base: str, code: str) -> tuple[Any, list[str]]:
    """One web-chat session: 5 turns; the client and every chat transcript it saw."""
    from gradio_client import Client

    client = Client(base + "/", verbose=False)
    seen = []
    questions = [f"My student code is {code}. Does the case mention it?", *FOLLOW_UPS]
    for question in questions[:TURNS]:
        result = client.predict(question, CASE_ID, api_name="/ask")
        seen.append(str(result))
    return client, seen


def api_session(base: str, code: str) -> list[str]:
    """One API client: 5 turns, keeping its own history (with its canary) and sending it back."""
    history = [{"role": "user", "content": f"My student code is {code}."},
               {"role": "assistant", "content": f"Noted: {code}."}]
    seen = []
    with httpx.Client(timeout=120) as http:
        for question in FOLLOW_UPS + FOLLOW_UPS[:TURNS - len(FOLLOW_UPS)]:
            response = http.post(f"{base}/api/v1/ask", json={"question": question, "history": history})
            assert response.status_code == 200, response.text
            answer = response.json()["answer"]
            seen.append(response.text)
            history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return seen


def wave(base: str) -> tuple[list[str], list[Any], list[str], list[list[str]], float]:
    """SESSIONS chat sessions and SESSIONS API clients at once, each with its own canary."""
    chat_codes = [canary() for _ in range(SESSIONS)]
    api_codes = [canary() for _ in range(SESSIONS)]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2 * SESSIONS) as pool:
        chats = [pool.submit(chat_session, base, code) for code in chat_codes]
        apis = [pool.submit(api_session, base, code) for code in api_codes]
        chat_results = [future.result(timeout=300) for future in chats]
        api_results = [future.result(timeout=300) for future in apis]
    return chat_codes, chat_results, api_codes, api_results, time.monotonic() - started


def test_concurrent_sessions_stay_apart_and_expire(server: str) -> None:
    pid = server_pid(server)
    # A first wave warms everything that stays (worker threads, caches, the loaded case) ...
    wave(server)
    time.sleep(TTL_S + 3)
    baseline = rss_mb(pid)
    # ... the second is measured: memory must come back to where the first wave left it.
    chat_codes, chat_results, api_codes, api_results, elapsed = wave(server)
    peak = rss_mb(pid)
    every_code = chat_codes + api_codes
    for own, (_, seen) in zip(chat_codes, chat_results, strict=True):
        assert len(seen) == TURNS
        assert own in seen[-1]  # the session's own history kept its canary
        assert not any(code in text for text in seen for code in every_code if code != own)
    for own, seen in zip(api_codes, api_results, strict=True):
        assert len(seen) == TURNS
        assert not any(code in text for text in seen for code in every_code if code != own)

    time.sleep(TTL_S + 3)  # the sessions are idle: their state expires
    settled = rss_mb(pid)
    client, _ = chat_results[0]
    after = client.predict("Who founded XPeng?", CASE_ID, api_name="/ask")
    assert chat_codes[0] not in str(after), "an expired session still had its history"
    print(f"\n{2 * SESSIONS} sessions x {TURNS} turns in {elapsed:.1f} s; RSS baseline {baseline:.0f} MiB, "
          f"peak {peak:.0f} MiB, after expiry {settled:.0f} MiB")
    assert settled - baseline < RSS_MARGIN_MB, (baseline, peak, settled)
