"""The question rate limit through real HTTP against `casebot serve`: counted where a question is
answered, so no Gradio route gets round it; per client (chat session, API token) with a ceiling per
IP address; shared by two replicas through a real Redis server the test starts."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import CASE_ID, free_port, running_server, stop
from test_chat_app import message_text

from bot.web.ratelimit import Client, QuestionLimiter, RateLimited
from bot.web.security import RateLimit

pytestmark = [pytest.mark.server, pytest.mark.model]

QUESTION = "How much did Volkswagen invest in XPeng?"
LIMITED = "many questions"


def _ask_api(base: str, **headers: str) -> httpx.Response:
    return httpx.post(f"{base}/api/v1/ask", json={"question": QUESTION}, headers=headers, timeout=120)


def _gradio_ids(base: str) -> dict[str, int]:
    config = httpx.get(f"{base}/config", timeout=10).json()
    return {d.get("api_name"): d["id"] for d in config["dependencies"]}


@pytest.fixture(scope="module")
def ip_capped(ingested_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Per client generous, per IP address 2 a minute: every route from 127.0.0.1 shares 2."""
    with running_server(ingested_data_dir, "--rate-limit", "100/minute",
                        env={"CASEBOT_RATE_LIMIT_IP": "2/minute"},
                        log_dir=tmp_path_factory.mktemp("logs")) as base:
        yield base


def test_no_gradio_route_gets_round_the_limit(ip_capped: str) -> None:
    for _ in range(2):
        assert _ask_api(ip_capped).status_code == 200
    limited = _ask_api(ip_capped)
    assert limited.status_code == 429 and "Too many questions" in limited.json()["error"]
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    ids = _gradio_ids(ip_capped)
    routes: list[tuple[str, dict[str, Any]]] = [
        ("/gradio_api/run/ask/", {"data": [QUESTION, CASE_ID, None, None]}),           # trailing slash
        ("/gradio_api/api/ask", {"data": [QUESTION, CASE_ID, None, None]}),            # the /api/ alias
        ("/gradio_api/run/clear", {"data": [QUESTION, CASE_ID, None, None],            # another name,
                                   "fn_index": ids["ask"]}),                      # ask's fn_index
        ("/gradio_api/run/ask", {"data": [QUESTION, CASE_ID, None, None],
                                 "fn_index": str(ids["ask"])}),                   # a string index
        ("/embed/gradio_api/run/ask/", {"data": [QUESTION, CASE_ID, None, None]}),
    ]
    for path, body in routes:
        response = httpx.post(f"{ip_capped}{path}", json={**body, "session_hash": f"s{path}"},
                              timeout=120)
        text = response.text
        # Every route reaches the one limited handler: the notice, never the answer.
        assert response.status_code == 200, (path, text[:500])
        assert LIMITED in text and "700 million" not in text, (path, text[:500])
    # The queue route too (what the browser uses): the streamed result is the limit notice.
    join = httpx.post(f"{ip_capped}/gradio_api/queue/join", timeout=10,
                      json={"data": [QUESTION, CASE_ID, None, None], "fn_index": ids["ask"],
                            "session_hash": "qjoin"})
    assert join.status_code == 200
    stream = httpx.get(f"{ip_capped}/gradio_api/queue/data", params={"session_hash": "qjoin"},
                       timeout=120).text
    assert LIMITED in stream and "700 million" not in stream


@pytest.fixture(scope="module")
def classroom(ingested_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """2 questions a minute per client, the default 600 per IP address."""
    with running_server(ingested_data_dir, "--rate-limit", "2/minute",
                        log_dir=tmp_path_factory.mktemp("logs")) as base:
        yield base


def _chat(student: Any) -> str:
    """One question in a student's chat session (a gradio_client Client: its own session); the
    text of the last message, which is the answer or the notice."""
    _, chat = student.predict(QUESTION, CASE_ID, api_name="/ask")
    return message_text(chat[-1])


def test_a_classroom_behind_one_address_is_many_clients(classroom: str) -> None:
    from gradio_client import Client as GradioClient

    # Three students behind one NAT address: each gets their own 2 questions.
    students = {name: GradioClient(classroom + "/", verbose=False, download_files=False)
                for name in ("alice", "bob", "carol")}
    for student in students.values():
        for _ in range(2):
            answer = _chat(student)
            assert "700 million" in answer and LIMITED not in answer, answer
    # A friendly notice in the conversation with the wait, not an error (gradio_client would
    # raise one); the box keeps the text.
    box, chat = students["alice"].predict(QUESTION, CASE_ID, api_name="/ask")
    third = message_text(chat[-1])
    assert LIMITED in third and "wait about" in third and box == QUESTION
    # Without CASEBOT_API_TOKEN a bearer names no client: a made-up one is still this address.
    assert _ask_api(classroom, Authorization="Bearer one").status_code == 200
    assert _ask_api(classroom, Authorization="Bearer one").status_code == 200
    assert _ask_api(classroom, Authorization="Bearer one").status_code == 429
    assert _ask_api(classroom, Authorization="Bearer two").status_code == 429


def test_limiter_counts_client_and_address_ceiling() -> None:
    limiter = QuestionLimiter(RateLimit(2, 60.0), RateLimit(3, 60.0))
    limiter.check(Client("10.0.0.1", session="a"))
    limiter.check(Client("10.0.0.1", session="a"))
    with pytest.raises(RateLimited) as per_client:
        limiter.check(Client("10.0.0.1", session="a"))
    assert per_client.value.scope == "client" and 1 <= per_client.value.retry_after <= 60
    limiter.check(Client("10.0.0.1", session="b"))  # a refused question was not counted
    with pytest.raises(RateLimited) as per_ip:
        limiter.check(Client("10.0.0.1", session="c"))
    assert per_ip.value.scope == "ip"
    limiter.check(Client("10.0.0.2", session="c"))  # another address is not affected
    assert QuestionLimiter.from_settings("off", "off", "memory://") is None
    with pytest.raises(ValueError):
        QuestionLimiter.from_settings("30/minute", "600/minute", "memcached://x")


# Redis: two replicas share the counters.

def _redis_server() -> str:
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)
    if found is None:
        import os

        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is missing on CI: apt-get install redis-server")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    return found


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A real Redis server on a free 127.0.0.1 port, stopped at the end."""
    binary = _redis_server()
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(tmp_path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import redis

        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis(host="127.0.0.1", port=port).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError("redis-server did not start") from None
                time.sleep(0.2)
        yield f"redis://127.0.0.1:{port}"
    finally:
        stop(process)


def test_two_replicas_share_the_limit_through_redis(ingested_data_dir: Path, tmp_path: Path,
                                                    redis_url: str) -> None:
    env = {"CASEBOT_RATE_LIMIT_STORAGE": redis_url, "CASEBOT_API_TOKEN": "portal-token-for-redis"}
    with ExitStack() as stack:
        first, second = (stack.enter_context(running_server(ingested_data_dir, "--rate-limit",
                                                            "3/minute", env=env, log_dir=tmp_path))
                         for _ in range(2))
        # A portal backend's end user (X-Casebot-User) is the client counted across replicas.
        auth = {"Authorization": "Bearer portal-token-for-redis", "X-Casebot-User": "shared-client"}
        statuses = [_ask_api(base, **auth).status_code for base in (first, second, first)]
        assert statuses == [200, 200, 200]
        # The fourth question from this client is refused by either replica.
        assert _ask_api(second, **auth).status_code == 429
        assert _ask_api(first, **auth).status_code == 429
        assert _ask_api(first, **{**auth, "X-Casebot-User": "someone-else"}).status_code == 200
