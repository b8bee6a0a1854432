"""Chroma server mode: a real `chroma run` on a free port, ingest through it, answers from two
separate casebot processes sharing it, and a quick, clear error once the server is stopped.

`casebot ingest` and `casebot ask` run in this process (`run_main`): the processes that matter
here are the two servers sharing the Chroma server."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from conftest import CASE_ID, free_port, run_main, running_server, start_chroma, stop

pytestmark = [pytest.mark.server, pytest.mark.model]

QUESTION = "How much did Volkswagen invest in XPeng?"
QUICK_S = 15.0  # "quickly": well under any client timeout, far from a hang


@pytest.fixture
def chroma(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A running Chroma server (URL, process); always stopped at the end."""
    port = free_port()
    process = start_chroma(tmp_path / "chroma-db", port, tmp_path / "chroma.log")
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        stop(process)


def test_two_casebot_processes_share_one_chroma_server(
        chroma: tuple[str, subprocess.Popen[bytes]], tmp_path: Path) -> None:
    url, chroma_process = chroma
    env = {"CASEBOT_CHROMA_URL": url}
    local = tmp_path / "local"  # CASEBOT_DATA_DIR: must stay free of any embedded index
    ingest = run_main(local, "ingest", "--quiet", env=env)
    assert ingest.returncode == 0, ingest.stderr
    assert not (local / "chroma").exists()
    listed = httpx.get(f"{url}/api/v2/tenants/default_tenant/databases/default_database/collections",
                       timeout=10).json()
    assert any(c["metadata"]["case"] == CASE_ID for c in listed)

    with ExitStack() as stack:
        replicas = [stack.enter_context(running_server(local, "--rate-limit", "off", env=env,
                                                       log_dir=tmp_path))
                    for _ in range(2)]
        answers = []
        for base in replicas:
            assert httpx.get(f"{base}/healthz", timeout=10).json()["store"] == "server"
            response = httpx.post(f"{base}/api/v1/ask", json={"question": QUESTION}, timeout=120)
            assert response.status_code == 200, response.text
            answers.append(response.json())
        assert answers[0]["answer"] == answers[1]["answer"]
        assert "$700 million" in answers[0]["answer"] and answers[0]["case"] == CASE_ID

        stop(chroma_process)  # the shared index goes away under both replicas
        for base in replicas:
            started = time.monotonic()
            response = httpx.post(f"{base}/api/v1/ask", json={"question": QUESTION}, timeout=60)
            assert time.monotonic() - started < QUICK_S
            assert response.status_code == 503, response.text
            assert "not reachable" in response.json()["error"]
            health = httpx.get(f"{base}/healthz", timeout=30)
            # Publicly only "error": store details (hosts, versions) go to the server's log.
            assert health.status_code == 503 and health.json() == {"status": "error"}

    started = time.monotonic()
    asked = run_main(local, "ask", "--json", QUESTION, env=env)
    assert asked.returncode == 1, asked.stderr
    assert asked.stdout == "" and "Traceback" not in asked.stderr
    assert "Chroma server" in asked.stderr or "vector store" in asked.stderr, asked.stderr
    # The CLI loads the embedding model first; the store error itself must not add a hang.
    assert time.monotonic() - started < 60, asked.stderr
    print(json.dumps({"cli_error": asked.stderr.strip()}))
