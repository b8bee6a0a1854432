"""RecordStore: write answers and feedback, read them back for the dashboard and the export, purge.

`Recorder` is what the web layer calls after each answer: it gives the answer its `answer_id` at
once and hands the row to a background writer thread, so a slow or unreachable database never
delays or loses an answer (the failure is logged and the answer is served).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.answer import Answer, Turn, lone_surrogate
from bot.errors import DatabaseError, FeedbackError, UnknownAnswerError
from bot.records.database import (
    AnswerRow,
    FeedbackRow,
    RevokedSessionRow,
    SecretRow,
    default_database_url,
    ensure_schema,
    open_engine,
)
from bot.settings import Settings

log = logging.getLogger("casebot.records")

CHANNELS = ("chat", "embed", "api", "lti")
RATINGS = ("up", "down")
MAX_COMMENT_CHARS = 2000
Rating = Literal["up", "down"]


@dataclass(frozen=True)
class AnswerRecord:
    """What is kept of one answered question."""

    id: str
    asked_at: datetime
    case_id: str
    question: str
    history: tuple[Turn, ...]
    answer: str
    abstained: bool
    cited_paragraphs: tuple[int, ...]
    backend: str
    latency_ms: float
    channel: str
    session_id: str
    user_hash: str | None = None
    platform: str | None = None
    course: str | None = None


@dataclass(frozen=True)
class RecordScope:
    """The records one LTI instructor session may read: one case of one course on one platform."""

    case_id: str
    platform: str
    course: str


@dataclass(frozen=True)
class StoredAnswer:
    """A record read back, with its rating if a student gave one."""

    record: AnswerRecord
    rating: str | None = None
    comment: str = ""


def new_answer_id() -> str:
    """A random, unguessable answer id (32 hex digits)."""
    return uuid.uuid4().hex


def new_session_id() -> str:
    """A random pseudonymous session id: it names a conversation, never a person."""
    return uuid.uuid4().hex


def keyed_user_hash(key: str, user_id: str) -> str:
    """An LTI user id as a keyed hash (HMAC-SHA256), so the records never hold the id itself."""
    return hmac.new(key.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def _to_row(record: AnswerRecord) -> AnswerRow:
    return AnswerRow(
        id=record.id, asked_at=record.asked_at, case_id=record.case_id, question=record.question,
        history=json.dumps([{"role": t.role, "content": t.content} for t in record.history],
                           ensure_ascii=False),
        history_turns=len(record.history), answer=record.answer, abstained=record.abstained,
        cited_paragraphs=json.dumps(list(record.cited_paragraphs)), backend=record.backend,
        latency_ms=record.latency_ms, channel=record.channel, session_id=record.session_id,
        user_hash=record.user_hash, platform=record.platform, course=record.course)


def _from_row(row: AnswerRow) -> AnswerRecord:
    history = tuple(Turn(t["role"], t["content"]) for t in json.loads(row.history or "[]"))
    return AnswerRecord(
        id=row.id, asked_at=row.asked_at, case_id=row.case_id, question=row.question,
        history=history, answer=row.answer, abstained=row.abstained,
        cited_paragraphs=tuple(json.loads(row.cited_paragraphs or "[]")), backend=row.backend,
        latency_ms=row.latency_ms, channel=row.channel, session_id=row.session_id,
        user_hash=row.user_hash, platform=row.platform, course=row.course)


def _scoped(query: Any, scope: RecordScope | None) -> Any:
    """`query` limited to the rows of `scope` (unchanged without one)."""
    if scope is None:
        return query
    return query.where(AnswerRow.case_id == scope.case_id, AnswerRow.platform == scope.platform,
                       AnswerRow.course == scope.course)


def check_feedback(rating: Any, comment: Any) -> tuple[Rating, str]:
    """A valid (rating, comment); FeedbackError otherwise."""
    if rating not in RATINGS:
        raise FeedbackError(f"rating must be 'up' or 'down', got {rating!r}")
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        raise FeedbackError("comment must be text")
    comment = comment.strip()
    if lone_surrogate(comment):
        raise FeedbackError("comment holds a lone surrogate, which is not text")
    if len(comment) > MAX_COMMENT_CHARS:
        raise FeedbackError(f"comment is {len(comment):,} characters long; keep it under "
                            f"{MAX_COMMENT_CHARS:,}")
    return rating, comment


class RecordStore:
    """The records on one SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._ready = False

    def create(self) -> RecordStore:
        """Create or upgrade the schema; returns self (DatabaseError when it cannot)."""
        ensure_schema(self.engine)
        self._ready = True
        return self

    def add_answers(self, records: Sequence[AnswerRecord]) -> None:
        """Keep answered questions (one transaction)."""
        if not self._ready:
            # The database was down when the server started: create the schema once it is up.
            self.create()
        with Session(self.engine) as session, session.begin():
            session.add_all([_to_row(r) for r in records])

    def add_answer(self, record: AnswerRecord) -> None:
        """Keep one answered question."""
        self.add_answers([record])

    def secret(self, name: str) -> str:
        """A random key kept in the database, made on first use (the same for every replica)."""
        import secrets

        for _ in range(3):
            with Session(self.engine) as session:
                row = session.get(SecretRow, name)
                if row is not None:
                    return row.value
            try:
                with Session(self.engine) as session, session.begin():
                    session.add(SecretRow(name=name, value=secrets.token_hex(32)))
            except IntegrityError:
                continue  # another replica made it first: read theirs
        raise RuntimeError(f"could not read or make the secret {name!r}")

    def has_answer(self, answer_id: str) -> bool:
        """Whether the records hold this answer."""
        with Session(self.engine) as session:
            return session.get(AnswerRow, answer_id) is not None

    def add_feedback(self, answer_id: str, rating: Any, comment: Any = "") -> None:
        """Keep a rating of an answer (replacing an earlier one); UnknownAnswerError, FeedbackError."""
        rating, comment = check_feedback(rating, comment)
        now = datetime.now(UTC)
        for _ in range(3):
            try:
                with Session(self.engine) as session, session.begin():
                    if session.get(AnswerRow, answer_id) is None:
                        raise UnknownAnswerError(answer_id)
                    row = session.get(FeedbackRow, answer_id)
                    if row is None:
                        session.add(FeedbackRow(answer_id=answer_id, rating=rating, comment=comment,
                                                rated_at=now))
                    else:
                        row.rating, row.comment, row.rated_at = rating, comment, now
                return
            except IntegrityError:
                # Another replica inserted the same answer's rating first: update it instead.
                continue
        raise RuntimeError(f"could not store feedback for {answer_id}")

    def answers(self, case: str | None = None, *, abstained: bool | None = None,
                rating: str | None = None, since: datetime | None = None,
                limit: int | None = None, scope: RecordScope | None = None) -> list[StoredAnswer]:
        """Answers (oldest first) with their ratings, filtered by case, abstention, rating, time,
        and to one course's rows with a `scope`."""
        query = _scoped(select(AnswerRow, FeedbackRow).outerjoin(
            FeedbackRow, FeedbackRow.answer_id == AnswerRow.id), scope)
        if case:
            query = query.where(AnswerRow.case_id == case)
        if abstained is not None:
            query = query.where(AnswerRow.abstained == abstained)
        if rating:
            query = query.where(FeedbackRow.rating == rating)
        if since is not None:
            query = query.where(AnswerRow.asked_at >= since)
        if limit is not None:
            # The newest `limit`, still returned oldest first.
            query = query.order_by(AnswerRow.asked_at.desc(), AnswerRow.id).limit(limit)
        else:
            query = query.order_by(AnswerRow.asked_at, AnswerRow.id)
        with Session(self.engine) as session:
            rows = [StoredAnswer(_from_row(a), f.rating if f else None, f.comment if f else "")
                    for a, f in session.execute(query)]
        return rows[::-1] if limit is not None else rows

    def cases(self, *, scope: RecordScope | None = None) -> list[tuple[str, int]]:
        """Each case with records, and how many questions it has, most asked first."""
        query = (_scoped(select(AnswerRow.case_id, func.count()), scope).group_by(AnswerRow.case_id)
                 .order_by(func.count().desc(), AnswerRow.case_id))
        with Session(self.engine) as session:
            return [(case, int(count)) for case, count in session.execute(query)]

    def count(self, case: str | None = None, *, scope: RecordScope | None = None) -> int:
        """How many answers the records hold (for one case or all)."""
        query = _scoped(select(func.count()).select_from(AnswerRow), scope)
        if case:
            query = query.where(AnswerRow.case_id == case)
        with Session(self.engine) as session:
            return int(session.scalar(query) or 0)

    def revoke_session(self, session_id: str, expires_at: datetime) -> None:
        """Refuse a signed-out session on every replica until `expires_at`."""
        with Session(self.engine) as session, session.begin():
            session.merge(RevokedSessionRow(session_id=session_id, expires_at=expires_at))

    def is_revoked(self, session_id: str) -> bool:
        """Whether a session was signed out."""
        with Session(self.engine) as session:
            return session.get(RevokedSessionRow, session_id) is not None

    def purge(self, older_than_days: float, now: datetime | None = None) -> int:
        """Delete answers (and their feedback) asked more than `older_than_days` ago; how many."""
        if older_than_days < 0:
            raise ValueError(f"older_than_days must be 0 or more, got {older_than_days:g}")
        cutoff = (now or datetime.now(UTC)) - timedelta(days=older_than_days)
        old = select(AnswerRow.id).where(AnswerRow.asked_at < cutoff)
        with Session(self.engine) as session, session.begin():
            # Feedback first: SQLite enforces the cascade only with foreign keys on.
            session.execute(delete(FeedbackRow).where(FeedbackRow.answer_id.in_(old)))
            result = session.execute(delete(AnswerRow).where(AnswerRow.asked_at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)


_STOP = object()


class RecordWriter:
    """Writes records on a background thread so that answering never waits for the database."""

    def __init__(self, store: RecordStore, max_queue: int = 10_000, batch: int = 64) -> None:
        self.store = store
        self.batch = batch
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._pending: set[str] = set()
        self._lock = threading.Condition()
        self.failures = 0
        self._thread = threading.Thread(target=self._run, name="casebot-records", daemon=True)
        self._thread.start()

    def submit(self, record: AnswerRecord) -> bool:
        """Queue a record; False (and a log line) when the queue is full, never blocking."""
        with self._lock:
            self._pending.add(record.id)
        try:
            self._queue.put_nowait(record)
            return True
        except queue.Full:
            with self._lock:
                self._pending.discard(record.id)
                self._lock.notify_all()
            self.failures += 1
            log.error("records queue full: answer %s not recorded", record.id)
            return False

    def wait_for(self, answer_id: str, timeout: float = 5.0) -> None:
        """Wait until a queued answer has been written (or given up on), at most `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while answer_id in self._pending and (left := deadline - time.monotonic()) > 0:
                self._lock.wait(left)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued record is written or given up on; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending and (left := deadline - time.monotonic()) > 0:
                self._lock.wait(left)
            return not self._pending

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread."""
        self.flush(timeout)
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            records = [item]
            while len(records) < self.batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    self._write(records)
                    return
                records.append(more)
            self._write(records)

    def _write(self, records: list[AnswerRecord]) -> None:
        try:
            self.store.add_answers(records)
        except Exception as error:
            self.failures += len(records)
            # The answers were served already; say what was lost without the students' text.
            log.error("could not record %d answer(s) (%s): %s", len(records),
                      ", ".join(r.id for r in records), error)
        finally:
            with self._lock:
                self._pending.difference_update(r.id for r in records)
                self._lock.notify_all()


class Recorder:
    """The web layer's one call after an answer, and the feedback entry point; off when
    `store` is None (CASEBOT_LOG_QUESTIONS=off): then nothing is kept and answers get no id."""

    def __init__(self, store: RecordStore | None, retention_days: float = 180.0,
                 user_key: str = "") -> None:
        self.store = store
        self.retention_days = retention_days
        # The key of the LTI user-id hash: given, or a random one kept in the database.
        self._user_key = user_key
        self.writer = RecordWriter(store) if store is not None else None
        self._stop = threading.Event()
        self._purger: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        """Whether questions are kept."""
        return self.store is not None

    def record(self, answer: Answer, question: str, history: Sequence[Turn], channel: str,
               session_id: str = "", user_id: str | None = None, *, platform: str | None = None,
               course: str | None = None) -> Answer:
        """`answer` with a new `answer_id`, its record queued for writing (unchanged when off)."""
        if self.writer is None:
            return answer
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r} (known: {', '.join(CHANNELS)})")
        answer_id = new_answer_id()
        self.writer.submit(AnswerRecord(
            id=answer_id, asked_at=datetime.now(UTC), case_id=answer.case, question=question.strip(),
            history=tuple(history), answer=answer.answer, abstained=answer.abstained,
            cited_paragraphs=tuple(c.paragraph for c in answer.citations), backend=answer.backend,
            latency_ms=round(answer.latency_ms, 1), channel=channel,
            session_id=session_id or new_session_id(),
            user_hash=self._user_hash(user_id), platform=platform, course=course))
        return replace(answer, answer_id=answer_id)

    def _user_hash(self, user_id: str | None) -> str | None:
        """The keyed hash of an LTI user id; None without one, or when no key can be had (the id
        itself is never kept)."""
        if not user_id or self.store is None:
            return None
        if not self._user_key:
            try:
                self._user_key = self.store.secret("user-hash-key")
            except Exception as error:
                log.error("no key for hashing user ids (%s): the record keeps no user", error)
                return None
        return keyed_user_hash(self._user_key, user_id)

    def feedback(self, answer_id: str, rating: Any, comment: Any = "") -> None:
        """Keep a student's rating; UnknownAnswerError (also when off), FeedbackError."""
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
        if self.store is None or self._purger is not None:
            return

        def loop() -> None:
            while True:
                self.purge_expired()
                if self._stop.wait(interval_s):
                    return

        self._purger = threading.Thread(target=loop, name="casebot-retention", daemon=True)
        self._purger.start()

    def purge_expired(self) -> int:
        """Delete the records older than the retention period; how many (0 on a database error)."""
        if self.store is None:
            return 0
        try:
            removed = self.store.purge(self.retention_days)
        except Exception as error:
            log.error("purging records older than %g days failed: %s", self.retention_days, error)
            return 0
        if removed:
            log.info("purged %d records older than %g days", removed, self.retention_days)
        return removed

    def close(self) -> None:
        """Write what is queued and stop the threads."""
        self._stop.set()
        if self.writer is not None:
            self.writer.close()


def open_recorder(settings: Settings) -> Recorder:
    """The Recorder the settings ask for: off, or on the configured database (schema created;
    a database that is down now is logged and tried again on the first write)."""
    if not settings.log_questions:
        return Recorder(None)
    url = settings.database_url or default_database_url(settings.data_dir)
    store = RecordStore(open_engine(url))
    try:
        store.create()
    except DatabaseError as error:
        log.error("%s; answers are served and recording is retried on each write", error)
    return Recorder(store, retention_days=settings.log_retention_days)
