"""The HTTP API of `casebot serve`, through real HTTP against the real console script.

Each server is started as a subprocess on a free 127.0.0.1 port and stopped by its fixture.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import CASE_ID, SERVER_LOGS, check_text_case_citation, free_port, run_main, running_server

from bot.web.security import RateLimit, check_origins, frame_ancestors, parse_rate_limit

pytestmark = pytest.mark.server

PORTAL = "http://127.0.0.1:9"  # an origin that is never contacted, only named
TOKEN = "test-token-123"
QUESTION = "How much did Volkswagen invest in XPeng?"
@pytest.fixture(scope="module")
def server(ingested_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An open server: one allowed portal origin, no token, no rate limit."""
    with running_server(ingested_data_dir, "--rate-limit", "off",
                        env={"CASEBOT_ALLOWED_ORIGINS": PORTAL},
                        log_dir=tmp_path_factory.mktemp("logs")) as base:
        yield base


@pytest.fixture(scope="module")
def strict_server(ingested_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server that wants a bearer token and allows 3 questions a minute per client."""
    with running_server(ingested_data_dir, "--rate-limit", "3/minute",
                        env={"CASEBOT_API_TOKEN": TOKEN},
                        log_dir=tmp_path_factory.mktemp("logs")) as base:
        yield base


def _assert_answer_object(data: dict) -> None:
    assert set(data) >= {"answer", "abstained", "citations", "case", "backend", "latency_ms"}
    assert data["case"] == CASE_ID
    for citation in data["citations"]:
        check_text_case_citation(citation)
        assert f"[{citation['label']}]" in data["answer"]


def test_healthz_and_cases(server: str) -> None:
    health = httpx.get(f"{server}/healthz", timeout=10).json()
    assert health["status"] == "ok" and health["cases"] == 1 and health["store"] == "embedded"
    cases = httpx.get(f"{server}/api/v1/cases", timeout=10).json()
    assert [c["id"] for c in cases] == [CASE_ID]
    assert cases[0]["paragraphs"] > 10 and "Volkswagen" in cases[0]["title"]


def test_ask_answers_with_citations(server: str) -> None:
    response = httpx.post(f"{server}/api/v1/ask", json={"question": QUESTION, "case": CASE_ID},
                          timeout=120)
    assert response.status_code == 200, response.text
    data = response.json()
    _assert_answer_object(data)
    assert "$700 million" in data["answer"] and not data["abstained"]
    assert 12 in [c["paragraph"] for c in data["citations"]]


def test_ask_follow_up_uses_history(server: str) -> None:
    history = [{"role": "user", "content": QUESTION},
               {"role": "assistant", "content": "Volkswagen invested $700 million [¶12]."}]
    response = httpx.post(f"{server}/api/v1/ask", json={"question": "When was that announced?",
                                                        "history": history}, timeout=120)
    assert response.status_code == 200, response.text
    assert "July 26, 2023" in response.json()["answer"]


def test_stream_sends_tokens_then_the_answer(server: str) -> None:
    events: list[tuple[str, dict]] = []
    with httpx.stream("POST", f"{server}/api/v1/ask/stream", json={"question": QUESTION},
                      timeout=120) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((event, json.loads(line.removeprefix("data: "))))
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "answer" and kinds.count("answer") == 1
    assert kinds[0] == "token" and set(kinds[:-1]) == {"token"}
    final = events[-1][1]
    _assert_answer_object(final)
    assert "".join(data["text"] for kind, data in events if kind == "token").strip() == final["answer"]


@pytest.mark.parametrize(("body", "status", "needle"), [
    ({"question": "x", "case": "no-such-case"}, 404, "No case 'no-such-case'"),
    ({"question": "   "}, 422, "empty"),
    ({"question": "x" * 2001}, 422, "2,000"),
    ({"question": 42}, 422, "question"),
    ({}, 422, "question"),
    ({"question": "Why?", "history": [{"role": "bot", "content": "hi"}]}, 422, "history"),
    ({"question": "Why?", "history": "not a list"}, 422, "history"),
    ({"question": "Why?", "history": [{"role": "user", "content": "x", "extra": 1}]}, 422, "history"),
    (["not", "an", "object"], 422, "JSON object"),
])
def test_bad_input_gives_json_4xx(server: str, body: object, status: int, needle: str) -> None:
    response = httpx.post(f"{server}/api/v1/ask", json=body, timeout=60)
    assert response.status_code == status, response.text
    assert needle in response.json()["error"]


def test_invalid_json_and_oversized_bodies(server: str) -> None:
    bad = httpx.post(f"{server}/api/v1/ask", content=b'{"question": ', timeout=30,
                     headers={"content-type": "application/json"})
    assert bad.status_code == 400 and "not valid JSON" in bad.json()["error"]
    huge = json.dumps({"question": "a" * 400_000}).encode()
    too_big = httpx.post(f"{server}/api/v1/ask", content=huge, timeout=30,
                         headers={"content-type": "application/json"})
    assert too_big.status_code == 413 and "KiB" in too_big.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold while reading
        yield b'{"question": "'
        for _ in range(40):
            yield b"a" * 10_000
        yield b'"}'

    streamed = httpx.post(f"{server}/api/v1/ask", content=chunks(), timeout=30,
                          headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    unknown = httpx.get(f"{server}/api/v1/nothing-here", timeout=10)
    assert unknown.status_code == 404 and "error" in unknown.json()


def test_cors_allows_only_the_configured_origin(server: str) -> None:
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type,authorization"}
    allowed = httpx.options(f"{server}/api/v1/ask", headers={"Origin": PORTAL, **preflight}, timeout=10)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == PORTAL
    assert "access-control-allow-credentials" not in allowed.headers
    denied = httpx.options(f"{server}/api/v1/ask",
                           headers={"Origin": "http://evil.example", **preflight}, timeout=10)
    assert "access-control-allow-origin" not in denied.headers
    # Simple requests, API and Gradio's own routes, even behind a public host name.
    for path in ("/api/v1/cases", "/config", "/embed/config"):
        evil = httpx.get(f"{server}{path}", timeout=10,
                         headers={"Origin": "http://evil.example", "Host": "casebot.example.edu"})
        assert "access-control-allow-origin" not in evil.headers, path
        good = httpx.get(f"{server}{path}", headers={"Origin": PORTAL}, timeout=10)
        assert good.headers.get("access-control-allow-origin") == PORTAL, path
        assert good.headers.get("access-control-allow-origin") != "*"


def test_html_pages_carry_frame_ancestors(server: str) -> None:
    for path in ("/", "/embed/?case=" + CASE_ID):
        page = httpx.get(f"{server}{path}", timeout=30)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"] == f"frame-ancestors 'self' {PORTAL}"
        assert "x-frame-options" not in page.headers
    redirect = httpx.get(f"{server}/embed?case={CASE_ID}", timeout=10)
    assert redirect.status_code == 307 and redirect.headers["location"] == f"embed/?case={CASE_ID}"


def test_startup_prints_the_embed_snippets(server: str) -> None:
    printed = SERVER_LOGS[server].read_text(encoding="utf-8", errors="replace")
    assert f'<iframe src="{server}/embed/?case={CASE_ID}"' in printed
    assert f'<script type="module" src="{server}/gradio.js"></script>' in printed
    assert f'<gradio-app src="{server}/embed/"></gradio-app>' in printed
    assert "Traceback" not in printed and "UserWarning" not in printed
    script = httpx.get(f"{server}/gradio.js", headers={"Origin": PORTAL}, timeout=10)
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert script.headers["access-control-allow-origin"] == PORTAL


def test_openapi_docs(server: str) -> None:
    schema = httpx.get(f"{server}/openapi.json", timeout=10).json()
    assert {"/api/v1/ask", "/api/v1/ask/stream", "/api/v1/cases", "/healthz"} <= set(schema["paths"])
    assert httpx.get(f"{server}/docs", timeout=10).status_code == 200


def test_default_csp_is_same_origin_only(strict_server: str) -> None:
    page = httpx.get(f"{strict_server}/embed/", timeout=30)
    assert page.headers["content-security-policy"] == "frame-ancestors 'self'"
    evil = httpx.get(f"{strict_server}/config", headers={"Origin": "http://127.0.0.1:1"}, timeout=10)
    assert "access-control-allow-origin" not in evil.headers


def test_token_is_required_on_the_api_only(strict_server: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = httpx.get(f"{strict_server}/api/v1/cases", headers=headers, timeout=10)
        assert response.status_code == 401 and "token" in response.json()["error"]
        assert response.headers["www-authenticate"].startswith("Bearer")
    ok = httpx.get(f"{strict_server}/api/v1/cases", headers={"Authorization": f"Bearer {TOKEN}"},
                   timeout=10)
    assert ok.status_code == 200
    assert httpx.get(f"{strict_server}/healthz", timeout=10).status_code == 200
    assert httpx.get(f"{strict_server}/", timeout=30).status_code == 200


def test_rate_limit_counts_questions_from_api_and_chat(strict_server: str) -> None:
    from gradio_client import Client as GradioClient
    from test_chat_app import message_text

    auth = {"Authorization": f"Bearer {TOKEN}"}
    student = GradioClient(strict_server + "/", verbose=False, download_files=False)
    # Gradio's own events: only the `ask` event is a question; starting new chats does not count.
    for _ in range(3):
        student.predict(api_name="/clear")
    for _ in range(3):
        response = httpx.post(f"{strict_server}/api/v1/ask", json={"question": QUESTION},
                              headers=auth, timeout=120)
        assert response.status_code == 200, response.text
    limited = httpx.post(f"{strict_server}/api/v1/ask", json={"question": QUESTION}, headers=auth,
                         timeout=30)
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert "Too many questions" in limited.json()["error"]
    # The chat session is another client: its own 3 questions, then the notice in the chat.
    for number in range(4):
        _, chat = student.predict("Who founded XPeng?", CASE_ID, api_name="/ask")
        shown = message_text(chat[-1])
        assert ("many questions" in shown) == (number == 3), shown
    assert httpx.get(f"{strict_server}/api/v1/cases", headers=auth, timeout=10).status_code == 200


def test_bad_serve_settings_fail_with_a_message(ingested_index: Path) -> None:
    # `casebot serve` run in this process: it must refuse before it serves anything.
    for args, needle in ((["--rate-limit", "lots"], "30/minute"),
                         (["--allowed-origins", "https://lms.example.edu,*"], "cannot be '*'")):
        result = run_main(ingested_index, "serve", "--port", str(free_port()), *args)
        assert result.returncode == 2, result.stderr
        assert needle in result.stderr and "Traceback" not in result.stderr


def test_rate_limit_parsing() -> None:
    assert parse_rate_limit("30/minute") == RateLimit(30, 60.0)
    assert parse_rate_limit("5 / 10 seconds") == RateLimit(5, 10.0)
    assert parse_rate_limit("100/hour") == RateLimit(100, 3600.0)
    assert parse_rate_limit("off") is None
    for bad in ("30", "0/minute", "x/minute", "30/fortnight"):
        with pytest.raises(ValueError):
            parse_rate_limit(bad)


def test_origins_are_validated_for_cors_and_csp() -> None:
    assert check_origins(("https://LMS.example.edu", "http://127.0.0.1:8080")) == (
        "https://lms.example.edu", "http://127.0.0.1:8080")
    for bad in ("*", "lms.example.edu", "https://lms.example.edu/x", "https://a.edu; script-src *",
                "null"):
        with pytest.raises(ValueError):
            check_origins((bad,))
    assert frame_ancestors(()) == "frame-ancestors 'self'"
    assert frame_ancestors(("https://a.edu",)) == "frame-ancestors 'self' https://a.edu"
