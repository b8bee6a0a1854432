"""`casebot serve` when the language model fails or hangs, through real HTTP, with the scripted
OpenAI-compatible server of tests/fake_openai.py: mapped errors instead of 500, and a bounded
number of threads however many questions time out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import running_server
from fake_openai import FakeOpenAI, Reply

from bot.web.workers import DEFAULT_WORKERS

pytestmark = [pytest.mark.server, pytest.mark.model]

QUESTION = "How much did Volkswagen invest in XPeng?"


def _events(base: str) -> list[tuple[str, dict]]:
    events: list[tuple[str, dict]] = []
    with httpx.stream("POST", f"{base}/api/v1/ask/stream", json={"question": QUESTION},
                      timeout=120) as response:
        assert response.status_code == 200
        kind = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((kind, json.loads(line.removeprefix("data: "))))
    return events


def _llm_env(fake: FakeOpenAI, **extra: str) -> dict[str, str]:
    return {"CASEBOT_LLM": "openai:fake-model", "OPENAI_BASE_URL": fake.base_url,
            "OPENAI_API_KEY": "sk-test", "CASEBOT_LLM_FALLBACK": "none", **extra}


def test_llm_failures_are_502_503_504_never_500(ingested_data_dir: Path, tmp_path: Path) -> None:
    fake = FakeOpenAI().start()
    try:
        with running_server(ingested_data_dir, "--rate-limit", "off", log_dir=tmp_path,
                            env=_llm_env(fake, CASEBOT_LLM_TIMEOUT="2")) as base:
            # The model's server answers 500: a bad gateway.
            fake.default = Reply(status=500)
            failed = httpx.post(f"{base}/api/v1/ask", json={"question": QUESTION}, timeout=120)
            assert failed.status_code == 502, failed.text
            assert "HTTP 500" in failed.json()["error"]
            kinds = _events(base)
            assert kinds[-1][0] == "error" and "HTTP 500" in kinds[-1][1]["error"]
            # The model is too slow: a gateway timeout.
            fake.default = Reply("Volkswagen invested $700 million [¶12].", delay=6)
            slow = httpx.post(f"{base}/api/v1/ask", json={"question": QUESTION}, timeout=120)
            assert slow.status_code == 504, slow.text
            assert "no answer within 2 s" in slow.json()["error"]
            fake.default = Reply("Volkswagen invested $700 million [¶12].")
            fake.stop()
            # The model's server is gone: unavailable.
            down = httpx.post(f"{base}/api/v1/ask", json={"question": QUESTION}, timeout=120)
            assert down.status_code == 503, down.text
            assert "could not connect" in down.json()["error"]
            stream = _events(base)
            assert stream[-1][0] == "error" and "could not connect" in stream[-1][1]["error"]
            assert all(kind != "answer" for kind, _ in stream)
    finally:
        fake.stop()


def _threads(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))


def _server_pid(base: str) -> int:
    port = base.rsplit(":", 1)[1]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in cmdline and port.encode() in cmdline:
            return int(proc.name)
    raise AssertionError(f"no casebot serve process on port {port}")


@pytest.fixture
def hung_model() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI(Reply("Volkswagen invested $700 million [¶12].", delay=120)).start()
    try:
        yield fake
    finally:
        fake.stop()


def test_fifty_timed_out_questions_leave_the_thread_count_flat(
        ingested_data_dir: Path, tmp_path: Path, hung_model: FakeOpenAI) -> None:
    env = _llm_env(hung_model, CASEBOT_LLM_TIMEOUT="300", CASEBOT_ANSWER_TIMEOUT="0.5")
    with running_server(ingested_data_dir, "--rate-limit", "off", log_dir=tmp_path,
                        env=env) as base:
        pid = _server_pid(base)
        before = _threads(pid)
        statuses = []
        for _ in range(50):
            response = httpx.post(f"{base}/api/v1/ask", json={"question": QUESTION}, timeout=60)
            statuses.append(response.status_code)
            assert "error" in response.json()
        after = _threads(pid)
        # 504 while a worker takes it; 503 "busy" once every worker hangs and the queue is full.
        assert set(statuses) <= {503, 504} and statuses[0] == 504
        # A fixed pool of answer workers, not one more thread per abandoned question.
        assert after - before <= DEFAULT_WORKERS + 4, (before, after)
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
