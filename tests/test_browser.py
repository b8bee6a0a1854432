"""A real headless Chromium against `casebot serve`: the chat answers with citations, and the embed
page loads inside an iframe on an allowed portal origin and is refused on any other origin.

Screenshots go to artifacts/ (gitignored).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import ARTIFACTS, BOX, CASE_ID, ask_in_chat, free_port, require_chromium, running_server

pytestmark = [pytest.mark.browser, pytest.mark.server]

QUESTION = "How much did Volkswagen invest in XPeng?"


class Portal:
    """A tiny course-portal web server on its own 127.0.0.1 origin, serving fixed pages."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write((body or "not found").encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def portals() -> Iterator[tuple[Portal, Portal]]:
    """Two portal origins: the first will be allowed to embed the chat, the second not."""
    allowed, other = Portal(), Portal()
    try:
        yield allowed, other
    finally:
        allowed.close()
        other.close()


@pytest.fixture(scope="module")
def casebot_url(ingested_data_dir: Path, portals: tuple[Portal, Portal],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`casebot serve` allowing the first portal's origin only."""
    require_chromium()
    with running_server(ingested_data_dir, "--rate-limit", "off",
                        env={"CASEBOT_ALLOWED_ORIGINS": portals[0].origin},
                        log_dir=tmp_path_factory.mktemp("logs")) as base:
        embed = f"{base}/embed?case={CASE_ID}"
        frame = f'<h1>Course portal</h1><iframe src="{embed}" width="900" height="640"></iframe>'
        component = (f'<h1>Course portal</h1><script type="module" src="{base}/gradio.js"></script>'
                     f'<gradio-app src="{base}/embed/"></gradio-app>')
        for portal in portals:
            portal.pages["/frame.html"] = f"<!doctype html><title>portal</title>{frame}"
            portal.pages["/component.html"] = f"<!doctype html><title>portal</title>{component}"
        yield base


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


def test_chat_answers_with_a_citation(casebot_url: str, page: Any) -> None:
    page.goto(casebot_url + "/")
    ask_in_chat(page, QUESTION)
    answer = page.get_by_text("Volkswagen would invest $700 million").first
    answer.wait_for(timeout=120_000)
    page.get_by_text("Sources").first.wait_for(timeout=10_000)
    bot_message = page.locator(".message-content").last.inner_text()
    assert "[¶12]" in bot_message and "¶12" in bot_message
    assert "Act II: The Shocking Announcement" in bot_message
    page.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)


def test_embed_loads_in_an_allowed_portal(casebot_url: str, portals: tuple[Portal, Portal],
                                          page: Any) -> None:
    page.goto(portals[0].origin + "/frame.html")
    frame = page.frame_locator("iframe")
    ask_in_chat(frame, QUESTION)
    cite = frame.locator("a.casebot-cite").first
    cite.wait_for(timeout=120_000)
    assert cite.inner_text() == "[¶12]"
    source = frame.locator("blockquote").filter(has_text="¶12").first
    assert "stunned the automotive world" in source.inner_text()
    cite.click()
    # The click stays in the frame and opens the reader there, at the cited paragraph.
    frame.locator(".casebot-reader-col.casebot-open").wait_for(timeout=5_000)
    frame.frame_locator(".casebot-reader-frame").locator("p#p12 mark").first.wait_for(timeout=30_000)
    assert len(page.context.pages) == 1
    assert page.frames[1].url.startswith(casebot_url + "/embed/?case=")
    page.screenshot(path=str(ARTIFACTS / "embed-allowed.png"))


def test_embed_is_refused_on_another_origin(casebot_url: str, portals: tuple[Portal, Portal],
                                            page: Any) -> None:
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text))
    page.goto(portals[1].origin + "/frame.html")
    page.wait_for_load_state("load")
    page.wait_for_timeout(2_000)
    child = page.frames[1]
    assert child.url.startswith("chrome-error://") or child.url == "about:blank", child.url
    assert page.frame_locator("iframe").get_by_placeholder(BOX).count() == 0
    assert any("frame-ancestors" in text for text in blocked), blocked
    page.screenshot(path=str(ARTIFACTS / "embed-refused.png"))


def test_web_component_in_an_allowed_portal(casebot_url: str, portals: tuple[Portal, Portal],
                                            page: Any) -> None:
    page.goto(portals[0].origin + "/component.html")
    ask_in_chat(page, QUESTION)
    citation = page.locator("a.casebot-cite").first
    citation.wait_for(timeout=120_000)
    assert citation.inner_text().strip() == "[¶12]"
    assert "$700 million" in page.locator("gradio-app").inner_text()
    page.screenshot(path=str(ARTIFACTS / "web-component.png"))
