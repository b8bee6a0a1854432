"""RecordStore: the queries on the records database (write answers and ratings, read them back for
the dashboard and the export, purge them, remember signed-out sessions) and the checks and
cleaning a record gets at this boundary."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from sqlalchemy import Engine, Select, delete, func, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.answer import Turn
from bot.errors import DatabaseError, FeedbackError, UnknownAnswerError, UsageError
from bot.records.database import database_errors
from bot.records.models import (
    AnswerRecord,
    AnswerRow,
    CitedPassage,
    FeedbackRow,
    RecordScope,
    RevokedSessionRow,
    SecretRow,
    StoredAnswer,
)
from bot.records.schema import Schema

CHANNELS = ("chat", "embed", "api", "lti")
RATINGS = ("up", "down")
MAX_COMMENT_CHARS = 2000
# Records cannot be older than casebot: a longer age is a typo (and past about 700,000 days it no
# longer fits in a date at all).
MAX_AGE_DAYS = 36_500
# The name under which casebot before CASEBOT_SECRET kept its random pseudonym key.
LEGACY_PSEUDONYM_KEY = "user-hash-key"
# What the pseudonym key of a newer database is derived from the secret with (never stored).
PSEUDONYM_CONTEXT = b"casebot-pseudonym"
Rating = Literal["up", "down"]
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_Query = TypeVar("_Query", bound=Select)


def new_answer_id() -> str:
    """A random, unguessable answer id (32 hex digits)."""
    return uuid.uuid4().hex


def new_session_id() -> str:
    """A random pseudonymous session id: it names a conversation, never a person."""
    return uuid.uuid4().hex


def keyed_user_hash(key: str, user_id: str) -> str:
    """An LTI user id as a keyed hash (HMAC-SHA256), so the records never hold the id itself."""
    return hmac.new(key.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def clean_text(value: str) -> str:
    """`value` with lone surrogates (text no encoding can write, e.g. "\\ud800" from JSON) replaced
    by U+FFFD, so a student's odd input is kept legibly and cannot fail a database write."""
    return _LONE_SURROGATE.sub("\ufffd", value)


def check_feedback(rating: Any, comment: Any) -> tuple[Rating, str]:
    """A valid (rating, comment), the comment cleaned; FeedbackError otherwise."""
    if rating not in RATINGS:
        raise FeedbackError(f"rating must be 'up' or 'down', got {rating!r}")
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        raise FeedbackError("comment must be text")
    comment = clean_text(comment.strip())
    if len(comment) > MAX_COMMENT_CHARS:
        raise FeedbackError(f"comment is {len(comment):,} characters long; keep it under "
                            f"{MAX_COMMENT_CHARS:,}")
    return rating, comment


def check_age_days(days: float, name: str = "older_than_days") -> float:
    """`days` when it is an age records can have (0 to MAX_AGE_DAYS); UsageError naming `name`."""
    if not math.isfinite(days) or not 0 <= days <= MAX_AGE_DAYS:
        raise UsageError(f"{name} must be a number of days from 0 to {MAX_AGE_DAYS:,}, got {days:g}")
    return days


def _to_row(record: AnswerRecord) -> AnswerRow:
    history = [{"role": t.role, "content": clean_text(t.content)} for t in record.history]
    citations = [{"paragraph": c.paragraph, "label": c.label, "text": clean_text(c.text),
                  **({"page": c.page} if c.page is not None else {})} for c in record.citations]
    return AnswerRow(
        id=record.id, asked_at=record.asked_at, case_id=record.case_id,
        question=clean_text(record.question), history=json.dumps(history, ensure_ascii=False),
        history_turns=len(record.history), answer=clean_text(record.answer),
        abstained=record.abstained, cited_paragraphs=json.dumps(list(record.cited_paragraphs)),
        backend=record.backend, latency_ms=record.latency_ms, channel=record.channel,
        session_id=record.session_id, user_hash=record.user_hash, platform=record.platform,
        course=record.course, guided=record.guided,
        citations=json.dumps(citations, ensure_ascii=False))


def _from_row(row: AnswerRow) -> AnswerRecord:
    history = tuple(Turn(t["role"], t["content"]) for t in json.loads(row.history or "[]"))
    citations = tuple(CitedPassage(int(c["paragraph"]), str(c["label"]), str(c["text"]), c.get("page"))
                      for c in json.loads(row.citations or "[]"))
    return AnswerRecord(
        id=row.id, asked_at=row.asked_at, case_id=row.case_id, question=row.question,
        history=history, answer=row.answer, abstained=row.abstained,
        cited_paragraphs=tuple(json.loads(row.cited_paragraphs or "[]")), backend=row.backend,
        latency_ms=row.latency_ms, channel=row.channel, session_id=row.session_id,
        user_hash=row.user_hash, platform=row.platform, course=row.course, guided=row.guided,
        citations=citations)


def _scoped(query: _Query, case: str | None, scope: RecordScope | None) -> _Query:
    """`query` narrowed to one case, or to a scope's case, platform and course."""
    if scope is not None:
        return query.where(AnswerRow.case_id == scope.case_id, AnswerRow.platform == scope.platform,
                           AnswerRow.course == scope.course)
    return query.where(AnswerRow.case_id == case) if case else query


class RecordStore:
    """The records on one SQLAlchemy engine (SQLite or PostgreSQL), its schema upgraded on first
    use. `secret` (CASEBOT_SECRET) keys the pseudonyms of LTI users on a database that has no key
    of its own from an earlier casebot. Database failures raise DatabaseError."""

    def __init__(self, engine: Engine, secret: str = "") -> None:
        self.engine = engine
        self.schema = Schema(engine)
        self._secret = secret
        self._pseudonym_key = ""

    def create(self) -> RecordStore:
        """Create or upgrade the schema now; returns self (DatabaseError when it cannot)."""
        self.schema.ready()
        return self

    def reachable(self) -> bool:
        """Whether the database answers a trivial query now."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    @database_errors
    def add_answers(self, records: Sequence[AnswerRecord]) -> None:
        """Keep answered questions (one transaction: all or none)."""
        with Session(self.schema.ready()) as session, session.begin():
            session.add_all([_to_row(r) for r in records])

    def add_answer(self, record: AnswerRecord) -> None:
        """Keep one answered question."""
        self.add_answers([record])

    @database_errors
    def pseudonym_key(self) -> str:
        """The key of the LTI users' pseudonyms: the random one an earlier casebot kept in this
        database (so its pseudonyms keep naming the same students), else one derived from the
        secret and never stored. Read once, then cached."""
        if not self._pseudonym_key:
            with Session(self.schema.ready()) as session:
                stored = session.get(SecretRow, LEGACY_PSEUDONYM_KEY)
            if stored is not None:
                self._pseudonym_key = stored.value
            elif self._secret:
                self._pseudonym_key = hmac.new(self._secret.encode(), PSEUDONYM_CONTEXT,
                                               hashlib.sha256).hexdigest()
            else:
                raise UsageError("No secret to key pseudonyms with: give RecordStore the secret "
                                 "(CASEBOT_SECRET or the data folder's secret file).")
        return self._pseudonym_key

    def user_hash(self, user_id: str) -> str:
        """The pseudonym the records keep for an LTI user id."""
        return keyed_user_hash(self.pseudonym_key(), user_id)

    @database_errors
    def has_answer(self, answer_id: str) -> bool:
        """Whether the records hold this answer."""
        with Session(self.schema.ready()) as session:
            return session.get(AnswerRow, answer_id) is not None

    @database_errors
    def add_feedback(self, answer_id: str, rating: Any, comment: Any = "") -> None:
        """Keep a rating of an answer (replacing an earlier one); UnknownAnswerError, FeedbackError."""
        rating, comment = check_feedback(rating, comment)
        now = datetime.now(UTC)
        engine = self.schema.ready()
        for _ in range(3):
            try:
                with Session(engine) as session, session.begin():
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
        raise DatabaseError(f"could not store feedback for {answer_id}")

    @database_errors
    def answers(self, case: str | None = None, *, abstained: bool | None = None,
                rating: str | None = None, since: datetime | None = None,
                limit: int | None = None, scope: RecordScope | None = None) -> list[StoredAnswer]:
        """Answers (oldest first) with their ratings, filtered by case (or `scope`: one case of one
        platform and course), abstention, rating, time."""
        query = _scoped(select(AnswerRow, FeedbackRow).outerjoin(
            FeedbackRow, FeedbackRow.answer_id == AnswerRow.id), case, scope)
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
        with Session(self.schema.ready()) as session:
            rows = [StoredAnswer(_from_row(a), f.rating if f else None, f.comment if f else "")
                    for a, f in session.execute(query)]
        return rows[::-1] if limit is not None else rows

    @database_errors
    def cases(self, *, scope: RecordScope | None = None) -> list[tuple[str, int]]:
        """Each case with records (within `scope`, if given), and how many questions it has, most
        asked first."""
        query = _scoped(select(AnswerRow.case_id, func.count()), None, scope).group_by(
            AnswerRow.case_id).order_by(func.count().desc(), AnswerRow.case_id)
        with Session(self.schema.ready()) as session:
            return [(case, int(count)) for case, count in session.execute(query)]

    @database_errors
    def count(self, case: str | None = None, *, scope: RecordScope | None = None) -> int:
        """How many answers the records hold (for one case, one scope, or all)."""
        query = _scoped(select(func.count()).select_from(AnswerRow), case, scope)
        with Session(self.schema.ready()) as session:
            return int(session.scalar(query) or 0)

    @database_errors
    def purge(self, older_than_days: float, now: datetime | None = None) -> int:
        """Delete answers (and their feedback) asked more than `older_than_days` ago; how many.
        UsageError for an age records cannot have (negative, not finite, over MAX_AGE_DAYS)."""
        cutoff = (now or datetime.now(UTC)) - timedelta(days=check_age_days(older_than_days))
        return self._delete_answers(AnswerRow.asked_at < cutoff)

    @database_errors
    def purge_user(self, user: str) -> int:
        """Delete one student's answers and their feedback; how many answers. `user` is an LTI
        user id (found through its pseudonym) or a session id."""
        user = user.strip()
        if not user:
            raise UsageError("Name the user: an LTI user id or a session id.")
        return self._delete_answers(or_(AnswerRow.user_hash == self.user_hash(user),
                                        AnswerRow.session_id == user))

    def _delete_answers(self, condition: Any) -> int:
        chosen = select(AnswerRow.id).where(condition)
        with Session(self.schema.ready()) as session, session.begin():
            # Feedback first: SQLite enforces the cascade only with foreign keys on.
            session.execute(delete(FeedbackRow).where(FeedbackRow.answer_id.in_(chosen)))
            result = session.execute(delete(AnswerRow).where(condition))
        return int(getattr(result, "rowcount", 0) or 0)

    @database_errors
    def revoke_session(self, session_id: str, expires_at: datetime) -> None:
        """Remember that a signed session was signed out; kept until it would have expired."""
        try:
            with Session(self.schema.ready()) as session, session.begin():
                session.add(RevokedSessionRow(session_id=session_id, expires_at=expires_at))
        except IntegrityError:
            pass  # revoked already (a second sign-out, or another replica)

    @database_errors
    def is_revoked(self, session_id: str) -> bool:
        """Whether a signed session was signed out."""
        with Session(self.schema.ready()) as session:
            return session.get(RevokedSessionRow, session_id) is not None

    @database_errors
    def purge_revocations(self, now: datetime | None = None) -> int:
        """Forget revoked sessions that have expired by now (their signature refuses them anyway)."""
        with Session(self.schema.ready()) as session, session.begin():
            result = session.execute(delete(RevokedSessionRow).where(
                RevokedSessionRow.expires_at < (now or datetime.now(UTC))))
        return int(getattr(result, "rowcount", 0) or 0)
