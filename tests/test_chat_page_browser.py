"""The chat at `/` as a new user meets it, in real headless Chromium against `casebot serve`:
linked citations (one renderer with /embed), the characters-left counter and a refused over-long
question that is not cut, a layout that fits a desktop and a 390x844 phone, and a case list that
shows cases ingested while the server runs. Screenshots go to artifacts/ and, when the folder
exists, /work/drafts/screens/."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    BOX,
    CASEBOT,
    ask_in_chat,
    cli_env,
    new_page,
    private_copy,
    require_chromium,
    running_server,
    screenshot,
)

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.model]

QUESTION = "How much did Volkswagen invest in XPeng?"


@pytest.fixture(scope="module")
def data_dir(ingested_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the ingested data folder: this module ingests a second case into it."""
    return private_copy(ingested_data_dir, tmp_path_factory, "chat-page")


@pytest.fixture(scope="module")
def base(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_chromium()
    with running_server(data_dir, "--rate-limit", "off",
                        log_dir=tmp_path_factory.mktemp("logs")) as url:
        yield url


def test_chat_links_citations_like_the_embed_page(browser: Any, base: str) -> None:
    page = new_page(browser, 1280, 800)
    try:
        page.goto(base + "/")
        ask_in_chat(page, QUESTION)
        cite = page.locator("a.casebot-cite").first
        cite.wait_for(timeout=120_000)
        assert cite.inner_text() == "[¶12]"
        cite.click()
        # The reader opens beside the chat, at the cited paragraph.
        page.locator(".casebot-reader-col.casebot-open").wait_for(timeout=5_000)
        page.frame_locator(".casebot-reader-frame").locator("p#p12 mark").first.wait_for(timeout=30_000)
        assert len(page.context.pages) == 1  # the link stayed in the page
        screenshot(page, "chat-desktop-answer.png")
    finally:
        page.context.close()


def test_long_question_is_refused_not_cut(browser: Any, base: str) -> None:
    page = new_page(browser, 1280, 800)
    try:
        page.goto(base + "/")
        box = page.get_by_placeholder(BOX)
        box.wait_for(timeout=60_000)
        long = "Please consider this. " * 95 + QUESTION  # 2,130 characters, the question at the end
        box.fill(long)
        counter = page.locator(".casebot-count")
        counter.get_by_text("characters too many").wait_for(timeout=10_000)
        assert "2,000" in counter.inner_text()
        box.press("Enter")
        page.get_by_text("keep it under 2,000").first.wait_for(timeout=30_000)
        assert box.input_value() == long  # nothing was cut
        # A notice in the conversation, not an error state over the chat and the box.
        assert page.get_by_text("Error", exact=True).count() == 0
        assert box.is_editable()
        box.fill("x" * 1900)
        counter.get_by_text("100 characters left").wait_for(timeout=10_000)
        screenshot(page, "chat-desktop-too-long.png")
    finally:
        page.context.close()


def test_the_counter_follows_the_box_without_a_keystroke(browser: Any, base: str) -> None:
    """The count is the box's change handler (in the browser): a sent question empties the box
    without a keystroke, and the count empties with it."""
    page = new_page(browser, 1280, 800)
    try:
        page.goto(base + "/")
        box = page.get_by_placeholder(BOX)
        box.wait_for(timeout=60_000)
        counter = page.locator(".casebot-count")
        box.fill("y" * 1950)
        counter.get_by_text("50 characters left").wait_for(timeout=10_000)
        box.fill("z" * 1850 + " " + QUESTION)
        counter.get_by_text("characters left").wait_for(timeout=10_000)
        box.press("Enter")
        page.locator("a.casebot-cite").first.wait_for(timeout=120_000)
        assert box.input_value() == ""
        page.wait_for_function(
            "() => document.querySelector('.casebot-count').textContent === ''", timeout=10_000)
    finally:
        page.context.close()


@pytest.mark.parametrize(("width", "height", "name"), [(1280, 800, "desktop"), (390, 844, "phone")])
def test_layout_fits_the_screen(browser: Any, base: str, width: int, height: int, name: str) -> None:
    page = new_page(browser, width, height)
    try:
        page.goto(base + "/")
        page.get_by_placeholder(BOX).wait_for(timeout=60_000)
        page.wait_for_timeout(1_000)
        screenshot(page, f"chat-{name}.png")
        header = page.locator(".casebot-header").first.bounding_box()
        assert header is not None and header["height"] <= 0.10 * height, header
        examples = page.get_by_text("When was the partnership announced?").first.bounding_box()
        assert examples is not None and examples["y"] + examples["height"] <= height, examples
        # No label or clear icon drawn over the messages.
        chat = page.locator(".casebot-chat")
        assert chat.locator("label").count() == 0 or not chat.locator("label").first.is_visible()
    finally:
        page.context.close()


def test_case_ingested_while_serving_appears_on_reload(browser: Any, base: str, data_dir: Path,
                                                       tmp_path: Path) -> None:
    page = new_page(browser, 1280, 800)
    try:
        page.goto(base + "/")
        page.get_by_placeholder(BOX).wait_for(timeout=60_000)
        assert not page.get_by_label("Case").is_visible()
        case = tmp_path / "harbour-logistics.md"
        case.write_text("# Harbour Logistics\n\n" + "\n\n".join(
            f"Harbour Logistics paragraph {n}: the port operator moved {n * 11} thousand containers "
            "and hired new crane drivers." for n in range(1, 7)) + "\n", encoding="utf-8")
        done = subprocess.run([CASEBOT, "ingest", "--quiet", str(case)], env=cli_env(data_dir),
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        page.reload()
        picker = page.get_by_label("Case")
        picker.wait_for(state="visible", timeout=30_000)
        picker.click()
        # Listed by its title (shortened to fit a phone), as the header names it.
        page.get_by_role("option", name="Harbour Logistics").first.wait_for(timeout=10_000)
        screenshot(page, "chat-two-cases.png")
    finally:
        page.context.close()
