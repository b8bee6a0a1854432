"""Headless Chromium against `casebot serve` with records on: students rate answers with the chat's
thumbs (and a comment) in the chat and on /embed, and the instructor signs in to the dashboard,
which shows the questions grouped by meaning, the declined ones grouped and labelled, the
rated-down answers, and every paragraph of the case with a bar for the answers that cited it (a
click or Enter/Space shows their questions), at desktop and phone size, with no CSP violation.

Screenshots go to artifacts/ (gitignored); docs/teaching-dashboard-*.png are copies of the map's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ARTIFACTS, BOX, CASE_ID, SERVER_LOGS, replicas, require_chromium

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
    # Declined, two of them the same question in other words.
    "What was XPeng's share price after the announcement?",
    "What was XPeng's share price in 2024?",
    "What was XPeng's stock price before the deal?",
]
SHARE_PRICE = ASKED[-3:]


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


def _signed_in_page(browser: Any, server: str, width: int, height: int) -> tuple[Any, Any]:
    context, page = _page(browser, width, height)
    page.goto(server + "/instructor")
    page.get_by_label("Instructor token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Where in the case answers came from").wait_for(timeout=60_000)
    return context, page


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
    # The page's one script, by its hash: no other (injected, inline or from anywhere) may run.
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]+';", headers["content-security-policy"])
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "frame-ancestors" in headers["content-security-policy"]


def test_the_start_prints_the_dashboard_url(server: str) -> None:
    assert f"instructor dashboard: {server}/instructor" in SERVER_LOGS[server].read_text()


def test_the_dashboard_maps_the_answers_onto_the_case(server: str, browser: Any) -> None:
    rows = _rows(server)
    cited: dict[int, list[str]] = {}
    for row in rows:
        for paragraph in dict.fromkeys(row["cited_paragraphs"]):
            cited.setdefault(paragraph, []).append(row["question"])
    shown = _case_paragraphs(server)
    assert shown
    most = max(cited, key=lambda n: len(cited[n]))
    for name, (width, height) in {"desktop": (1280, 800), "phone": (390, 844)}.items():
        context, page = _signed_in_page(browser, server, width, height)
        problems: list[str] = []
        page.on("console", lambda message, p=problems: p.append(message.text)
                if message.type in ("error", "warning") else None)
        try:
            # Opened with no case named: the default case.
            assert page.locator("#case").input_value() == CASE_ID
            bars = page.locator("ol.map > li")
            assert [int(i.removeprefix("map-p")) for i in bars.evaluate_all(
                "items => items.map(item => item.id)")] == shown
            for number in shown:
                row = page.locator(f"#map-p{number}")
                assert int(row.locator(".n").inner_text()) == len(cited.get(number, [])), number
                assert row.locator("a.num").get_attribute("href") == f"/read/{CASE_ID}#p{number}"
            # A click opens the questions that cited the paragraph; another closes them.
            button = page.locator(f"#map-p{most} button")
            questions = page.locator(f"#asked-p{most}")
            assert button.get_attribute("aria-expanded") == "false" and questions.is_hidden()
            button.click()
            assert button.get_attribute("aria-expanded") == "true" and questions.is_visible()
            listed = questions.locator("li").all_inner_texts()
            assert sorted(listed) == sorted(set(cited[most]))
            button.click()
            assert button.get_attribute("aria-expanded") == "false" and questions.is_hidden()
            # From the keyboard: Space opens, Enter closes.
            other = next(n for n in cited if n != most)
            key_button = page.locator(f"#map-p{other} button")
            key_button.focus()
            page.keyboard.press("Space")
            assert key_button.get_attribute("aria-expanded") == "true"
            assert page.locator(f"#asked-p{other}").is_visible()
            page.keyboard.press("Enter")
            assert key_button.get_attribute("aria-expanded") == "false"
            # The declined share-price questions are one group, labelled by what they share.
            declined = page.locator("ol.groups.declined li")
            share = declined.filter(has_text="share price").first
            assert int(share.locator(".count").inner_text()) >= 2
            topic = share.locator(".topic").inner_text()
            assert "about “" in topic and "share price" in topic and "the case doesn't say" in topic
            assert sum(q in share.inner_text() for q in SHARE_PRICE) >= 2
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, overflow
            assert not any("Content Security Policy" in p for p in problems), problems
            button.click()
            page.locator(f"#map-p{most}").scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / f"teaching-dashboard-{name}.png"))
        finally:
            context.close()


def _case_paragraphs(server: str) -> list[int]:
    """The numbers of the case's paragraphs as the reader shows them (its anchors), in order."""
    html = httpx.get(f"{server}/read/{CASE_ID}", timeout=30).text
    return [int(n) for n in re.findall(r'<p id="p(\d+)"', html)]
