"""Hardening regressions: secrets out of repr and /healthz, bounded memory (case cache, chat
session), serialised openings of a new store and ingests of one case, the one default-case rule,
the API's method and content-type answers, offline /docs, one answer renderer, and `ask ""`."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import CASE_FILE, CASE_ID, CASEBOT, cli_env

from bot.answer import Answer, Citation
from bot.settings import Settings

QUESTION = "How much did Volkswagen invest in XPeng?"


def test_tokens_and_keys_are_not_in_the_settings_repr() -> None:
    settings = Settings.from_env({"CASEBOT_API_TOKEN": "tok-s3cret-1", "OPENAI_API_KEY": "sk-s3cret-2",
                                  "CASEBOT_RATE_LIMIT_STORAGE": "redis://:pw-s3cret-3@127.0.0.1:1"})
    shown = repr(settings) + str(settings)
    assert settings.api_token == "tok-s3cret-1"
    assert "s3cret" not in shown


@pytest.mark.model
def test_a_chat_session_keeps_its_last_turns_only(casebot: Any) -> None:
    from bot.web.chat import MAX_SESSION_TURNS, respond

    log: list[dict[str, str]] = []
    for number in range(MAX_SESSION_TURNS + 15):
        *_, (_, _, log) = respond(casebot, f"Question {number}?", log, CASE_ID)
    assert len(log) == 2 * MAX_SESSION_TURNS
    assert log[-2]["content"] == f"Question {MAX_SESSION_TURNS + 14}?"
    assert log[0]["content"] == "Question 15?"  # the oldest turns left, the newest kept


def _write_case(folder: Path, case_id: str, title: str, topic: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{case_id}.md"
    paragraphs = [f"{topic} paragraph {n}: the {topic} company reported {n * 7} million in sales "
                  f"and hired {n + 3} engineers in its {topic} division." for n in range(1, 9)]
    path.write_text(f"# {title}\n\n" + "\n\n".join(paragraphs) + "\n", encoding="utf-8")
    return path


@pytest.mark.model
def test_loaded_cases_are_an_lru_of_bounded_size(tmp_path: Path, embeddings: Any) -> None:
    from ingest.pipeline import ingest_paths
    from vectorstore.store import CaseLibrary, open_client

    library = CaseLibrary(open_client(tmp_path / "index"), embeddings, cache_size=2)
    folder = tmp_path / "cases"
    for name in ("alpha", "beta", "gamma"):
        _write_case(folder, name, f"The {name} case", name)
    ids = [o.report.case_id for o in ingest_paths([folder], library) if o.report]
    assert len(ids) == 3
    for case_id in ids:
        library.load(case_id)
    assert library.loaded_ids() == ids[1:]
    library.load(ids[1])  # used again: now the most recent
    library.load(ids[0])
    assert library.loaded_ids() == [ids[1], ids[0]]


# Each child opens one fresh store per round, all children at the same instant of the round.
_OPEN_AT_ONCE = """
import sys, time
from pathlib import Path
from vectorstore.store import open_client
start, folders = float(sys.argv[1]), sys.argv[2:]
for round_, folder in enumerate(folders):
    while time.time() < start + round_:
        time.sleep(0.001)
    open_client(Path(folder)).get_or_create_collection("race")
"""


@pytest.mark.subprocess
def test_processes_opening_one_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    # Before opening was serialised, about half of such rounds failed with Chroma's
    # "table collections already exists" or "database is locked".
    folders = [str(tmp_path / f"store-{round_}") for round_ in range(8)]
    start = time.time() + 15  # after every child has imported chromadb
    children = [subprocess.Popen([sys.executable, "-c", _OPEN_AT_ONCE, str(start), *folders],
                                 cwd=Path(__file__).parent.parent, stderr=subprocess.PIPE, text=True)
                for _ in range(4)]
    try:
        errors = [(child.wait(timeout=120), child.stderr.read() if child.stderr else "")
                  for child in children]
    finally:
        for child in children:
            child.kill()
    assert all(code == 0 for code, _ in errors), errors


@pytest.mark.model
@pytest.mark.subprocess
def test_two_ingests_of_one_case_at_once_both_succeed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    runs = [subprocess.Popen([CASEBOT, "ingest", "--quiet", str(CASE_FILE.parent)],
                             env=cli_env(data), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(3)]
    results = [(run.wait(timeout=600), run.stderr.read() if run.stderr else "") for run in runs]
    assert all(code == 0 for code, _ in results), results
    listed = subprocess.run([CASEBOT, "cases", "--json"], env=cli_env(data), capture_output=True,
                            text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    asked = subprocess.run([CASEBOT, "ask", "--json", QUESTION], env=cli_env(data),
                           capture_output=True, text=True, timeout=300)
    assert asked.returncode == 0, asked.stderr
    assert "700 million" in asked.stdout
    assert (data / "locks" / f"{CASE_ID}.lock").exists()


@pytest.mark.model
@pytest.mark.subprocess
def test_one_default_case_rule_for_ask(tmp_path: Path) -> None:
    data = tmp_path / "data"
    folder = tmp_path / "cases"
    _write_case(folder, "memo-alpha", "Policy memo alpha", "solar")
    _write_case(folder, "memo-beta", "Policy memo beta", "shipping")
    ingested = subprocess.run([CASEBOT, "ingest", "--quiet", str(folder)], env=cli_env(data),
                              capture_output=True, text=True, timeout=600)
    assert ingested.returncode == 0, ingested.stderr
    question = "How many engineers did the division hire?"
    # Several cases, no default: a clear error naming them, not an answer from either.
    several = subprocess.run([CASEBOT, "ask", question], env=cli_env(data), capture_output=True,
                             text=True, timeout=300)
    assert several.returncode == 2, several.stdout
    assert "memo-alpha" in several.stderr and "memo-beta" in several.stderr
    assert "CASEBOT_DEFAULT_CASE" in several.stderr and "Traceback" not in several.stderr
    for how in (["--default-case", "memo-beta"], []):
        env = cli_env(data, **({} if how else {"CASEBOT_DEFAULT_CASE": "memo-beta"}))
        chosen = subprocess.run([CASEBOT, "ask", "--json", *how, question], env=env,
                                capture_output=True, text=True, timeout=300)
        assert chosen.returncode == 0, chosen.stderr
        assert '"case": "memo-beta"' in chosen.stdout


@pytest.mark.model
@pytest.mark.subprocess
def test_empty_question_on_an_empty_index_is_an_empty_question(tmp_path: Path) -> None:
    result = subprocess.run([CASEBOT, "ask", ""], env=cli_env(tmp_path / "empty"),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "empty" in result.stderr and "No case" not in result.stderr


def test_one_renderer_links_markers_and_does_not_repeat_a_quoted_paragraph() -> None:
    from bot.web.embed import answer_markdown_linked

    whole = "Volkswagen invested $700 million in XPeng."
    answer = Answer(f"{whole} [¶12] It also mattered [¶3].", False,
                    (Citation("c12", "¶12", 12, "Act II", whole, 1.0),
                     Citation("c3", "¶3", 3, "Act I", "Another paragraph.", 0.5)),
                    CASE_ID, "extractive")
    shown = answer_markdown_linked(answer, token="t")
    assert shown.count('class="casebot-cite"') == 2
    assert 'id="casebot-t-p12"' in shown and 'id="casebot-t-p3"' in shown
    # ¶12 is the whole answer sentence: named in the sources, not quoted a second time.
    assert shown.count("700 million") == 1 and "quoted in full above" in shown
    assert "Another paragraph" in shown


def test_an_abstention_shows_its_pointers_under_see_also_not_sources() -> None:
    from bot.web.render import answer_markdown

    pointer = Citation("c7", "¶7", 7, "Act I", "The closest <passage>.", 0.4)
    answer = Answer("The case doesn't cover that. You could look at ¶7 (Act I).", True, (), CASE_ID,
                    "extractive", see_also=(pointer,))
    shown = answer_markdown(answer)
    assert "**See also**" in shown and "Sources" not in shown
    assert "The closest &lt;passage&gt;" in shown  # case text stays escaped
    assert "**[¶7]**" not in shown  # a pointer is not a citation marker


# The API as a new user meets it.

@pytest.fixture(scope="module")
def open_server(ingested_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from test_server_api import running_server

    with running_server(ingested_data_dir, "--rate-limit", "off",
                        log_dir=tmp_path_factory.mktemp("logs")) as base:
        yield base


@pytest.mark.server
@pytest.mark.model
def test_wrong_method_is_405_with_allow(open_server: str) -> None:
    for method, path, allow in (("GET", "/api/v1/ask", "POST"), ("GET", "/api/v1/ask/stream", "POST"),
                                ("POST", "/api/v1/cases", "GET")):
        response = httpx.request(method, f"{open_server}{path}", timeout=10)
        assert response.status_code == 405, (path, response.text)
        assert response.headers["allow"].startswith(allow)
        assert allow in response.json()["error"]


@pytest.mark.server
@pytest.mark.model
def test_json_body_without_json_content_type(open_server: str) -> None:
    body = b'{"question": "How much did Volkswagen invest in XPeng?"}'
    for headers in ({"content-type": "application/x-www-form-urlencoded"}, {}):  # curl -d, bare
        response = httpx.post(f"{open_server}/api/v1/ask", content=body, headers=headers, timeout=120)
        assert response.status_code == 200, response.text
        assert "700 million" in response.json()["answer"]
    form = httpx.post(f"{open_server}/api/v1/ask", data={"question": "x"}, timeout=30)
    assert form.status_code == 415 and "Content-Type: application/json" in form.json()["error"]


@pytest.mark.server
@pytest.mark.model
def test_docs_page_loads_its_assets_from_this_server(open_server: str) -> None:
    page = httpx.get(f"{open_server}/docs", timeout=10)
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and not any(a.startswith(("http:", "https:", "//")) for a in assets), assets
    for asset in assets:
        got = httpx.get(f"{open_server}/{asset.lstrip('/')}", timeout=10)
        assert got.status_code == 200 and len(got.content) > 100, asset
    assert "openapi.json" in page.text
