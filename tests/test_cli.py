"""The `casebot` command against a real on-disk index.

`ask --json` must print exactly the contract's JSON object; bad input must give a one-line error on
stderr and a non-zero exit; a failed ingest must leave the index answering as before.
What a command does and says is tested in this process (`run_main`: `bot.cli.main` with its
output captured), without a Python start and a model load in a child each time. The console
script itself is tested as a real process where the process is the point: its start-up time and
imports, `ask --json`'s stdout as a whole, and a reader that goes away (marked `subprocess`, so
`make test` runs them and `make test-fast` does not).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import CASE_ID, CASEBOT, Ran, check_text_case_citation, cli_env, private_copy, run_main

pytestmark = pytest.mark.model

ANSWER_KEYS = {"answer", "abstained", "citations", "case", "backend", "latency_ms"}
OPTIONAL_KEYS = {"unsupported", "notice"}
COMMANDS = ("ingest", "ask", "chat", "eval", "serve", "cases", "lti")
INVEST = "How much did Volkswagen invest in XPeng?"


def run(data_dir: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run the console script `casebot ARGS` against `data_dir`, capturing text output."""
    return subprocess.run([CASEBOT, *args], env=cli_env(data_dir), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, check=False)


def one_json_object(stdout: str) -> dict[str, Any]:
    """The single JSON object that makes up all of `stdout`."""
    decoder = json.JSONDecoder()
    data, end = decoder.raw_decode(stdout.lstrip())
    assert stdout.lstrip()[end:].strip() == "", f"extra output after the JSON object: {stdout!r}"
    assert isinstance(data, dict)
    return data


def assert_one_line_error(result: Ran, codes: tuple[int, ...],
                          *fragments: str) -> str:
    """A failed run: expected exit code, nothing on stdout, exactly one `error:` line on stderr."""
    assert result.returncode in codes, (result.returncode, result.stderr)
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def assert_still_answers(data_dir: Path) -> None:
    """The index still holds the bundled case and answers from it."""
    listed = run_main(data_dir, "cases", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(c["id"], c["paragraphs"]) for c in json.loads(listed.stdout)] == [(CASE_ID, 19)]
    result = run_main(data_dir, "ask", "--json", INVEST)
    assert result.returncode == 0, result.stderr
    answer = one_json_object(result.stdout)
    assert "$700 million" in answer["answer"]
    assert 12 in [c["paragraph"] for c in answer["citations"]]


@pytest.fixture(scope="module")
def data_dir(ingested_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the ingested index, so failed ingests here cannot harm other tests."""
    return private_copy(ingested_index, tmp_path_factory, "cli")


@pytest.mark.subprocess
def test_help_lists_the_commands_and_returns_fast(tmp_path: Path) -> None:
    started = time.perf_counter()
    result = run(tmp_path / "data", "--help", timeout=60)
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    for command in COMMANDS:
        assert f"    {command}" in result.stdout
    assert elapsed < 15, f"casebot --help took {elapsed:.1f} s"
    assert not (tmp_path / "data").exists(), "--help must not create the data folder"


@pytest.mark.subprocess
def test_help_imports_no_heavy_library(tmp_path: Path) -> None:
    code = "import sys; from bot.cli import main; sys.exit(main(['--help']))"
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code],
                            env=cli_env(tmp_path), capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0]
                for line in result.stderr.splitlines() if line.startswith("import time:")}
    heavy = {"torch", "sentence_transformers", "transformers", "chromadb", "gradio", "fastapi"}
    assert not imported & heavy


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help(tmp_path: Path, command: str) -> None:
    result = run_main(tmp_path, command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: casebot {command}")


@pytest.mark.subprocess
def test_ask_json_prints_exactly_the_contract_object(data_dir: Path) -> None:
    # A real process: nothing else (a library's banner or progress bar) may reach its stdout.
    result = run(data_dir, "ask", "--json", INVEST)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("\n") and result.stdout.count("\n") == 1
    answer = one_json_object(result.stdout)
    assert ANSWER_KEYS <= set(answer) <= ANSWER_KEYS | OPTIONAL_KEYS
    assert isinstance(answer["answer"], str) and "$700 million" in answer["answer"]
    assert answer["abstained"] is False
    assert answer["case"] == CASE_ID
    assert answer["backend"] == "extractive"
    assert isinstance(answer["latency_ms"], int | float) and answer["latency_ms"] > 0
    assert answer["citations"], answer
    for citation in answer["citations"]:
        check_text_case_citation(citation)
        assert isinstance(citation["paragraph"], int)
        assert citation["label"] == f"¶{citation['paragraph']}"
        assert citation["id"] == f"{CASE_ID}:{citation['paragraph']}"
        assert f"[{citation['label']}]" in answer["answer"]
        assert isinstance(citation["score"], float)
    first = answer["citations"][0]
    assert first["paragraph"] == 12
    assert first["section"] == "Act II: The Shocking Announcement"
    assert first["text"].startswith("On July 26, 2023")


def test_ask_json_abstains_on_a_question_the_case_does_not_answer(data_dir: Path) -> None:
    result = run_main(data_dir, "ask", "--json", "--case", CASE_ID, "What is the weather in Paris?")
    assert result.returncode == 0, result.stderr
    answer = one_json_object(result.stdout)
    assert answer["abstained"] is True
    assert answer["citations"] == []
    assert "[¶" not in answer["answer"] and answer["answer"].strip()


def test_ask_prints_answer_and_sources(data_dir: Path) -> None:
    result = run_main(data_dir, "ask", INVEST)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "Sources:" in lines
    answer_text = " ".join(" ".join(lines[:lines.index("Sources:")]).split())
    assert "$700 million" in answer_text and "[¶12]" in answer_text
    sources = "\n".join(lines[lines.index("Sources:") + 1:])
    assert "¶12 · Act II: The Shocking Announcement" in sources
    assert "Volkswagen would invest $700 million for a nearly 5% stake in XPeng." in " ".join(
        sources.split())
    assert not result.stdout.lstrip().startswith("{")


def test_ask_follows_up_on_a_history_file(data_dir: Path, tmp_path: Path) -> None:
    history = tmp_path / "history.json"
    history.write_text(json.dumps([
        {"role": "user", "content": INVEST},
        {"role": "assistant", "content": "Volkswagen would invest $700 million for a nearly 5% "
                                         "stake in XPeng [¶12]."},
    ]), encoding="utf-8")
    result = run_main(data_dir, "ask", "--json", "--history", str(history), "When was that announced?")
    assert result.returncode == 0, result.stderr
    answer = one_json_object(result.stdout)
    assert "July 26, 2023" in answer["answer"]
    assert 12 in [c["paragraph"] for c in answer["citations"]]


@pytest.mark.parametrize(("question", "fragment"), [
    ("", "empty"),
    ("   \t  ", "empty"),
    ("x" * 2001, "2,000"),
    ("Why? " * 450, "2,000"),
], ids=["empty", "whitespace", "2001-chars", "long-words"])
def test_bad_question(data_dir: Path, question: str, fragment: str) -> None:
    result = run_main(data_dir, "ask", "--json", question)
    assert_one_line_error(result, (2,), fragment)


def test_question_of_exactly_2000_characters_is_accepted(data_dir: Path) -> None:
    question = (INVEST + " ") * 60
    question = question[:2000]
    assert len(question.strip()) == 2000
    result = run_main(data_dir, "ask", "--json", question)
    assert result.returncode == 0, result.stderr
    one_json_object(result.stdout)


def test_unknown_case(data_dir: Path) -> None:
    result = run_main(data_dir, "ask", "--json", "--case", "no-such-case", INVEST)
    assert_one_line_error(result, (2,), "no-such-case", CASE_ID, "casebot ingest")


@pytest.mark.subprocess
def test_a_reader_that_goes_away_ends_the_command_quietly(data_dir: Path) -> None:
    # `casebot cases --json | head -c 0`: the pipe is closed before the command writes to it.
    process = subprocess.Popen([CASEBOT, "cases", "--json"], env=cli_env(data_dir),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    errors = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141, errors
    assert errors == ""


def test_ask_with_an_empty_index_says_to_ingest(tmp_path: Path) -> None:
    result = run_main(tmp_path / "empty", "ask", "--json", INVEST)
    assert_one_line_error(result, (2,), "casebot ingest")


@pytest.mark.parametrize(("content", "fragment"), [
    ("{", "not valid JSON"),
    ('{"role": "user", "content": "hi"}', "JSON list"),
    ('[{"role": "system", "content": "hi"}]', "role"),
    ('[{"role": "user", "content": 3}]', "content"),
    ('[{"role": "user"}]', "content"),
    (b"\xff\xfe[]", "not valid JSON"),
], ids=["truncated", "object", "bad-role", "non-text", "no-content", "not-utf8"])
def test_malformed_history(data_dir: Path, tmp_path: Path, content: str | bytes,
                           fragment: str) -> None:
    history = tmp_path / "history.json"
    if isinstance(content, bytes):
        history.write_bytes(content)
    else:
        history.write_text(content, encoding="utf-8")
    result = run_main(data_dir, "ask", "--history", str(history), "When was that announced?")
    assert_one_line_error(result, (2,), "history", fragment)


def test_missing_history_file(data_dir: Path, tmp_path: Path) -> None:
    result = run_main(data_dir, "ask", "--history", str(tmp_path / "nope.json"), INVEST)
    assert_one_line_error(result, (2,), "does not exist")


def test_reingest_of_the_bundled_case_is_unchanged(data_dir: Path) -> None:
    result = run_main(data_dir, "ingest", "--quiet")
    assert result.returncode == 0, result.stderr
    assert f"{CASE_ID}: 19 paragraphs (unchanged)" in result.stderr
    assert result.stdout == ""


def _bad_case(folder: Path, kind: str) -> Path:
    """A bad case file whose name gives it the id of the ingested case."""
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "missing":
        return folder / CASE_ID / "case.txt"
    if kind == "non-utf8":
        path = folder / f"{CASE_ID}.txt"
        path.write_bytes("Caf\u00e9 Alliance\nVolkswagen invested \u20ac1 billion.\n".encode("cp1252"))
    elif kind == "empty":
        path = folder / f"{CASE_ID}.txt"
        path.write_bytes(b"\n   \n")
    else:  # only headings
        path = folder / f"{CASE_ID}.md"
        path.write_text("# A Title\n\n## A Section\n\n## Another Section\n", encoding="utf-8")
    return path


def _stored(data_dir: Path, embeddings: Any) -> list[tuple[str, int, str]]:
    """Each case in the index as (id, paragraphs, fingerprint), read in this process."""
    from vectorstore.store import CaseLibrary, open_client

    library = CaseLibrary(open_client(data_dir), embeddings)
    return [(c.case_id, c.paragraphs, c.fingerprint) for c in library.cases()]


@pytest.mark.parametrize(("kind", "fragment"), [
    ("missing", "no such file"),
    ("non-utf8", "not UTF-8"),
    ("empty", "empty"),
    ("only-headings", "no paragraphs"),
])
def test_failed_ingest_loses_nothing(data_dir: Path, tmp_path: Path, embeddings: Any, kind: str,
                                     fragment: str) -> None:
    before = _stored(data_dir, embeddings)
    assert [(case, paragraphs) for case, paragraphs, _ in before] == [(CASE_ID, 19)]
    path = _bad_case(tmp_path / "bad", kind)
    result = run_main(data_dir, "ingest", "--quiet", str(path))
    line = assert_one_line_error(result, (1, 2), fragment)
    assert str(path) in line
    assert _stored(data_dir, embeddings) == before  # the same version of the case, untouched


def test_the_index_still_answers_after_the_failed_ingests(data_dir: Path) -> None:
    # Runs after the failed ingests above (a file's tests run in order, also on xdist workers).
    assert_still_answers(data_dir)
