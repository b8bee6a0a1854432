"""Sessions under load against the whole app served on 127.0.0.1: 20 concurrent web-chat sessions
(gradio_client on the `/` app's `ask` event) and 20 API clients, 5 turns each, every session with
its own canary in its history.

Pass: no request fails, no canary shows up in another session's answers or history, each chat
session holds its log in the sessions' store, and once the sessions have been idle past
CASEBOT_SESSION_TTL every log is gone: the store is empty and a session that comes back finds an
empty history. Idle time passes on the store's own clock (the timer of its cachetools TTLCache),
which the test moves forward: nothing sleeps.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from conftest import CASE_ID
from served_app import serving

from bot.settings import Settings
from bot.web.chat import ChatSessions

pytestmark = [pytest.mark.server, pytest.mark.model]

SESSIONS = 20
TURNS = 5
TTL_S = 600.0
REQUEST_TIMEOUT_S = 120.0
FOLLOW_UPS = ["How much did Volkswagen invest in XPeng?", "When was that announced?",
              "Why did Volkswagen need a partner in China?", "What did XPeng gain from the deal?"]


class Clock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def server(casebot: Any, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[str, ChatSessions, Clock]]:
    clock = Clock()
    sessions = ChatSessions(TTL_S, timer=clock)
    settings = Settings.from_env({}, data_dir=tmp_path_factory.mktemp("sessions"), rate_limit="off",
                                 rate_limit_ip="off", session_ttl=TTL_S)
    with serving(casebot, settings, sessions=sessions) as (base, _):
        yield base, sessions, clock


def canary() -> str:
    return f"ZQX{secrets.token_hex(4).upper()}"  # no Markdown specials: shown as typed


def chat_session(base: str, code: str) -> tuple[Any, list[str]]:
    """One web-chat session: 5 turns; the client and every chat transcript it saw."""
    from gradio_client import Client

    # gradio_client's own requests time out after 5 s (httpx's default); 40 sessions on two busy
    # cores can wait longer than that to be queued. The test is about isolation, not latency (that
    # is benchmarks/latency.py's), so the chat clients wait as long as the API clients do.
    client = Client(base + "/", verbose=False, httpx_kwargs={"timeout": REQUEST_TIMEOUT_S})
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
    with httpx.Client(timeout=REQUEST_TIMEOUT_S) as http:
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


def test_concurrent_sessions_stay_apart_and_expire(server: tuple[str, ChatSessions, Clock]) -> None:
    base, sessions, clock = server
    chat_codes, chat_results, api_codes, api_results, elapsed = wave(base)
    every_code = chat_codes + api_codes
    for own, (_, seen) in zip(chat_codes, chat_results, strict=True):
        assert len(seen) == TURNS
        assert own in seen[-1]  # the session's own history kept its canary
        assert not any(code in text for text in seen for code in every_code if code != own)
    for own, seen in zip(api_codes, api_results, strict=True):
        assert len(seen) == TURNS
        assert not any(code in text for text in seen for code in every_code if code != own)
    assert len(sessions) == SESSIONS  # one log a chat session; the API keeps none

    clock.now += TTL_S - 1  # idle, but not yet for the whole TTL
    assert len(sessions) == SESSIONS
    clock.now += 2  # idle past the TTL: every log is dropped
    assert len(sessions) == 0
    client, _ = chat_results[0]
    after = client.predict("Who founded XPeng?", CASE_ID, api_name="/ask")
    assert chat_codes[0] not in str(after), "an expired session still had its history"
    assert len(sessions) == 1  # the session that came back starts a new log
    print(f"\n{2 * SESSIONS} sessions x {TURNS} turns in {elapsed:.1f} s")
