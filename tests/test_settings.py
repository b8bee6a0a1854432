"""Settings: every documented variable is read by pydantic-settings, from the process environment
when an entry point asks and from the mapping it is given otherwise; flags win over variables, which
win over defaults; the object is frozen; and a bad variable or flag stops the real `casebot`
command with one line naming it and what it may be."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import CASEBOT, cli_env

from bot.cli import main
from bot.errors import UsageError
from bot.settings import Settings, env_name

# Every variable of the README's table (and CASEBOT_CASES_DIR), a value, and what the field holds.
VARIABLES = {
    "CASEBOT_DATA_DIR": ("/tmp/casebot-data", Path("/tmp/casebot-data")),
    "CASEBOT_CASES_DIR": ("~/cases", Path("~/cases").expanduser()),
    "CASEBOT_LLM": ("openai:llama3.1", "openai:llama3.1"),
    "CASEBOT_LLM_TIMEOUT": ("12.5", 12.5),
    "CASEBOT_LLM_FALLBACK": ("none", "none"),
    "CASEBOT_LLM_CONTEXT": ("RETRIEVED", "retrieved"),
    "CASEBOT_LLM_CONTEXT_TOKENS": ("4000", 4000),
    "OPENAI_BASE_URL": ("http://127.0.0.1:11434/v1", "http://127.0.0.1:11434/v1"),
    "OPENAI_API_KEY": ("sk-x", "sk-x"),
    "CASEBOT_CHROMA_URL": ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    "CASEBOT_ALLOWED_ORIGINS": ("https://a.example.edu/, https://b.example.edu",
                                ("https://a.example.edu", "https://b.example.edu")),
    "CASEBOT_RATE_LIMIT": ("off", "off"),
    "CASEBOT_RATE_LIMIT_IP": ("100/minute", "100/minute"),
    "CASEBOT_RATE_LIMIT_STORAGE": ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
    "CASEBOT_API_TOKEN": (" tok ", "tok"),
    "CASEBOT_DEFAULT_CASE": ("other-case", "other-case"),
    "CASEBOT_CASE_CACHE": ("4", 4),
    "CASEBOT_ANSWER_TIMEOUT": ("60", 60.0),
    "CASEBOT_TOP_K": ("7", 7),
    "CASEBOT_SESSION_TTL": ("90", 90.0),
    "CASEBOT_DATABASE_URL": ("sqlite:////tmp/r.sqlite3", "sqlite:////tmp/r.sqlite3"),
    "CASEBOT_LOG_QUESTIONS": ("No", False),
    "CASEBOT_LOG_RETENTION_DAYS": ("30", 30.0),
    "CASEBOT_INSTRUCTOR_TOKEN": ("t0ken-of-16-chars", "t0ken-of-16-chars"),
    "CASEBOT_SECRET": ("s" * 40, "s" * 40),
    "CASEBOT_ACCESS": ("LTI", "lti"),
    "CASEBOT_MODE": ("Guide", "guide"),
}


def test_every_field_has_a_documented_variable() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    names = {env_name(field) for field in Settings.model_fields}
    assert names == set(VARIABLES)
    assert [name for name in sorted(names) if f"`{name}`" not in readme] == []


def _process_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """The process environment holding exactly `env` of casebot's variables."""
    for name in [name for name in os.environ if name.startswith("CASEBOT_") or name in VARIABLES]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_each_variable_sets_its_field() -> None:
    settings = Settings.from_env({name: raw for name, (raw, _) in VARIABLES.items()})
    fields = {env_name(field): getattr(settings, field) for field in Settings.model_fields}
    assert fields == {name: value for name, (_, value) in VARIABLES.items()}


def test_each_variable_of_the_process_sets_its_field(monkeypatch: pytest.MonkeyPatch) -> None:
    _process_env(monkeypatch, {name: raw for name, (raw, _) in VARIABLES.items()})
    settings = Settings.from_env()  # as an entry point asks: pydantic-settings reads os.environ
    fields = {env_name(field): getattr(settings, field) for field in Settings.model_fields}
    assert fields == {name: value for name, (_, value) in VARIABLES.items()}


def test_blank_variables_mean_the_default_and_flags_win() -> None:
    assert Settings.from_env({"CASEBOT_LLM": "  ", "CASEBOT_TOP_K": ""}) == Settings.from_env({})
    env = {"CASEBOT_TOP_K": "3", "CASEBOT_LLM_TIMEOUT": "5"}
    settings = Settings.from_env(env, top_k=9, llm_timeout=None)
    assert (settings.top_k, settings.llm_timeout) == (9, 5.0)


@pytest.mark.parametrize("source", ["mapping", "process"])
def test_a_flag_wins_over_its_variable_which_wins_over_the_default(
        source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"CASEBOT_TOP_K": "3", "OPENAI_API_KEY": "sk-env", "CASEBOT_LLM_TIMEOUT": "5"}
    _process_env(monkeypatch, env if source == "process" else {})
    given = env if source == "mapping" else None
    settings = Settings.from_env(given, top_k=9, openai_api_key="sk-flag", answer_timeout=None)
    # flag over variable (top_k, the aliased key), variable over default (llm_timeout), default
    # where neither is set (answer_timeout: a None flag is an unset one).
    assert (settings.top_k, settings.openai_api_key) == (9, "sk-flag")
    assert (settings.llm_timeout, settings.answer_timeout) == (5.0, 120.0)
    # A flag is checked as a flag even when its variable is fine.
    with pytest.raises(UsageError, match=r"^-k must be positive, got 0$"):
        Settings.from_env(given, top_k=0)


def test_only_the_given_mapping_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    _process_env(monkeypatch, {"CASEBOT_TOP_K": "11", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    from_mapping = Settings.from_env({})
    assert (from_mapping.top_k, from_mapping.openai_base_url) == (5, "")
    assert Settings.from_env({}).override(llm_timeout=3).top_k == 5  # a copy reads nothing either
    from_process = Settings.from_env()  # no mapping: the process's own, as entry points ask
    assert (from_process.top_k, from_process.openai_base_url) == (11, "http://127.0.0.1:9/v1")


# A bad value of every variable that has a rule, and its one line.
BAD_VALUES = {
    "CASEBOT_LLM_TIMEOUT": ("0", "CASEBOT_LLM_TIMEOUT must be positive, got '0'"),
    "CASEBOT_LLM_CONTEXT": ("all", "Unknown LLM context 'all' (CASEBOT_LLM_CONTEXT). Valid: auto, "
                            "whole, retrieved."),
    "CASEBOT_LLM_CONTEXT_TOKENS": ("ten", "CASEBOT_LLM_CONTEXT_TOKENS must be a whole number, got 'ten'"),
    "CASEBOT_CASE_CACHE": ("0", "CASEBOT_CASE_CACHE must be positive, got '0'"),
    "CASEBOT_ANSWER_TIMEOUT": ("soon", "CASEBOT_ANSWER_TIMEOUT must be a number of seconds, got 'soon'"),
    "CASEBOT_TOP_K": ("-2", "CASEBOT_TOP_K must be positive, got '-2'"),
    "CASEBOT_SESSION_TTL": ("an hour", "CASEBOT_SESSION_TTL must be a number of seconds, got 'an hour'"),
    "CASEBOT_LOG_QUESTIONS": ("sometimes", "CASEBOT_LOG_QUESTIONS must be on or off, got 'sometimes'"),
    "CASEBOT_LOG_RETENTION_DAYS": ("-1", "CASEBOT_LOG_RETENTION_DAYS must be positive, got '-1'"),
    # A token is never echoed.
    "CASEBOT_INSTRUCTOR_TOKEN": ("short", "CASEBOT_INSTRUCTOR_TOKEN must be at least 16 characters "
                                 "long (it is 5)"),
    "CASEBOT_ACCESS": ("closed", "Unknown access mode 'closed' (CASEBOT_ACCESS). Valid: open, lti."),
    "CASEBOT_MODE": ("teach", "Unknown mode 'teach' (CASEBOT_MODE). Valid: answer, guide."),
}


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_a_bad_value_of_each_variable_is_one_line_naming_it(name: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    raw, message = BAD_VALUES[name]
    with pytest.raises(UsageError) as from_mapping:
        Settings.from_env({name: raw})
    _process_env(monkeypatch, {name: raw})
    with pytest.raises(UsageError) as from_process:
        Settings.from_env()
    assert str(from_mapping.value) == str(from_process.value) == message


def test_frozen_and_checked_copies() -> None:
    settings = Settings.from_env({})
    with pytest.raises(ValueError, match="frozen"):
        settings.top_k = 3  # type: ignore[misc]
    assert settings.override(top_k=3, llm=None).top_k == 3 and settings.top_k == 5
    with pytest.raises(UsageError, match=r"^--session-ttl must be positive, got -1$"):
        settings.override(session_ttl=-1)
    with pytest.raises(UsageError, match=r"^--log-questions must be on or off, got 'maybe'$"):
        settings.override(log_questions="maybe")


def _main(argv: list[str], env: dict[str, str], data_dir: Path, monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`casebot ARGV` in this process (its environment as `cli_env` makes it): code, stdout, stderr."""
    for name in [name for name in os.environ if name.startswith("CASEBOT_")]:
        monkeypatch.delenv(name)
    for name, value in {"CASEBOT_DATA_DIR": str(data_dir), **env}.items():
        monkeypatch.setenv(name, value)
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("env", "message"), [
    ({"CASEBOT_TOP_K": "abc"}, "CASEBOT_TOP_K must be a whole number, got 'abc'"),
    ({"CASEBOT_CASE_CACHE": "2.5"}, "CASEBOT_CASE_CACHE must be a whole number, got '2.5'"),
    ({"CASEBOT_LLM_TIMEOUT": "-3"}, "CASEBOT_LLM_TIMEOUT must be positive, got '-3'"),
    ({"CASEBOT_ANSWER_TIMEOUT": "soon"}, "CASEBOT_ANSWER_TIMEOUT must be a number of seconds, got 'soon'"),
    ({"CASEBOT_LOG_QUESTIONS": "maybe"}, "CASEBOT_LOG_QUESTIONS must be on or off, got 'maybe'"),
    ({"CASEBOT_LLM_CONTEXT_TOKENS": "100"}, "CASEBOT_LLM_CONTEXT_TOKENS must be at least 256, got '100'"),
    ({"CASEBOT_LLM_CONTEXT": "all"},
     "Unknown LLM context 'all' (CASEBOT_LLM_CONTEXT). Valid: auto, whole, retrieved."),
])
def test_a_bad_variable_stops_the_command_with_one_line(tmp_path: Path, env: dict[str, str], message: str,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    result = _main(["ask", "What did Volkswagen buy?"], env, tmp_path / "data", monkeypatch, capsys)
    assert result == (2, "", f"error: {message}\n")
    assert not (tmp_path / "data").exists()  # stopped before opening the index


@pytest.mark.parametrize(("argv", "env", "message"), [
    (["ask", "-k", "0", "x"], {}, "-k must be positive, got 0"),
    (["ask", "--llm-timeout", "-1", "x"], {}, "--llm-timeout must be positive, got -1"),
    (["ask", "--llm-context-tokens", "9", "x"], {"CASEBOT_LLM_CONTEXT_TOKENS": "20000"},
     "--llm-context-tokens must be at least 256, got 9"),
])
def test_a_bad_flag_stops_the_command_with_one_line(tmp_path: Path, argv: list[str], env: dict[str, str],
                                                   message: str, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert _main(argv, env, tmp_path / "data", monkeypatch, capsys) == (2, "", f"error: {message}\n")


@pytest.mark.parametrize(("args", "env", "message"), [
    (["ask", "x"], {"CASEBOT_TOP_K": "-1"}, "CASEBOT_TOP_K must be positive, got '-1'"),
    (["serve", "--answer-timeout", "-5"], {}, "--answer-timeout must be positive, got -5"),
    (["serve", "--log-retention-days", "a week"], {},
     "--log-retention-days must be a number of days, got 'a week'"),
    (["serve"], {"CASEBOT_ALLOWED_ORIGINS": "*"}, "CASEBOT_ALLOWED_ORIGINS cannot be '*'"),
    (["serve", "--allowed-origins", "https://lms.example.edu/path"], {},
     "Allowed origin 'https://lms.example.edu/path' must look like https://host[:port]"),
])
@pytest.mark.subprocess
def test_the_console_script_says_it_in_one_line(tmp_path: Path, args: list[str], env: dict[str, str],
                                                message: str) -> None:
    done = subprocess.run([CASEBOT, *args], capture_output=True, text=True, timeout=120,
                          env=cli_env(tmp_path / "data", **env))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"error: {message}") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr and "validation error" not in done.stderr
    assert not (tmp_path / "data").exists()  # stopped before opening the index


def test_an_unknown_mode_names_the_valid_ones() -> None:
    with pytest.raises(UsageError, match=r"Unknown mode 'teach' \(CASEBOT_MODE\)\. Valid: answer, guide\."):
        Settings.from_env({"CASEBOT_MODE": "teach"})
