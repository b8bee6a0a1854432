"""Mistakes that need no model fail before anything loads: the console script, as a user runs it,
stops with one clear line and exit code 2 without opening the index (so without the model).

The process boundary is what is tested (what a user waits for at the terminal); the assertions are
on the message, the exit code and the untouched data folder, never on a time.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import CASEBOT, cli_env

pytestmark = pytest.mark.subprocess


def _casebot(data_dir: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CASEBOT, *map(str, args)], env=cli_env(data_dir), text=True,
                          capture_output=True, timeout=120)


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_eval_of_a_case_without_a_question_set_fails_before_the_index_opens(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    result = _casebot(data_dir, "eval", "--case", "no-question-set", "--output", tmp_path / "run")
    assert result.returncode == 2
    line = _one_error_line(result)
    assert line.startswith("error: case 'no-question-set' has no question set at "), line
    assert "pass a QUESTIONS file" in line
    assert not data_dir.exists(), "the index was opened before the mistake was reported"
    assert not (tmp_path / "run").exists()


def test_eval_of_a_missing_question_file_fails_before_the_index_opens(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    missing = tmp_path / "missing.jsonl"
    result = _casebot(data_dir, "eval", missing, "--output", tmp_path / "run")
    assert result.returncode == 2
    assert str(missing) in _one_error_line(result)
    assert not data_dir.exists()


def test_ask_with_a_missing_history_file_fails_before_the_index_opens(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    missing = tmp_path / "history.json"
    result = _casebot(data_dir, "ask", "How much did Volkswagen invest?", "--history", missing)
    assert result.returncode == 2
    assert _one_error_line(result) == f"error: History file {missing} does not exist."
    assert not data_dir.exists()


def test_an_empty_question_fails_before_the_index_opens(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    result = _casebot(data_dir, "ask", "   ")
    assert result.returncode == 2
    assert _one_error_line(result).startswith("error: The question is empty.")
    assert not data_dir.exists()


def test_a_bad_flag_fails_with_the_usage(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    result = _casebot(data_dir, "ask", "--no-such-flag", "Why?")
    assert result.returncode == 2
    assert result.stderr.startswith("usage: casebot")
    assert "unrecognized arguments: --no-such-flag" in result.stderr.strip().splitlines()[-1]
    assert not data_dir.exists()
