"""Headless Chromium against `casebot serve` with records on: students rate answers with the chat's
thumbs (and a comment) in the chat and on /embed, and the instructor signs in to the dashboard,
which shows the questions grouped by meaning, the declined ones and the rated-down answers, at
desktop and phone size, with no script and no CSP violation.

Screenshots go to artifacts/ (gitignored).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ARTIFACTS, BOX, CASE_ID, replicas, require_chromium

# A server start, a dozen answers and two browsers on a 2-core machine: more than the default 300 s.
pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.model, pytest.mark.timeout(900)]

TOKEN = "dashboard-token-for-tests"
# Several wordings of a few questions, so that grouping by meaning has something to group.
ASKED = [
    "How much did Volkswagen invest in XPeng?",
    "How much money did VW put into XPeng?",
    "What was the size of Volkswagen's investment in XPeng?",
    "When was the partnership announced?",
    "When did they announce the deal?",
    "Why did Volkswagen need a partner in China?",
    "Who won the 2022 football World Cup?",
    "What is the capital of Australia?",
    "Who won the 2022 football World Cup?",
]


@pytest.fixture(scope="module")
def server(ingested_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server with records in its own SQLite file and the dashboard on, holding some questions."""
    require_chromium()
    records = tmp_path_factory.mktemp("records") / "records.sqlite3"
    with replicas(1, ingested_data_dir, "--rate-limit", "off", "--database-url",
                  f"sqlite:///{records}", env={"CASEBOT_INSTRUCTOR_TOKEN": TOKEN},
                  log_dir=tmp_path_factory.mktemp("logs")) as (base,):
        for index, question in enumerate(ASKED):
            answer = httpx.post(f"{base}/api/v1/ask", json={"question": question}, timeout=60).json()
            if index in (1, 7):
                comment = "It should give the share of XPeng too." if index == 1 else ""
                httpx.post(f"{base}/api/v1/feedback", timeout=30, json={
                    "answer_id": answer["answer_id"], "rating": "down", "comment": comment})
        yield base


def _page(browser: Any, width: int, height: int) -> Any:
    context = browser.new_context(viewport={"width": width, "height": height})
    return context, context.new_page()


def _rows(base: str, **params: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{base}/api/v1/instructor/questions", params={"case": CASE_ID, **params},
                         headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def _rate_in_chat(scope: Any, question: str, comment: str, shot: str = "") -> None:
    box = scope.get_by_placeholder(BOX)
    box.wait_for(timeout=60_000)
    box.fill(question)
    box.press("Enter")
    # The finished answer links its citations; the text streamed before it does not, and a
    # rating given while the answer is still being written is refused (the log lacks it yet).
    scope.locator(".message-content a.casebot-cite").last.wait_for(timeout=120_000)
    scope.get_by_label("Dislike").last.click()
    comment_box = scope.get_by_placeholder("What was wrong or missing? (optional)")
    comment_box.wait_for(timeout=30_000)
    comment_box.fill(comment)
    if shot:
        scope.screenshot(path=str(ARTIFACTS / shot))
    comment_box.press("Enter")
    comment_box.wait_for(state="hidden", timeout=30_000)


def test_thumbs_down_with_a_comment_in_the_chat_and_the_embed(server: str, browser: Any) -> None:
    context, page = _page(browser, 1000, 900)
    try:
        page.goto(server + "/")
        _rate_in_chat(page, "What did XPeng gain from the deal?", "Too long for a student.",
                      "chat-comment.png")
        page.screenshot(path=str(ARTIFACTS / "chat-rated.png"))
        page.goto(f"{server}/embed?case={CASE_ID}")
        _rate_in_chat(page, "How much did Volkswagen invest in XPeng?", "Cite the press release.")
    finally:
        context.close()
    down = {r["channel"]: r for r in _rows(server, rating="down")}
    assert down["chat"]["question"] == "What did XPeng gain from the deal?"
    assert down["chat"]["comment"] == "Too long for a student."
    assert down["embed"]["comment"] == "Cite the press release."


def test_dashboard_sign_in_and_sections(server: str, browser: Any) -> None:
    for name, (width, height) in {"desktop": (1280, 900), "phone": (390, 844)}.items():
        context, page = _page(browser, width, height)
        problems: list[str] = []
        page.on("console", lambda message, p=problems: p.append(message.text)
                if message.type in ("error", "warning") else None)
        try:
            page.goto(server + "/instructor")
            token = page.get_by_label("Instructor token")
            token.fill("wrong")
            token.press("Enter")
            page.get_by_text("That token is not right.").wait_for(timeout=10_000)
            page.get_by_label("Instructor token").fill(TOKEN)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("heading", name="Most asked, grouped by meaning").wait_for(timeout=60_000)
            assert TOKEN not in page.url
            text = page.locator("main").inner_text()
            for heading in ("Questions per day", "Declined: what the case or the bot does not cover",
                            "Answers rated down", "Usage by channel"):
                assert heading in text
            groups = page.locator("ol.groups").first.locator("li")
            # The three wordings of the investment question are one group of 3 (or more, with the
            # chat test's questions).
            invest = groups.filter(has_text="invest").first
            assert int(invest.locator(".count").inner_text()) >= 3
            assert "It should give the share of XPeng too." in text
            declined = page.locator("ol.groups.declined").inner_text()
            assert "World Cup" in declined and "capital of Australia" in declined
            assert page.locator(".daychart .bar").count() == 30
            assert page.locator(".daychart .bar:not(.h0)").count() >= 1
            # Nothing is wider than the screen, on a phone too.
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, overflow
            cookies = {c["name"]: c for c in page.context.cookies()}
            session = cookies["casebot_instructor"]
            assert session["httpOnly"] and session["sameSite"] == "Lax"
            assert not any("Content Security Policy" in p for p in problems), problems
            page.screenshot(path=str(ARTIFACTS / f"instructor-{name}.png"), full_page=True)
            page.get_by_role("button", name="Sign out").click()
            page.get_by_label("Instructor token").wait_for(timeout=10_000)
        finally:
            context.close()
    headers = httpx.get(server + "/instructor", timeout=30).headers
    assert "script-src" not in headers["content-security-policy"]
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "frame-ancestors" in headers["content-security-policy"]
