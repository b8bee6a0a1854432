"""Malformed input through every door: the HTTP API, the CLI (`ask` and `ingest`) and the chat.

Each case must get a clear error (HTTP 4xx with a JSON `{"error"}`, a one-line `error:` message and
a non-zero exit code, or `gr.Error`), never a 500 or a stack trace, and the index must stay intact:
after all of them the same server and the same data folder still answer.

One server is started for the module, on a copy of the ingested data folder. The CLI's commands run
in this process (`run_main`) on another copy: what they say and return is tested, not the process
around them (test_cli runs the console script as a real process).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import CASE_ID, Ran, private_copy, run_main, running_server
from test_loaders import minimal_pdf, write_docx

from bot.web.chat import respond

pytestmark = [pytest.mark.server, pytest.mark.model]

QUESTION = "How much did Volkswagen invest in XPeng?"
LONG = "Why " + "really " * 400  # 2,404 characters
TURN = {"role": "user", "content": "hi"}


def _nested(depth: int) -> str:
    return '{"question": "Why?", "history": ' + "[" * depth + "]" * depth + "}"


# (id, JSON body or raw bytes, expected status, a word the error must contain)
API_CASES: list[tuple[str, Any, int, str]] = [
    ("empty-question", {"question": ""}, 422, "empty"),
    ("whitespace", {"question": " \t\n  "}, 422, "empty"),
    ("2001-chars", {"question": "x" * 2001}, 422, "2,000"),
    ("long-words", {"question": LONG}, 422, "2,000"),
    ("100000-chars", {"question": "x" * 100_000}, 422, "2,000"),
    ("300000-chars", {"question": "x" * 300_000}, 413, "KiB"),
    ("nul-only", {"question": "\x00\x00\x00"}, 422, "empty"),
    ("control-only", {"question": "\x01\x02\x1b\x7f\x08"}, 422, "empty"),
    ("c1-controls", {"question": "\x85\x9b\x9f"}, 422, "empty"),
    ("bidi-only", {"question": "\u202e\u2066\u202c\u2069"}, 422, "empty"),
    ("zero-width-only", {"question": "\u200b\u200c\ufeff"}, 422, "empty"),
    ("question-int", {"question": 42}, 422, "question"),
    ("question-null", {"question": None}, 422, "question"),
    ("question-list", {"question": ["How", "much?"]}, 422, "question"),
    ("question-object", {"question": {"text": QUESTION}}, 422, "question"),
    ("question-bool", {"question": True}, 422, "question"),
    ("no-question", {"case": CASE_ID}, 422, "question"),
    ("unknown-field", {"question": QUESTION, "temperature": 2}, 422, "temperature"),
    ("unknown-case", {"question": QUESTION, "case": "no-such-case"}, 404, "Known cases"),
    ("path-case", {"question": QUESTION, "case": "../../etc/passwd"}, 404, "Known cases"),
    ("long-case", {"question": QUESTION, "case": "c" * 5000}, 404, "Known cases"),
    ("case-int", {"question": QUESTION, "case": 7}, 422, "case"),
    ("history-string", {"question": QUESTION, "history": "earlier"}, 422, "history"),
    ("history-too-long", {"question": QUESTION, "history": [TURN] * 51}, 422, "history"),
    ("history-no-role", {"question": QUESTION, "history": [{"content": "hi"}]}, 422, "history"),
    ("history-bad-role", {"question": QUESTION, "history": [{"role": "system", "content": "x"}]},
     422, "history"),
    ("history-content-int", {"question": QUESTION, "history": [{"role": "user", "content": 5}]},
     422, "history"),
    ("history-huge-turn", {"question": QUESTION, "history": [{"role": "user", "content": "x" * 20_001}]},
     422, "history"),
    ("history-not-objects", {"question": QUESTION, "history": [["user", "hi"]]}, 422, "history"),
    ("history-deeply-nested", _nested(5000).encode(), 400, "body"),
    ("body-array", ["How", "much"], 422, "JSON object"),
    ("body-string", "How much?", 422, "JSON object"),
    ("body-number", 12, 422, "JSON object"),
    ("body-null", None, 422, "JSON object"),
    ("invalid-json", b'{"question": ', 400, "not valid JSON"),
    ("empty-body", b"", 422, ""),
    ("trailing-garbage", b'{"question": "Why?"} extra', 400, "not valid JSON"),
    ("invalid-utf8", b'{"question": "caf\xe9 \xff\xfe"}', 400, ""),
    ("nan-literal", b'{"question": NaN}', 422, "question"),
]


@pytest.fixture(scope="module")
def data_dir(ingested_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the ingested data folder (nothing here may damage the shared one)."""
    return private_copy(ingested_data_dir, tmp_path_factory, "malformed")


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(data_dir, "--rate-limit", "off", log_dir=tmp_path_factory.mktemp("logs")) as base:
        yield base


def _post(url: str, body: Any) -> httpx.Response:
    if isinstance(body, bytes):
        return httpx.post(url, content=body, headers={"content-type": "application/json"}, timeout=60)
    return httpx.post(url, json=body, timeout=60)


@pytest.mark.parametrize("path", ["/api/v1/ask", "/api/v1/ask/stream"])
@pytest.mark.parametrize(("name", "body", "status", "needle"), API_CASES, ids=[c[0] for c in API_CASES])
def test_api_rejects_with_a_json_4xx(server: str, path: str, name: str, body: Any, status: int,
                                     needle: str) -> None:
    response = _post(server + path, body)
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert isinstance(error, str) and needle in error
    assert "Traceback" not in error and "pydantic" not in error.lower()


def test_api_wrong_method_and_content_type(server: str) -> None:
    wrong = httpx.get(f"{server}/api/v1/ask", timeout=10)
    assert 400 <= wrong.status_code < 500 and "error" in wrong.json()
    text = httpx.post(f"{server}/api/v1/ask", content=b"How much?", timeout=10,
                      headers={"content-type": "text/plain"})
    assert 400 <= text.status_code < 500 and "error" in text.json()


@pytest.mark.parametrize("question", [
    f"\u202e{QUESTION}\u202c", "How much\x00 did Volkswagen\u200b invest in XPeng?\x07",
], ids=["bidi-around", "nul-inside"])
def test_api_cleans_invisible_characters_and_answers(server: str, question: str) -> None:
    response = _post(f"{server}/api/v1/ask", {"question": question})
    assert response.status_code == 200, response.text
    assert "$700 million" in response.json()["answer"]


# The chat: a question that cannot be asked gets a notice in the conversation (the text stays in
# the box, the history unchanged); an unknown case is a gr.Error with a message.

@pytest.mark.parametrize(("question", "needle"), [
    ("", "empty"), ("   \n", "empty"), ("x" * 2001, "2,000"), ("x" * 100_000, "2,000"),
    ("\x00\u202e\x01", "empty"),
], ids=["empty", "whitespace", "2001-chars", "100000-chars", "controls"])
def test_chat_question_errors_are_notices(casebot: Any, question: str, needle: str) -> None:
    log = [{"role": "user", "content": "How much?", "shown": "How much?"},
           {"role": "assistant", "content": "$700 million [¶12].", "shown": "$700 million [¶12]."}]
    [(box, chat, new_log)] = list(respond(casebot, question, log, CASE_ID))
    assert box == question and new_log == log
    assert needle in chat[-1]["content"].replace("\\", "") and len(chat) == 3


def test_chat_unknown_case_is_a_gr_error(casebot: Any) -> None:
    import gradio as gr

    with pytest.raises(gr.Error, match="No case 'no-such-case'"):
        list(respond(casebot, QUESTION, [], "no-such-case"))


# The CLI: `ask` with bad questions and histories.

def _history(tmp: Path, name: str, content: bytes) -> Path:
    path = tmp / name
    path.write_bytes(content)
    return path


ASK_CASES: list[tuple[str, list[str], str]] = [
    ("empty", [""], "empty"),
    ("whitespace", ["   "], "empty"),
    ("2001-chars", ["x" * 2001], "2,000"),
    ("controls", ["\x01\x02\u202e"], "empty"),
    ("unknown-case", [QUESTION, "--case", "no-such-case"], "No case 'no-such-case'"),
    ("history-missing", [QUESTION, "--history", "{tmp}/none.json"], "does not exist"),
    ("history-invalid-json", [QUESTION, "--history", "{tmp}/invalid.json"], "not valid JSON"),
    ("history-not-utf8", [QUESTION, "--history", "{tmp}/latin1.json"], "not valid JSON"),
    ("history-wrong-shape", [QUESTION, "--history", "{tmp}/shape.json"], "history"),
    ("history-too-long", [QUESTION, "--history", "{tmp}/long.json"], "at most 50"),
]


@pytest.fixture(scope="module")
def cli_dir(ingested_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the ingested data folder for the commands run in this process (the server
    holds the other one open)."""
    return private_copy(ingested_index, tmp_path_factory, "cli")


@pytest.mark.parametrize(("name", "args", "needle"), ASK_CASES, ids=[c[0] for c in ASK_CASES])
def test_cli_ask_fails_with_a_message(cli_dir: Path, tmp_path: Path, name: str, args: list[str],
                                      needle: str) -> None:
    _history(tmp_path, "invalid.json", b'[{"role": "user", ')
    _history(tmp_path, "latin1.json", '[{"role": "user", "content": "café"}]'.encode("latin-1"))
    _history(tmp_path, "shape.json", b'{"role": "user", "content": "hi"}')
    _history(tmp_path, "long.json", json.dumps([TURN] * 51).encode())
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = run_main(cli_dir, "ask", *argv, "--json")
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert result.stderr.startswith("error: ") and needle in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


# The CLI: `ingest` of files that cannot be cases. One command ingests them all; each file gets
# its own error line.

def _bad_files(folder: Path) -> dict[str, str]:
    """Write the bad case files; file name -> a word its error line must contain."""
    real_pdf = minimal_pdf(["Acme Raises Money", "Acme raised $5 million in 2024."])
    real_docx = write_docx(folder / "real.docx", "Acme", [("Money", ["Acme raised $5 million."])])
    files: dict[str, bytes] = {
        "binary-pdf.pdf": bytes(range(256)) * 8,
        "truncated-pdf.pdf": real_pdf[: len(real_pdf) // 3],
        "binary-docx.docx": bytes(range(255, -1, -1)) * 8,
        "latin1.txt": "Caf\u00e9 Acme: a case\n\nAcme sold caf\u00e9s in 2020.\n".encode("latin-1"),
        "utf16.txt": "Acme\n\nAcme sold coffee.\n".encode("utf-16"),
        "empty.txt": b"",
        "blank.md": b"   \n\n\t\n",
        "nul-bytes.txt": b"Acme\n\nAcme sold\x00\x00 coffee\x00.\n",
        "image.png.txt": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64),
        "only-headings.md": b"# Acme\n\n## Background\n\n## The Decision\n\n### Outcome\n",
        "program.exe": b"MZ\x90\x00",
    }
    expected = {"binary-pdf.pdf": "PDF", "truncated-pdf.pdf": "", "binary-docx.docx": ".docx",
                "truncated-docx.docx": ".docx", "latin1.txt": "UTF-8", "utf16.txt": "", "empty.txt": "empty",
                "blank.md": "empty", "nul-bytes.txt": "binary", "image.png.txt": "",
                "only-headings.md": "", "program.exe": "unsupported"}
    for name, content in files.items():
        (folder / name).write_bytes(content)
    data = real_docx.read_bytes()
    (folder / "truncated-docx.docx").write_bytes(data[: len(data) // 2])
    real_docx.unlink()
    with zipfile.ZipFile(folder / "not-word.docx", "w") as archive:
        archive.writestr("hello.txt", "not a Word document")
    expected["not-word.docx"] = ".docx"
    return expected


@pytest.fixture(scope="module")
def bad_ingest(cli_dir: Path, tmp_path_factory: pytest.TempPathFactory
               ) -> tuple[Ran, dict[str, str]]:
    folder = tmp_path_factory.mktemp("bad-cases")
    expected = _bad_files(folder)
    paths = [str(folder / name) for name in sorted(expected)] + [str(folder / "missing.txt")]
    expected["missing.txt"] = "no such file"
    result = run_main(cli_dir, "ingest", "--quiet", *paths)
    return result, expected


BAD_FILES = ["binary-pdf.pdf", "truncated-pdf.pdf", "binary-docx.docx", "truncated-docx.docx",
             "not-word.docx", "latin1.txt", "utf16.txt", "empty.txt", "blank.md", "nul-bytes.txt",
             "image.png.txt", "only-headings.md", "program.exe", "missing.txt"]


@pytest.mark.parametrize("name", BAD_FILES)
def test_cli_ingest_reports_each_bad_file(bad_ingest: tuple[Ran, dict[str, str]], name: str) -> None:
    result, expected = bad_ingest
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if f"/{name}:" in line]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expected[name] in lines[0], lines[0]


def test_cli_ingest_of_a_folder_without_cases(cli_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.csv").write_text("a,b\n", encoding="utf-8")
    result = run_main(cli_dir, "ingest", "--quiet", str(tmp_path))
    assert result.returncode == 2 and "no case files found" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


# Afterwards: nothing above damaged anything.

def test_the_server_still_answers_and_logged_no_error(server: str, data_dir: Path) -> None:
    health = httpx.get(f"{server}/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["cases"] == 1
    response = _post(f"{server}/api/v1/ask", {"question": QUESTION})
    assert response.status_code == 200 and "$700 million" in response.json()["answer"]
    logs = "".join(p.read_text(errors="replace") for p in data_dir.parent.parent.glob("logs*/serve-*.log"))
    assert "Traceback" not in logs


def test_the_cli_index_still_answers(cli_dir: Path, bad_ingest: Any) -> None:
    result = run_main(cli_dir, "ask", QUESTION, "--json")
    assert result.returncode == 0, result.stderr
    assert "$700 million" in json.loads(result.stdout)["answer"]
    cases = run_main(cli_dir, "cases", "--json")
    assert [c["id"] for c in json.loads(cases.stdout)] == [CASE_ID]
