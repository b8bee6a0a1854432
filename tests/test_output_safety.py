"""Output safety in a real headless Chromium: XSS payloads in questions and in case paragraphs.

A tmp case whose paragraphs each carry one payload is ingested with the real `casebot ingest`;
`casebot serve` answers from it. Every payload is rendered through the chat (`/`, as a question
and as a quoted case paragraph), the embed page (`/embed`, with its linked citations) and the eval
report (`casebot eval` -> report.html). Pass: no script runs (payloads would set `window.__pwned`,
`document.title` or open a dialog), no element with an event handler, `javascript:` link or
outside source appears, no request leaves 127.0.0.1 (the browser's request log), and the payload
is shown as text.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BOX, private_copy, require_chromium, run_main, running_server

from bot.web.chat import MAX_SESSION_TURNS

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.model]

CASE = "northwind"
PAYLOADS: list[tuple[str, str]] = [
    ("script", "<script>window.__pwned='script'</script>"),
    ("img-onerror", "<img src=x onerror=\"window.__pwned='img'\">"),
    ("svg-onload", "<svg onload=\"window.__pwned='svg'\"><circle r=9></circle></svg>"),
    ("md-js-link", "[click here](javascript:window.__pwned='mdlink')"),
    ("md-image-outside", "![chart](http://evil.example/pixel.png)"),
    ("a-js-href", "<a href=\"javascript:window.__pwned='a'\">the memo</a>"),
    ("iframe-srcdoc", "<iframe srcdoc=\"<script>parent.__pwned='srcdoc'</script>\"></iframe>"),
    ("details-ontoggle", "<details open ontoggle=\"window.__pwned='details'\">x</details>"),
    ("mxss", "<math><mtext><table><mglyph><style><img src=x onerror=\"window.__pwned='mxss'\">"),
    ("attr-breakout", "\"><script>document.title='pwned'</script>"),
    ("css-import", "<style>@import 'http://evil.example/x.css';</style>"),
    ("link-stylesheet", "<link rel=stylesheet href=http://evil.example/x.css>"),
    ("object-data", "<object data=\"javascript:window.__pwned='object'\"></object>"),
    ("input-autofocus", "<input autofocus onfocus=\"window.__pwned='input'\">"),
    ("raw-img-outside", "<img src=\"http://evil.example/img.png\">"),
    ("md-data-link", "[report](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)"),
    ("latex-href", "$$\\href{javascript:window.__pwned='latex'}{x}$$"),
    ("video-onerror", "<video><source onerror=\"window.__pwned='video'\"></video>"),
]
NAMES = ("Zephyr Aurora Basalt Cobalt Dorado Ember Fjord Garnet Helix Indigo Juniper Krypton Lumen "
         "Meridian Nimbus Onyx Prism Quartz").split()
IDS = [name for name, _ in PAYLOADS]

# Elements a payload would have created: event handlers, script URLs, outside sources, raw tags.
_INJECTED_ELEMENTS = """(root) => [...document.querySelectorAll(root)]
  .flatMap(e => [e, ...e.querySelectorAll('*')])
  .filter(e => ['SCRIPT', 'IFRAME', 'OBJECT', 'EMBED', 'VIDEO', 'INPUT', 'LINK', 'STYLE'].includes(e.tagName)
    || [...e.attributes].some(a => a.name.startsWith('on') || /^\\s*(javascript|data):/i.test(a.value)
                                   || /evil\\.example/.test(a.value)))
  .map(e => e.outerHTML.slice(0, 120))"""


def case_text() -> str:
    """A case whose every paragraph quotes one payload in its 'opening memo'."""
    lines = ["The Northwind Battery Case", "Background"]
    for (_, payload), name in zip(PAYLOADS, NAMES, strict=True):
        lines.append(f"The {name} plant produced {len(name) * 100} batteries in its first year. "
                     f"Its opening memo read: {payload}")
    return "\n".join(lines) + "\n"


def case_question(index: int) -> str:
    """A clean question answered by the paragraph carrying payload `index`."""
    return f"How many batteries did the {NAMES[index]} plant produce?"


@pytest.fixture(scope="module")
def xss_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the payload case ingested by `casebot ingest` (run in this process)."""
    root = tmp_path_factory.mktemp("xss")
    (root / f"{CASE}.txt").write_text(case_text(), encoding="utf-8")
    data_dir = root / "data"
    ingest = run_main(data_dir, "ingest", "--quiet", str(root / f"{CASE}.txt"))
    assert ingest.returncode == 0, ingest.stderr
    return private_copy(data_dir, tmp_path_factory, "xss-served")


@pytest.fixture(scope="module")
def server(xss_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`casebot serve` over the payload case."""
    require_chromium()
    with running_server(xss_data_dir, "--rate-limit", "off",
                        log_dir=tmp_path_factory.mktemp("logs")) as base:
        yield base


class Watched:
    """A page whose requests and dialogs are logged."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1000, "height": 900})
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("dialog", self._dialog)
        self.turns = 0

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def outside_requests(self) -> list[str]:
        """Requests to anywhere but 127.0.0.1 (or the page's own data:/blob:/file: URLs)."""
        return [url for url in self.requests if not url.startswith(
            ("http://127.0.0.1:", "data:", "blob:", "about:", "file://"))]

    @property
    def shown_turns(self) -> int:
        """The turns on screen: a chat session keeps its last MAX_SESSION_TURNS only."""
        return min(self.turns, MAX_SESSION_TURNS)

    def ask(self, question: str) -> str:
        """Ask in the chat and wait for the complete answer; its visible text."""
        box = self.page.get_by_placeholder(BOX)
        box.wait_for(timeout=60_000)
        box.fill(question)
        box.press("Enter")
        self.turns += 1
        messages = self.page.locator(".message-content")
        deadline = time.monotonic() + 60
        last = ""
        while time.monotonic() < deadline:
            # Once the chat shows its last MAX_SESSION_TURNS only, the message count no longer
            # grows: the turn before the answer must be this question, or a slow answer would be
            # mistaken for the previous one (seen on a loaded machine).
            if (messages.count() >= 2 * self.shown_turns
                    and _shown(question, messages.nth(2 * self.shown_turns - 2).inner_text())):
                text = messages.nth(2 * self.shown_turns - 1).inner_text()
                if text and text == last and ("Sources" in text or "case" in text):
                    return text
                last = text
            self.page.wait_for_timeout(400)
        raise AssertionError(f"no answer to {question!r}; last seen {last!r}")

    def assert_safe(self) -> None:
        """No payload ran, created an element or reached outside."""
        pwned = self.page.evaluate("() => [window.__pwned, document.title]")
        assert pwned[0] is None and "pwned" not in pwned[1], pwned
        assert self.dialogs == []
        assert self.page.evaluate(_INJECTED_ELEMENTS, ".message-content") == []
        assert self.outside_requests() == []

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def chat(browser: Any, server: str) -> Iterator[Watched]:
    """The chat at `/`, kept open for all payloads."""
    watched = Watched(browser)
    watched.page.goto(server + "/")
    try:
        yield watched
    finally:
        watched.close()


@pytest.fixture(scope="module")
def embed(browser: Any, server: str) -> Iterator[Watched]:
    """The embed page, kept open for all payloads."""
    watched = Watched(browser)
    watched.page.goto(f"{server}/embed?case={CASE}")
    try:
        yield watched
    finally:
        watched.close()


def _shown(payload: str, text: str) -> bool:
    """Whether the payload is visible as text (whitespace aside)."""
    return " ".join(payload.split()) in " ".join(text.split())


@pytest.mark.parametrize("index", range(len(PAYLOADS)), ids=IDS)
def test_payload_in_a_question_is_shown_as_text(chat: Watched, index: int) -> None:
    payload = PAYLOADS[index][1]
    chat.ask(f"What did the memo say? {payload}")
    question = chat.page.locator(".message-content").nth(2 * chat.shown_turns - 2).inner_text()
    assert _shown(payload, question), question
    chat.assert_safe()


@pytest.mark.parametrize("index", range(len(PAYLOADS)), ids=IDS)
def test_payload_in_a_case_paragraph_is_shown_as_text_in_the_chat(chat: Watched, index: int) -> None:
    answer = chat.ask(case_question(index))
    assert _shown(PAYLOADS[index][1], answer) and "Sources" in answer, answer
    chat.assert_safe()


@pytest.mark.parametrize("index", range(len(PAYLOADS)), ids=IDS)
def test_payload_in_a_case_paragraph_is_shown_as_text_in_the_embed_page(embed: Watched, index: int
                                                                        ) -> None:
    answer = embed.ask(case_question(index))
    assert _shown(PAYLOADS[index][1], answer), answer
    assert embed.page.locator("a.casebot-cite").count() >= 1  # the fixed citation links still work
    embed.assert_safe()


def test_payloads_in_the_eval_report(xss_data_dir: Path, browser: Any, tmp_path: Path) -> None:
    questions = tmp_path / "questions.jsonl"
    rows: list[dict[str, Any]] = []
    for index, (name, payload) in enumerate(PAYLOADS):
        rows.append({"id": f"{name}<b>{index}</b>", "question": case_question(index),
                     "reference_answer": payload, "must_include": [payload], "category": "fact",
                     "history": [{"role": "user", "content": payload}]})
        rows.append({"id": f"q-{name}", "question": f"What did the memo say? {payload}",
                     "answerable": False, "category": "off-topic"})
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = run_main(xss_data_dir, "eval", str(questions), "--case", CASE, "--output", str(tmp_path / "run"))
    assert result.returncode in (0, 3), result.stderr
    watched = Watched(browser)
    try:
        watched.page.goto((tmp_path / "run" / "report.html").as_uri())
        watched.page.wait_for_load_state("load")
        text = watched.page.inner_text("body")
        for _, payload in PAYLOADS:
            assert _shown(payload, text), payload
        watched.assert_safe()
        assert watched.page.evaluate(_INJECTED_ELEMENTS, "main") == []
    finally:
        watched.close()
