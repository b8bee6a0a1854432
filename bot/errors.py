"""Every exception casebot raises, and the one place that says what each means to people.

Library code raises these (or the store's and the loaders' own, re-exported here); entry points
(the CLI, the chat, the HTTP API) turn any of them into a `Problem` with `describe`, so a missing
case reads the same everywhere and only the way it is shown differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest.loaders import LoadError
from ingest.paragraphs import EmptyCaseError
from vectorstore.store import CaseNotFoundError, StoreError

__all__ = [
    "BackendError", "CaseChoiceError", "CaseNotFoundError", "CasebotError", "DatabaseError", "EmptyCaseError",
    "FeedbackError", "HistoryError", "LLMError", "LoadError", "LtiError", "Problem", "QuestionError",
    "QuestionSetError", "RegistrationError", "StoreError", "UnknownAnswerError", "UsageError", "describe",
]

EXIT_FAILURE, EXIT_USAGE = 1, 2
_SHOWN_PROBLEMS = 20  # a question set's problems listed in one error; the rest are counted


class CasebotError(Exception):
    """Base of casebot's own exceptions."""


class UsageError(CasebotError, ValueError):
    """Input the person can fix: a flag, a setting, a file or a request that cannot be used."""


class QuestionError(UsageError):
    """A question that cannot be asked: empty, too long, or not text."""


class HistoryError(UsageError):
    """A conversation history that does not have the expected shape."""


class QuestionSetError(UsageError):
    """A question file that cannot be used; `problems` lists (line number, message) pairs."""

    def __init__(self, path: Path, problems: list[tuple[int, str]]) -> None:
        self.path = path
        self.problems = problems
        self.line = problems[0][0] if problems else 0
        shown = [f"{path}:{line}: {message}" if line else f"{path}: {message}"
                 for line, message in problems[:_SHOWN_PROBLEMS]]
        if len(problems) > _SHOWN_PROBLEMS:
            shown.append(f"... and {len(problems) - _SHOWN_PROBLEMS} more problems")
        super().__init__("\n".join(shown))


class BackendError(UsageError):
    """An answerer name that does not name a known backend, or one that cannot start."""


class LLMError(BackendError):
    """The language model failed and no fallback answerer is configured.

    `status` is the HTTP status an entry point answers with: 502 (the model's server answered
    badly), 503 (it could not be reached) or 504 (it did not answer in time).
    """

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.status = status


class CaseChoiceError(UsageError, LookupError):
    """Several cases are ingested, none is the default, and the request named none."""

    def __init__(self, known: Sequence[str]) -> None:
        self.known = list(known)
        super().__init__(f"Several cases are ingested ({', '.join(self.known)}) and no default is "
                         "set: name one (--case ID, or \"case\" in the request), or set "
                         "CASEBOT_DEFAULT_CASE.")


class ModelFileError(CasebotError):
    """A learned model file shipped with casebot is missing or unreadable (a broken install)."""


class DatabaseError(CasebotError):
    """The records database cannot be opened or is of a newer schema than this casebot knows."""


class FeedbackError(UsageError):
    """Feedback that cannot be kept: a bad rating or comment."""


class UnknownAnswerError(CasebotError, LookupError):
    """Feedback for an answer id the records do not hold (or records are off)."""


class RegistrationError(UsageError):
    """An LTI platform registration is missing, ambiguous or malformed."""


class LtiError(CasebotError):
    """An LTI launch step that failed, with the HTTP status to answer and a message saying what."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Problem:
    """What an error means to people: a message anyone may see, and how each entry point reports it."""

    message: str
    exit_code: int
    status: int
    advice: str = ""  # what the person running casebot can do (the CLI prints it)


def describe(error: BaseException) -> Problem | None:
    """The Problem an error stands for; None for an error nobody foresaw (a bug: let it surface)."""
    if isinstance(error, LLMError):
        return Problem(str(error), EXIT_FAILURE, error.status)
    if isinstance(error, CaseNotFoundError):
        return Problem(str(error), EXIT_USAGE, 404, "Run `casebot ingest PATH` to add a case.")
    if isinstance(error, StoreError):
        # The store's own words may name hosts and paths: people see the summary, the CLI the detail.
        return Problem("The case index is not reachable right now; try again in a moment.",
                       EXIT_FAILURE, 503, str(error))
    if isinstance(error, LtiError):
        return Problem(error.message, EXIT_FAILURE, error.status)
    if isinstance(error, DatabaseError):
        return Problem("The records database is not reachable right now.", EXIT_FAILURE, 503, str(error))
    if isinstance(error, UnknownAnswerError):
        return Problem(str(error), EXIT_USAGE, 404)
    if isinstance(error, UsageError | LoadError | EmptyCaseError):
        return Problem(str(error), EXIT_USAGE, 422)
    return None
