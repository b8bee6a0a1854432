"""The records database: the questions students asked, the answers they got, and their ratings.

`Recorder`, `RecordStore`, `RecordScope` and `AnswerRecord` are importable from here; the other
names from their modules (models, repository, writer, recorder, schema, database; the LTI tables
are in bot.lti.models). They are loaded on first use, so `casebot --help` (which builds the
`questions` parser from bot.records.commands) does not import SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.records.models import AnswerRecord, RecordScope
    from bot.records.recorder import Recorder
    from bot.records.repository import RecordStore

__all__ = ["AnswerRecord", "RecordScope", "RecordStore", "Recorder"]
_HOMES = {"AnswerRecord": "bot.records.models", "RecordScope": "bot.records.models",
          "RecordStore": "bot.records.repository", "Recorder": "bot.records.recorder"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'bot.records' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
