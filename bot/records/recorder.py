"""Recorder: the web layer's one entry point to the records.

It is what the chat, the embed and the API call after each answer: the answer gets its
`answer_id` at once and its record goes to the background writer, so a slow or unreachable
database never delays or loses an answer. It also takes students' ratings and runs the retention.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bot.answer import Answer, Turn, lone_surrogate
from bot.errors import UnknownAnswerError
from bot.records.database import default_database_url, open_engine
from bot.records.models import AnswerRecord, CitedPassage
from bot.records.repository import (
    CHANNELS,
    RecordStore,
    check_feedback,
    new_answer_id,
    new_session_id,
)
from bot.records.writer import DatabaseStatus, PendingRecord, RecordWriter, Retention
from bot.secret import load_secret
from bot.settings import Settings

log = logging.getLogger("casebot.records")


class Recorder:
    """The web layer's one call after an answer, and the feedback entry point; off when
    `store` is None (CASEBOT_LOG_QUESTIONS=off): then nothing is kept and answers get no id."""

    def __init__(self, store: RecordStore | None, retention_days: float = 180.0) -> None:
        self.store = store
        self.retention_days = retention_days
        self.writer = RecordWriter(store) if store is not None else None
        self._retention: Retention | None = None

    @property
    def enabled(self) -> bool:
        """Whether questions are kept."""
        return self.store is not None

    def database_status(self) -> DatabaseStatus:
        """'off' when records are off, else whether the writer last reached the database ('up')
        or not ('down', records held in memory); no query is made."""
        return "off" if self.writer is None else self.writer.status

    def record(self, answer: Answer, question: str, history: Sequence[Turn], channel: str,
               session_id: str = "", user_id: str | None = None, *, platform: str | None = None,
               course: str | None = None) -> Answer:
        """`answer` with a new `answer_id`, its record queued for writing (unchanged when off).
        `user_id` (an LTI user) is kept only as a pseudonym; `platform` and `course` are the LTI
        issuer and context id the question came from."""
        if self.writer is None:
            return answer
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r} (known: {', '.join(CHANNELS)})")
        answer_id = new_answer_id()
        self.writer.submit(PendingRecord(AnswerRecord(
            id=answer_id, asked_at=datetime.now(UTC), case_id=answer.case, question=question.strip(),
            history=tuple(history), answer=answer.answer, abstained=answer.abstained,
            cited_paragraphs=tuple(c.paragraph for c in answer.citations), backend=answer.backend,
            latency_ms=round(answer.latency_ms, 1), channel=channel,
            session_id=session_id or new_session_id(), platform=platform or None,
            course=course or None, guided=answer.guided,
            citations=tuple(CitedPassage(c.paragraph, c.label, c.text, c.page) for c in answer.citations)),
            user_id=user_id or None))
        return replace(answer, answer_id=answer_id)

    def feedback(self, answer_id: str, rating: Any, comment: Any = "") -> None:
        """Keep a student's rating; UnknownAnswerError (also when off), FeedbackError,
        DatabaseError."""
        if self.store is None or self.writer is None:
            raise UnknownAnswerError(answer_id)
        check_feedback(rating, comment)
        if not isinstance(answer_id, str) or not answer_id or lone_surrogate(answer_id):
            raise UnknownAnswerError(repr(answer_id))
        # A rating can arrive before its answer left the queue.
        self.writer.wait_for(answer_id)
        self.store.add_feedback(answer_id, rating, comment)

    def start_retention(self, interval_s: float = 86_400.0) -> None:
        """Purge records older than the retention now and then every `interval_s` (a thread)."""
        if self.store is not None and self._retention is None:
            self._retention = Retention(self.purge_expired, interval_s)

    def purge_expired(self) -> int:
        """Delete the records older than the retention period, and the revoked sessions that have
        expired; how many records (0 on a database error, which is logged)."""
        if self.store is None:
            return 0
        try:
            removed = self.store.purge(self.retention_days)
            self.store.purge_revocations()
        except Exception as error:
            log.error("purging records older than %g days failed: %s", self.retention_days, error)
            return 0
        if removed:
            log.info("purged %d records older than %g days", removed, self.retention_days)
        return removed

    def close(self) -> None:
        """Write what is queued and stop the threads."""
        if self._retention is not None:
            self._retention.stop()
        if self.writer is not None:
            self.writer.close()


def open_store(settings: Settings) -> RecordStore:
    """The RecordStore of the settings' database (the schema is upgraded on first use)."""
    url = settings.database_url or default_database_url(settings.data_dir)
    return RecordStore(open_engine(url), secret=load_secret(settings.secret, settings.data_dir))


def open_recorder(settings: Settings) -> Recorder:
    """The Recorder the settings ask for: off, or on the configured database. Its writer upgrades
    the schema at once, and keeps trying while the database is down."""
    if not settings.log_questions:
        return Recorder(None)
    return Recorder(open_store(settings), retention_days=settings.log_retention_days)
