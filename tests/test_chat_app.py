"""The Gradio chat, launched on a free 127.0.0.1 port and driven through gradio_client.

Checks what a student's browser gets over the wire: a cited answer with its source paragraph, a
history that belongs to one session only, and an error for an empty question.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CASE_FILE, CASE_ID, free_port

from bot.rag.chain import CaseBot
from bot.settings import Settings
from ingest.loaders import load_text
from ingest.paragraphs import parse_case

pytestmark = [pytest.mark.server, pytest.mark.model]

INVEST = "How much did Volkswagen invest in XPeng?"
FOLLOW_UP = "When was that announced?"


def unescape(markdown: str) -> str:
    """The plain text of the chat's escaped Markdown (backslash escapes, HTML entities, bold)."""
    text = re.sub(r"\\(.)", r"\1", markdown)
    return " ".join(html.unescape(text).replace("**", "").split())


def message_text(message: dict[str, Any]) -> str:
    """The text of one chatbot message as gradio_client returns it."""
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


def transcript(chat: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(role, plain text) of every message in a chatbot value."""
    return [(m["role"], unescape(message_text(m))) for m in chat]


@pytest.fixture(scope="module")
def base_url(casebot: CaseBot, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The chat app served on a free local port for the duration of this module."""
    from bot.web.chat import build_chat

    settings = Settings.from_env({}, data_dir=tmp_path_factory.mktemp("chat-data"))
    demo = build_chat(casebot, settings)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                share=False, show_error=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def client(base_url: str) -> Any:
    """A new gradio_client session (one browser tab)."""
    from gradio_client import Client

    return Client(base_url, verbose=False)


def ask(session: Any, question: str) -> list[dict[str, Any]]:
    """Submit a question in a session; the chatbot's final value."""
    textbox, chat = session.predict(question, CASE_ID, api_name="/ask")
    assert textbox == ""
    return list(chat)


def test_api_takes_question_and_case_only(base_url: str) -> None:
    info = client(base_url).view_api(print_info=False, return_format="dict")
    endpoint = info["named_endpoints"]["/ask"]
    assert [p["component"] for p in endpoint["parameters"]] == ["Textbox", "Dropdown"]
    assert [r["component"] for r in endpoint["returns"]] == ["Textbox", "Chatbot"]


def test_answer_with_citation_and_source_paragraph(base_url: str) -> None:
    chat = ask(client(base_url), INVEST)
    assert [role for role, _ in transcript(chat)] == ["user", "assistant"]
    assert transcript(chat)[0][1] == INVEST
    raw = message_text(chat[-1])
    assert "[¶12]" in raw
    answer = transcript(chat)[-1][1]
    assert "$700 million" in answer
    assert "Act II: The Shocking Announcement" in answer
    twelve = parse_case(load_text(CASE_FILE), CASE_ID).paragraphs[11]
    assert " ".join(twelve.text.split()) in answer


def test_histories_of_two_clients_stay_separate(base_url: str) -> None:
    alice, bob = client(base_url), client(base_url)
    first = ask(alice, INVEST)
    assert len(first) == 2

    bobs = transcript(ask(bob, FOLLOW_UP))
    assert [role for role, _ in bobs] == ["user", "assistant"]
    assert bobs[0][1] == FOLLOW_UP
    assert all(INVEST not in text for _, text in bobs), "Bob sees Alice's question"

    # Alice's own session keeps her history: her follow-up resolves against her question.
    alices = transcript(ask(alice, FOLLOW_UP))
    assert [text for role, text in alices if role == "user"] == [INVEST, FOLLOW_UP]
    assert "July 26, 2023" in alices[-1][1]
    assert len(transcript(ask(bob, "Who is the CEO of Volkswagen?"))) == 4


def test_concurrent_sessions_do_not_mix(base_url: str) -> None:
    sessions = [client(base_url) for _ in range(3)]
    questions = [INVEST, "What is XPeng's autonomous driving system called?",
                 "Which city is the upstart electric carmaker from?"]
    jobs = [s.submit(q, CASE_ID, api_name="/ask") for s, q in zip(sessions, questions, strict=True)]
    for job, question in zip(jobs, questions, strict=True):
        _, chat = job.result(timeout=120)
        assert [text for role, text in transcript(chat) if role == "user"] == [question]


def test_clear_starts_a_new_conversation(base_url: str) -> None:
    session = client(base_url)
    ask(session, INVEST)
    session.predict(api_name="/clear")
    chat = transcript(ask(session, FOLLOW_UP))
    assert [text for role, text in chat if role == "user"] == [FOLLOW_UP]


def test_abstention_cites_nothing(base_url: str) -> None:
    chat = ask(client(base_url), "What is the weather in Paris?")
    raw = message_text(chat[-1])
    assert "[¶" not in raw and "Sources" not in raw
    # After the fixed anchor the chat scrolls to once the answer is in.
    shown = re.sub(r'^<span class="casebot-answer" id="casebot-\w+"></span>', "", raw)
    assert unescape(shown).startswith("The case doesn't cover that. You could look at ¶")
    assert "See also" in raw  # the pointers' passages, shown under the answer


@pytest.mark.parametrize("question", ["", "   "])
def test_empty_question_gets_a_notice(base_url: str, question: str) -> None:
    session = client(base_url)
    box, chat = session.predict(question, CASE_ID, api_name="/ask")
    assert box == question and "empty" in unescape(message_text(chat[-1]))
    # The refused question left the session usable and its history empty.
    assert len(ask(session, INVEST)) == 2


def test_too_long_question_is_refused_not_cut(base_url: str) -> None:
    long = "x" * 2001
    box, chat = client(base_url).predict(long, CASE_ID, api_name="/ask")
    assert box == long and "2,000" in unescape(message_text(chat[-1]))


def test_case_markup_is_escaped(base_url: str) -> None:
    chat = ask(client(base_url), "<img src=x onerror=alert(1)> How much did Volkswagen invest?")
    raw = message_text(chat[0])
    assert "<img" not in raw
    assert "&lt;img" in raw


def test_question_lists_are_read_from_the_case_folder(tmp_path: Path) -> None:
    from bot.teaching.assignment import question_list

    (tmp_path / "memo").mkdir()
    listed = tmp_path / "memo" / "examples.json"
    listed.write_text('["Who wrote the memo?", " ", "Why now?"]', encoding="utf-8")
    assert question_list(listed) == ["Who wrote the memo?", "Why now?"]
    listed.write_text("not json", encoding="utf-8")
    assert question_list(listed) == []
    assert question_list(tmp_path / "no-such-case" / "examples.json") == []
