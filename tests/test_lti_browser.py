"""A full LTI 1.3 launch in headless Chromium: a course page on the platform's own origin frames the
tool; the iframe goes login -> platform authorization -> auto-posted id_token -> launch -> the chat,
which answers a question inside the frame. Also the instructor's launch and the deep-linking picker
returning its choice to the platform (verified there by lti1p3platform against casebot's JWKS).

The platform's origin is registered with `casebot lti add-platform` only, not in
CASEBOT_ALLOWED_ORIGINS: the frames load because the LTI registration allows that origin. The
server runs with CASEBOT_ACCESS=lti: the launched chat works in a real browser (its own requests
carry the launch), while the same chat opened without a launch shows only a notice.
Screenshots go to artifacts/ and, when it exists, /work/drafts/screens/.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BOX, CASE_ID, CASEBOT, cli_env, require_chromium, screenshot
from lti_platform import INSTRUCTOR, LEARNER, Platform
from test_server_api import running_server

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.model]

QUESTION = "How much did Volkswagen invest in XPeng?"


@pytest.fixture(scope="module")
def casebot_url(ingested_data_dir: Path, platform: Platform,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`casebot serve --access lti` with `platform` registered through the real `casebot lti
    add-platform`."""
    require_chromium()
    database = f"sqlite:///{tmp_path_factory.mktemp('records') / 'records.sqlite3'}"
    env = cli_env(ingested_data_dir, CASEBOT_DATABASE_URL=database)
    urls = platform.urls
    subprocess.run([CASEBOT, "lti", "add-platform", "--issuer", urls["issuer"], "--client-id",
                    urls["client_id"], "--deployment-id", urls["deployment_id"], "--auth-login-url",
                    urls["auth_login_url"], "--auth-token-url", urls["auth_token_url"], "--jwks-url",
                    urls["jwks_url"]], check=True, env=env, capture_output=True, timeout=120)
    with running_server(ingested_data_dir, "--access", "lti", env={"CASEBOT_DATABASE_URL": database},
                        log_dir=tmp_path_factory.mktemp("logs")) as base:
        platform.set_tool(base)
        yield base


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1000, "height": 860})
    try:
        yield context.new_page()
    finally:
        context.close()


def _chat_frame(page: Any) -> Any:
    return page.frame_locator("iframe").frame_locator("iframe.chat")


def _ask_and_wait(chat: Any) -> str:
    box = chat.get_by_placeholder(BOX)
    box.wait_for(timeout=90_000)
    box.fill(QUESTION)
    box.press("Enter")
    cite = chat.locator("a.casebot-cite").first
    cite.wait_for(timeout=120_000)
    return str(chat.locator(".message-content").last.inner_text())


def test_student_launch_answers_inside_the_portal_iframe(casebot_url: str, platform: Platform,
                                                         page: Any) -> None:
    launches: list[Any] = []
    page.on("response", lambda r: launches.append(r) if r.url.endswith("/lti/launch") else None)
    page.goto(platform.course_page(platform.login_url(user="student-42", roles=(LEARNER,)), "student"))
    answer = _ask_and_wait(_chat_frame(page))
    assert "$700 million" in answer and "[¶12]" in answer
    launch = page.frame_locator("iframe")
    assert launch.get_by_text("Volkswagen").first.is_visible()
    assert launch.locator("#casebot-instructor").count() == 0
    # The launch was a form post from the platform, and its page may be framed by the platform only.
    assert launches and launches[0].request.method == "POST"
    csp = launches[0].headers["content-security-policy"]
    assert csp.startswith("frame-ancestors 'self'") and platform.issuer in csp
    chat_url = next(f.url for f in page.frames if "/embed/" in f.url)
    assert chat_url.startswith(f"{casebot_url}/embed/?case={CASE_ID}&lti=")
    assert "student-42" not in chat_url
    screenshot(page, "lti-student.png")


def test_instructor_launch_links_the_dashboard(casebot_url: str, platform: Platform, page: Any) -> None:
    page.goto(platform.course_page(platform.login_url(user="teacher-7", roles=(INSTRUCTOR,)),
                                   "instructor"))
    _ask_and_wait(_chat_frame(page))
    link = page.frame_locator("iframe").locator("#casebot-instructor")
    assert "Instructor dashboard" in link.inner_text()
    href = link.get_attribute("href") or ""
    assert href.startswith(f"../instructor?case={CASE_ID}&lti_ticket=")
    assert link.get_attribute("target") == "_blank"
    screenshot(page, "lti-instructor.png")


def test_deep_linking_picker_returns_the_chosen_case(casebot_url: str, platform: Platform,
                                                     page: Any) -> None:
    page.goto(platform.course_page(platform.login_url(user="teacher-7", roles=(INSTRUCTOR,), case=None,
                                                      deep=True), "deep"))
    frame = page.frame_locator("iframe")
    button = frame.get_by_role("button", name="Add The Unlikely Alliance", exact=False).first
    button.wait_for(timeout=60_000)
    assert frame.get_by_text("Add “Ask the case” to your course").is_visible()
    screenshot(page, "lti-deep-linking-picker.png")
    button.click()
    frame.locator("#added").wait_for(timeout=30_000)
    assert len(platform.returns) == 1
    [item] = platform.returns[0]["items"]
    assert item["type"] == "ltiResourceLink" and item["custom"] == {"case": CASE_ID}
    assert item["url"] == f"{casebot_url}/lti/launch"
    claims = platform.returns[0]["claims"]
    assert claims["aud"] == platform.issuer
    assert claims["https://purl.imsglobal.org/spec/lti-dl/claim/data"] == {"opaque": "xyz-123"}


def test_without_a_launch_the_chat_shows_only_a_notice(casebot_url: str, page: Any) -> None:
    for path in ("/", f"/embed/?case={CASE_ID}"):
        response = page.goto(casebot_url + path)
        assert response is not None and response.status == 403
        assert page.get_by_role("heading", name="Open casebot from your course").is_visible()
        assert page.get_by_placeholder(BOX).count() == 0
