"""Hardening II, the web-facing part: instructor sessions scoped to the course they were launched
from, sign-out that revokes and refuses cross-site requests, lone surrogates answered with a 4xx
(or cleaned), no anonymous uploads, CSV cells that cannot run as formulas, rate-limit keys that
only a valid API token makes, a throttle on failed instructor sign-ins, on LTI logins and on
ratings, deep-linking that signs only casebot's own launch URL, CASEBOT_ACCESS=lti on every
surface that shows the case, and signed tokens that are refused outside their purpose.

Each server is the real app (`create_app`) over the real model and Chroma store, served by uvicorn
on a 127.0.0.1 port and spoken to over real HTTP (httpx, gradio_client, and headless Chromium for
launched chats); the LTI platform is the real one of tests/lti_platform.py. Every server is stopped
by its fixture.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest
import served_app
from conftest import BUNDLED_CASES, CASE_ID, new_page
from conftest import ask_in_chat as send_question
from lti_platform import COURSE, INSTRUCTOR, LEARNER, Platform
from test_chat_app import message_text

from bot.answer import Answer, Turn
from bot.errors import UsageError
from bot.records import AnswerRecord
from bot.records.export import csv_lines
from bot.records.models import StoredAnswer
from bot.settings import Settings

pytestmark = [pytest.mark.server, pytest.mark.model]

API_TOKEN = "portal-backend-token-0123"
INSTRUCTOR_TOKEN = "instructor-token-0123456789"
SECRET = "the-one-secret-of-this-test-module-0123456789"
QUESTION = "How much did Volkswagen invest in XPeng?"
OTHER_CASE = "other-case"


@contextmanager
def serving(casebot: Any, data_dir: Path, **fields: Any) -> Iterator[tuple[str, Any]]:
    """The whole casebot app with these settings (this module's secret and instructor token),
    served on 127.0.0.1 until the block ends; yields (base URL, app)."""
    settings = Settings.from_env({}, data_dir=data_dir, secret=SECRET,
                                 instructor_token=INSTRUCTOR_TOKEN, **fields)
    with served_app.serving(casebot, settings) as served:
        yield served


@pytest.fixture(scope="module")
def portal(casebot: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """Open access, an API token for a portal backend, 2 questions a minute per client."""
    with serving(casebot, tmp_path_factory.mktemp("portal"), api_token=API_TOKEN,
                 rate_limit="2/minute", rate_limit_ip="off") as served:
        yield served


@pytest.fixture(scope="module")
def limited(casebot: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """Open access, no API token, 2 questions a minute per client and 6 per address."""
    with serving(casebot, tmp_path_factory.mktemp("limited"), rate_limit="2/minute",
                 rate_limit_ip="6/minute") as served:
        yield served


OTHER_CASE_TEXT = "Globex licensed its solar patents to Initech for 12 million euros in 2021."


@pytest.fixture(scope="module")
def two_cases(embeddings: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A CaseBot over a real Chroma store holding the bundled case and a short second one."""
    from bot.answerers.extractive import ExtractiveAnswerer
    from bot.rag.chain import CaseBot
    from ingest.pipeline import ingest_paths
    from vectorstore.store import CaseLibrary, open_client

    other = tmp_path_factory.mktemp("other") / f"{OTHER_CASE}.md"
    other.write_text(f"# Globex and Initech\n\n{OTHER_CASE_TEXT}\n\nThe deal closed in March.\n",
                     encoding="utf-8")
    library = CaseLibrary(open_client(tmp_path_factory.mktemp("index")), embeddings)
    outcomes = ingest_paths([BUNDLED_CASES, other], library)
    assert sorted(o.report.case_id for o in outcomes if o.report) == [OTHER_CASE, CASE_ID]
    return CaseBot(library, ExtractiveAnswerer())


@pytest.fixture(scope="module")
def course(two_cases: Any, platform: Platform, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[str, Any]]:
    """CASEBOT_ACCESS=lti over two cases with `platform` registered; no API token, no rate limit."""
    from bot.lti import models as records

    with serving(two_cases, tmp_path_factory.mktemp("course"), access="lti", rate_limit="off") as served:
        base, app = served
        platform.set_tool(base)
        records.add_platform(app.state.lti.engine, **platform.urls)
        yield served


def bearer(user: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {API_TOKEN}", **({"X-Casebot-User": user} if user else {})}


def launch(base: str, platform: Platform, *, user: str, course_id: str = COURSE,
           roles: tuple[str, ...] = (LEARNER,), case: str = CASE_ID) -> dict[str, str]:
    """A real LTI launch through the platform: the absolute chat URL and, for an instructor,
    the dashboard URL of the launch page."""
    with httpx.Client(timeout=60) as http:
        login = http.get(platform.login_url(user=user, roles=roles, case=case, course=course_id))
        assert login.status_code == 302, login.text
        form_page = http.get(login.headers["location"])
        fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form_page.text))
        action = re.search(r'action="([^"]+)"', form_page.text)
        assert action is not None, form_page.text
        page = http.post(action.group(1), data=fields)
        assert page.status_code == 200, page.text
    links = {"chat": re.search(r'class="chat" src="([^"]+)"', page.text),
             "dashboard": re.search(r'href="([^"]+)"[^>]*id="casebot-instructor"', page.text)}
    launched = f"{base}/lti/launch"
    return {name: urljoin(launched, match.group(1).replace("&amp;", "&"))
            for name, match in links.items() if match}


def ask_in_chat(browser: Any, chat_url: str, question: str) -> str:
    """Ask in a launched chat as a student does: its page (whose URL carries the launch session)
    in headless Chromium, the question typed and sent; the chat's text once the answer is complete
    (its anchor is in the final message only) or a notice (in italics) is shown."""
    page = new_page(browser, 1280, 800)
    try:
        page.goto(chat_url)
        send_question(page, question)
        page.wait_for_function("""() => {
            const chat = document.querySelector(".casebot-chat");
            return chat && (chat.querySelector(".casebot-answer") || chat.querySelector("em"));
        }""", timeout=120_000)
        return str(page.locator(".casebot-chat").inner_text())
    finally:
        page.context.close()


@contextmanager
def signed_in(base: str, dashboard_url: str) -> Iterator[httpx.Client]:
    """An HTTP client holding the instructor session a dashboard link (LTI ticket) opens."""
    with httpx.Client(base_url=base, timeout=60) as http:
        first = http.get(dashboard_url, follow_redirects=False)
        assert first.status_code == 303, first.text
        yield http


@contextmanager
def token_holder(base: str) -> Iterator[httpx.Client]:
    """An HTTP client holding the token holder's instructor session."""
    with httpx.Client(base_url=base, timeout=60) as http:
        response = http.post("/instructor/login", data={"token": INSTRUCTOR_TOKEN},
                             follow_redirects=False)
        assert response.status_code == 303, response.text
        yield http


def exported(http: httpx.Client, **params: str) -> list[str]:
    """The questions of a dashboard export (JSONL)."""
    response = http.get("/instructor/export", params={"format": "jsonl", **params})
    assert response.status_code == 200, response.text
    return sorted(json.loads(line)["question"] for line in response.text.splitlines())


# ---- 1. instructor sessions scoped to their course ---------------------------------------------

COURSE_X_QUESTION = "What stake did Volkswagen take in XPeng?"
COURSE_Y_QUESTION = "Who leads XPeng?"
NO_COURSE_QUESTION = "When was the deal announced?"
CASE_B_QUESTION = "What is the other case about?"


@pytest.fixture(scope="module")
def course_records(course: tuple[str, Any], platform: Platform, browser: Any) -> dict[str, str]:
    """Records of case A in course X and in course Y (asked in launched chats), of case A without
    a course (the API's kind), and of case B in course X; returns the course X chat URL."""
    base, app = course
    chat_x = launch(base, platform, user="student-x")["chat"]
    assert "700 million" in ask_in_chat(browser, chat_x, QUESTION)
    ask_in_chat(browser, chat_x, COURSE_X_QUESTION)
    ask_in_chat(browser, launch(base, platform, user="student-y", course_id="course-2")["chat"],
                COURSE_Y_QUESTION)
    recorder = app.state.recorder
    recorder.record(Answer("It was announced in July [¶12].", False, (), CASE_ID, "extractive"),
                    NO_COURSE_QUESTION, (), "api")
    recorder.record(Answer("Another case.", False, (), OTHER_CASE, "extractive"), CASE_B_QUESTION, (),
                    "lti", platform=platform.issuer, course=COURSE)
    assert recorder.writer.flush()
    return {"chat": chat_x}


@pytest.mark.browser
def test_lti_answers_record_their_platform_and_course(course: tuple[str, Any], platform: Platform,
                                                      course_records: dict[str, str]) -> None:
    store = course[1].state.recorder.store
    by_question = {r.record.question: r.record for r in store.answers()}
    assert (by_question[COURSE_X_QUESTION].platform, by_question[COURSE_X_QUESTION].course) == \
        (platform.issuer, COURSE)
    assert by_question[COURSE_Y_QUESTION].course == "course-2"
    assert by_question[NO_COURSE_QUESTION].course is None


@pytest.mark.browser
def test_an_lti_instructor_sees_only_their_course_and_case(course: tuple[str, Any], platform: Platform,
                                                           course_records: dict[str, str]) -> None:
    base, _ = course
    links = launch(base, platform, user="teacher-x", roles=(INSTRUCTOR,))
    with signed_in(base, links["dashboard"]) as http:
        page = http.get("/instructor", params={"case": OTHER_CASE})
        assert page.status_code == 200
        assert COURSE_X_QUESTION in page.text
        for foreign in (COURSE_Y_QUESTION, NO_COURSE_QUESTION, CASE_B_QUESTION):
            assert foreign not in page.text
        assert f'value="{OTHER_CASE}"' not in page.text, "another case is not even offered"
        for params in ({}, {"case": OTHER_CASE}, {"case": ""}):
            assert exported(http, **params) == sorted([QUESTION, COURSE_X_QUESTION])
        as_csv = http.get("/instructor/export", params={"format": "csv", "case": OTHER_CASE})
        assert CASE_B_QUESTION not in as_csv.text and COURSE_Y_QUESTION not in as_csv.text


@pytest.mark.browser
def test_the_token_holder_still_sees_every_record(course: tuple[str, Any],
                                                  course_records: dict[str, str]) -> None:
    base, _ = course
    with token_holder(base) as http:
        assert exported(http) == sorted([QUESTION, COURSE_X_QUESTION, COURSE_Y_QUESTION,
                                         NO_COURSE_QUESTION, CASE_B_QUESTION])
        assert exported(http, case=OTHER_CASE) == [CASE_B_QUESTION]


def _csrf(http: httpx.Client) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', http.get("/instructor").text)
    assert found is not None
    return found.group(1)


def test_sign_out_revokes_the_session_and_refuses_cross_site_posts(course: tuple[str, Any]) -> None:
    from bot.web.instructor import COOKIE, Sessions

    base, app = course
    with token_holder(base) as http:
        csrf = _csrf(http)
        cookie = http.cookies[COOKIE]
        # A cross-site form post, even one carrying the right CSRF token: refused, still signed in.
        for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
            refused = http.post("/instructor/logout", data={"csrf": csrf}, headers=headers,
                                follow_redirects=False)
            assert refused.status_code == 403 and "error" in refused.json()
        # Same origin without the session's CSRF token: refused too.
        assert http.post("/instructor/logout", data={"csrf": "forged"}, headers={"Origin": base},
                         follow_redirects=False).status_code == 403
        assert 'name="csrf"' in http.get("/instructor").text
        out = http.post("/instructor/logout", data={"csrf": csrf},
                        headers={"Origin": base, "Sec-Fetch-Site": "same-origin"}, follow_redirects=False)
        assert out.status_code == 303
    # The signed-out cookie, replayed, opens nothing: not the dashboard, not the export.
    with httpx.Client(base_url=base, timeout=60, cookies={COOKIE: cookie}) as replay:
        assert 'name="token"' in replay.get("/instructor").text
        assert replay.get("/instructor/export", follow_redirects=False).status_code == 303
    # Another replica, which never saw the sign-out, reads it from the database.
    assert Sessions(SECRET, app.state.recorder, INSTRUCTOR_TOKEN).read(cookie) is None


# ---- 8. CASEBOT_ACCESS=lti ----------------------------------------------------------------------

def test_lti_access_closes_every_page_and_endpoint_that_shows_the_case(course: tuple[str, Any]) -> None:
    base, _ = course
    html = {"Accept": "text/html"}
    for path in ("/", f"/embed/?case={CASE_ID}", f"/embed?case={CASE_ID}"):
        page = httpx.get(base + path, headers=html, follow_redirects=True, timeout=30)
        assert page.status_code == 403, path
        assert "Open casebot from your course" in page.text and QUESTION not in page.text
    for path in ("/config", "/embed/config", "/gradio_api/info", "/embed/gradio_api/info"):
        response = httpx.get(base + path, timeout=30)
        assert response.status_code == 403 and "course" in response.json()["error"], path
    for path in ("/gradio_api/call/ask", "/embed/gradio_api/call/ask", "/gradio_api/queue/join"):
        response = httpx.post(base + path, json={"data": [QUESTION, CASE_ID]}, timeout=30)
        assert response.status_code == 403, path
    for path in ("/api/v1/ask", "/api/v1/ask/stream"):
        response = httpx.post(base + path, json={"question": QUESTION}, timeout=30)
        assert response.status_code == 403 and "course" in response.json()["error"], path
    # A forged launch session is nobody.
    forged = httpx.get(f"{base}/embed/?case={CASE_ID}&lti=forged.token", headers=html, timeout=30)
    assert forged.status_code == 403
    # Gradio's own client, without a launch, gets nothing either.
    from gradio_client import Client

    with pytest.raises(ValueError, match="Could not fetch config"):
        Client(f"{base}/embed/", verbose=False, download_files=False).predict(
            QUESTION, CASE_ID, api_name="/ask")
    # Still open: what shows no case text, and what checks its own access.
    assert httpx.get(f"{base}/healthz", timeout=30).status_code == 200
    assert httpx.get(f"{base}/lti/jwks", timeout=30).status_code == 200


@pytest.mark.browser
def test_a_launched_student_reads_and_asks(course: tuple[str, Any], platform: Platform, browser: Any) -> None:
    base, _ = course
    chat = launch(base, platform, user="student-reader")["chat"]
    page = httpx.get(chat, headers={"Accept": "text/html"}, timeout=30)
    assert page.status_code == 200 and "Open casebot from your course" not in page.text
    assert "700 million" in ask_in_chat(browser, chat, QUESTION)
    # The launch opened case A: case B of the same server stays closed to it, even when the
    # student edits the page's URL to show case B.
    other = ask_in_chat(browser, chat.replace(f"case={CASE_ID}", f"case={OTHER_CASE}"),
                        "Who licensed solar patents to Initech?")
    # The question box opens once the page has taken the edited URL's case, so the question is
    # asked in case B, and refused: case B's text never shows.
    assert "12 million" not in other and "Globex" not in other, other
    assert "your course opened it for" in other, other


def test_lti_access_api_is_for_the_api_token_holder(casebot: Any, tmp_path: Path) -> None:
    with serving(casebot, tmp_path / "data", access="lti", api_token=API_TOKEN,
                 rate_limit="off") as (base, _):
        assert httpx.post(f"{base}/api/v1/ask", json={"question": QUESTION}, timeout=30).status_code == 401
        answered = httpx.post(f"{base}/api/v1/ask", json={"question": QUESTION}, headers=bearer(),
                              timeout=60)
        assert answered.status_code == 200 and "700 million" in answered.json()["answer"]


# ---- 2. lone surrogates -------------------------------------------------------------------------

def _raw_json(text: str) -> bytes:
    """A JSON body whose strings may hold a lone surrogate as an escape (as any JSON client sends)."""
    return text.encode("ascii")


def test_lone_surrogates_get_a_4xx_or_are_cleaned_never_a_500(portal: tuple[str, Any]) -> None:
    base, app = portal
    headers = {**bearer(f"surrogate-{uuid.uuid4().hex[:8]}"), "Content-Type": "application/json"}
    question = _raw_json('{"question": "\\ud800How much did Volkswagen invest in XPeng?"}')
    asked = httpx.post(f"{base}/api/v1/ask", content=question, headers=headers, timeout=60)
    assert asked.status_code == 200, asked.text
    assert "700 million" in asked.json()["answer"]
    history = _raw_json('{"question": "When?", "history": [{"role": "user", "content": "a\\udc00b"}]}')
    for path in ("/api/v1/ask", "/api/v1/ask/stream"):
        refused = httpx.post(base + path, content=history, headers={
            **bearer(f"surrogate-{uuid.uuid4().hex[:8]}"), "Content-Type": "application/json"}, timeout=60)
        assert refused.status_code == 422 and "surrogate" in refused.json()["error"], path
    streamed = httpx.post(f"{base}/api/v1/ask/stream", content=question, headers={
        **bearer(f"surrogate-{uuid.uuid4().hex[:8]}"), "Content-Type": "application/json"}, timeout=60)
    assert streamed.status_code == 200 and "event: answer" in streamed.text
    answer_id = asked.json()["answer_id"]
    comment = _raw_json(f'{{"answer_id": "{answer_id}", "rating": "down", "comment": "bad\\ud83d"}}')
    rated = httpx.post(f"{base}/api/v1/feedback", content=comment, headers=headers, timeout=30)
    assert rated.status_code == 422 and "surrogate" in rated.json()["error"]
    unknown = _raw_json('{"answer_id": "\\ud800", "rating": "up"}')
    assert httpx.post(f"{base}/api/v1/feedback", content=unknown, headers=headers,
                      timeout=30).status_code == 404
    # The record kept is the cleaned question, and it was written.
    assert app.state.recorder.writer.flush()
    kept = {r.record.question for r in app.state.recorder.store.answers()}
    assert QUESTION in kept


def test_a_lone_surrogate_in_the_gradio_chat_is_cleaned(portal: tuple[str, Any]) -> None:
    # Through Gradio's documented HTTP API (POST /call/<api name>, then read its event stream):
    # gradio_client cannot send a lone surrogate at all (httpx refuses to encode one).
    base, _ = portal
    body = _raw_json('{"data": ["\\ud800' + QUESTION + '", "' + CASE_ID + '"]}')
    started = httpx.post(f"{base}/gradio_api/call/ask", content=body,
                         headers={"Content-Type": "application/json"}, timeout=30)
    assert started.status_code == 200, started.text
    events = httpx.get(f"{base}/gradio_api/call/ask/{started.json()['event_id']}", timeout=120).text
    assert "event: complete" in events, events
    textbox, chat, *_ = json.loads(events.split("event: complete\ndata:", 1)[1].split("\n", 1)[0])
    assert textbox == "" and "700 million" in message_text(chat[-1])
    assert message_text(chat[0]).endswith("XPeng?") and "\ud800" not in message_text(chat[0])


# ---- 3. no uploads --------------------------------------------------------------------------------

def test_gradio_uploads_are_refused_and_nothing_is_written(portal: tuple[str, Any]) -> None:
    base, _ = portal
    name = f"casebot-upload-{uuid.uuid4().hex}.txt"
    for path in ("/gradio_api/upload", "/embed/gradio_api/upload", "/gradio_api/upload/"):
        response = httpx.post(base + path, files={"files": (name, b"x" * 100_000, "text/plain")},
                              timeout=30)
        assert response.status_code == 403, (path, response.text)
        assert "upload" in response.json()["error"]
    cache = Path(tempfile.gettempdir()) / "gradio"  # Gradio's upload and cache folder
    assert not cache.exists() or not list(cache.rglob(name))


# ---- 5. rate-limit keys ----------------------------------------------------------------------------

def test_a_random_bearer_is_not_a_new_client_without_an_api_token(limited: tuple[str, Any]) -> None:
    base, _ = limited
    statuses = [httpx.post(f"{base}/api/v1/ask", json={"question": QUESTION}, timeout=60,
                           headers={"Authorization": f"Bearer random-{uuid.uuid4().hex}"}).status_code
                for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_each_end_user_of_a_portal_has_their_own_limit(portal: tuple[str, Any]) -> None:
    base, app = portal
    first, second = f"user-{uuid.uuid4().hex[:8]}", f"user-{uuid.uuid4().hex[:8]}"

    def ask(user: str | None) -> httpx.Response:
        return httpx.post(f"{base}/api/v1/ask", json={"question": QUESTION}, headers=bearer(user),
                          timeout=60)

    assert [ask(first).status_code for _ in range(3)] == [200, 200, 429]
    assert ask(second).status_code == 200, "another end user is not throttled by the first"
    bad = ask("not an id!")
    assert bad.status_code == 422 and "X-Casebot-User" in bad.json()["error"]
    assert httpx.post(f"{base}/api/v1/ask", json={"question": QUESTION}, timeout=30,
                      headers={"Authorization": "Bearer wrong", "X-Casebot-User": first}).status_code == 401
    # Kept only as a pseudonym.
    assert app.state.recorder.writer.flush()
    hashes = {r.record.user_hash for r in app.state.recorder.store.answers()}
    assert all(h is None or (first not in h and second not in h) for h in hashes)
    assert len(hashes - {None}) >= 2


# ---- 6. and 7. throttles -------------------------------------------------------------------------

def test_failed_instructor_sign_ins_are_throttled_per_address(limited: tuple[str, Any]) -> None:
    base, _ = limited
    with httpx.Client(base_url=base, timeout=30) as http:
        for _ in range(10):
            assert http.post("/instructor/login", data={"token": "wrong"}).status_code == 401
        throttled = http.post("/instructor/login", data={"token": INSTRUCTOR_TOKEN})
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
        bearer_try = http.get("/api/v1/instructor/questions",
                              headers={"Authorization": f"Bearer {INSTRUCTOR_TOKEN}"})
        assert bearer_try.status_code == 429 and "retry-after" in bearer_try.headers


def test_ratings_and_lti_logins_are_throttled(limited: tuple[str, Any]) -> None:
    base, _ = limited
    ratings = [httpx.post(f"{base}/api/v1/feedback", json={"answer_id": "0" * 32, "rating": "up"},
                          timeout=30) for _ in range(3)]
    assert [r.status_code for r in ratings] == [404, 404, 429]
    assert "retry-after" in ratings[-1].headers
    logins = [httpx.get(f"{base}/lti/login", timeout=30) for _ in range(7)]
    assert [r.status_code for r in logins] == [400] * 6 + [429]
    assert "retry-after" in logins[-1].headers


def test_a_short_instructor_token_stops_the_start() -> None:
    with pytest.raises(UsageError) as refused:
        Settings.from_env({"CASEBOT_INSTRUCTOR_TOKEN": "fifteen-chars.."})
    message = str(refused.value)
    assert "CASEBOT_INSTRUCTOR_TOKEN" in message and "16" in message
    assert "fifteen" not in message and "\n" not in message
    assert Settings.from_env({"CASEBOT_INSTRUCTOR_TOKEN": "sixteen-chars..."}).instructor_token


# ---- 4. CSV export -----------------------------------------------------------------------------------

def test_csv_export_neutralises_formulas() -> None:
    dangerous = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tTab", "\rCR"]
    rows = [StoredAnswer(AnswerRecord(
        id=f"{n:032x}", asked_at=datetime(2026, 1, 1, tzinfo=UTC), case_id=CASE_ID, question=text,
        history=(Turn("user", text),), answer=text, abstained=False, cited_paragraphs=(),
        backend="extractive", latency_ms=1.0, channel="api", session_id="s"), rating="down", comment=text)
        for n, text in enumerate(dangerous)]
    text = "".join(csv_lines(rows))
    header, *records = list(csv.reader(io.StringIO(text)))
    for record, original in zip(records, dangerous, strict=True):
        cells = dict(zip(header, record, strict=True))
        for column in ("question", "answer", "comment"):
            assert cells[column] == "'" + original, column
        assert json.loads(cells["history"])[0]["content"] == original  # a JSON cell starts with [
    assert '"\'@SUM(A1)"' in text and '"\'+1+1"' in text  # prefixed, and the cell quoted
    safe = [StoredAnswer(AnswerRecord(
        id="f" * 32, asked_at=datetime(2026, 1, 1, tzinfo=UTC), case_id=CASE_ID, question="Why 5%?",
        history=(), answer="Because.", abstained=False, cited_paragraphs=(), backend="x",
        latency_ms=1.0, channel="api", session_id="s"))]
    assert dict(zip(header, list(csv.reader(io.StringIO("".join(csv_lines(safe)))))[1],
                    strict=True))["question"] == "Why 5%?"


# ---- 9. signing ---------------------------------------------------------------------------------------

def test_a_token_signed_for_one_purpose_is_refused_for_another_and_when_expired(tmp_path: Path) -> None:
    from bot.records import Recorder
    from bot.web.instructor import Sessions
    from bot.web.signing import INSTRUCTOR_SESSION, LAUNCH_SESSION, Signer

    launch_signer = Signer(SECRET, LAUNCH_SESSION)
    token = launch_signer.sign({"u": "someone", "c": CASE_ID, "i": True, "p": "p", "k": "k"}, 60)
    assert launch_signer.read(token) is not None
    assert Signer(SECRET, INSTRUCTOR_SESSION).read(token) is None
    assert Signer("another-secret-of-at-least-32-characters", LAUNCH_SESSION).read(token) is None
    assert launch_signer.read(launch_signer.sign({"u": "someone"}, -1)) is None
    sessions = Sessions(SECRET, Recorder(None), INSTRUCTOR_TOKEN)
    cookie = sessions.start(None)
    assert sessions.read(cookie) is not None
    assert sessions.read(token) is None, "a launch session is no instructor session"
    assert launch_signer.read(cookie) is None, "and an instructor session is no launch session"
    assert sessions.read(sessions.csrf(sessions.read(cookie))) is None, "a CSRF token is no session"
    expired = Sessions(SECRET, Recorder(None), INSTRUCTOR_TOKEN, seconds=-1)
    assert expired.read(expired.start(None)) is None
    # A new instructor token ends the sessions signed under the old one.
    assert Sessions(SECRET, Recorder(None), "a-new-instructor-token-000").read(cookie) is None

