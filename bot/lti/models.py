"""LTI 1.3 records: platform registrations, the tool's signing-key metadata, and the single-use
values of a launch (login state and nonce, deep-linking sessions, instructor tickets).

Everything a launch must remember lives in the records database rather than in a cookie or in
process memory: a framed launch cannot rely on third-party cookies, and the login may hit one
replica while the launch hits another. Every function takes an `sqlalchemy.Engine` whose schema is
current (bot.records.schema) and raises DatabaseError when the database fails. Single use is
enforced by the database: a value is consumed by a DELETE or UPDATE whose row count tells whether
this call was the first.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import DateTime, Engine, String, Text, UniqueConstraint, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.errors import RegistrationError
from bot.records.database import database_errors
from bot.records.models import Base


class PlatformRow(Base):
    __tablename__ = "lti_platforms"
    __table_args__ = (UniqueConstraint("issuer", "client_id", name="uq_lti_platform"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    issuer: Mapped[str] = mapped_column(String(512))
    client_id: Mapped[str] = mapped_column(String(255))
    # A JSON list: one registration (client) may be deployed several times on a platform.
    deployment_ids: Mapped[str] = mapped_column(Text, default="[]")
    auth_login_url: Mapped[str] = mapped_column(String(1024))
    auth_token_url: Mapped[str] = mapped_column(String(1024))
    jwks_url: Mapped[str] = mapped_column(String(1024))
    # A JSON list of extra origins that frame the tool (Canvas cloud: the school's domain).
    frame_origins: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ToolKeyRow(Base):
    __tablename__ = "lti_tool_keys"

    kid: Mapped[str] = mapped_column(String(128), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Set when a newer key replaced this one: it stays published until then, then disappears.
    retired_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class LoginStateRow(Base):
    __tablename__ = "lti_login_states"

    state: Mapped[str] = mapped_column(String(128), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(128))
    issuer: Mapped[str] = mapped_column(String(512))
    client_id: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class UsedNonceRow(Base):
    __tablename__ = "lti_used_nonces"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DeepLinkRow(Base):
    __tablename__ = "lti_deep_links"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    issuer: Mapped[str] = mapped_column(String(512))
    client_id: Mapped[str] = mapped_column(String(255))
    deployment_id: Mapped[str] = mapped_column(String(255))
    return_url: Mapped[str] = mapped_column(String(2048))
    data: Mapped[str | None] = mapped_column(Text, nullable=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class InstructorTicketRow(Base):
    __tablename__ = "lti_instructor_tickets"

    # SHA-256 of the ticket: a copy of the database does not hand out dashboard access.
    ticket_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    issuer: Mapped[str] = mapped_column(String(512))
    user: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The course (LTI context id) the launch came from: the session sees only its records.
    course: Mapped[str] = mapped_column(String(255), default="", server_default="")


@dataclass(frozen=True)
class Registration:
    """One platform registration: who the platform is and where its OIDC and key endpoints are."""

    issuer: str
    client_id: str
    deployment_ids: tuple[str, ...]
    auth_login_url: str
    auth_token_url: str
    jwks_url: str
    frame_origins: tuple[str, ...] = ()

    @property
    def origins(self) -> tuple[str, ...]:
        """The web origins that frame the tool: the issuer's and any extra ones registered."""
        return tuple(dict.fromkeys(o for o in (url_origin(self.issuer), *self.frame_origins) if o))


@dataclass(frozen=True)
class LoginState:
    """What a login remembered for its launch."""

    state: str
    nonce: str
    issuer: str
    client_id: str


@dataclass(frozen=True)
class DeepLink:
    """A verified deep-linking request waiting for the instructor's choice."""

    id: str
    issuer: str
    client_id: str
    deployment_id: str
    return_url: str
    data: str | None


@dataclass(frozen=True)
class InstructorGrant:
    """An instructor arriving from an LTI launch: which case, which (pseudonymous) user, and which
    course ('' when the launch named none)."""

    issuer: str
    user: str
    case_id: str
    course: str = ""


def now_utc() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes even for timezone-aware columns: they were stored as UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def url_origin(url: str) -> str:
    """`scheme://host[:port]` of a URL, lower-cased; '' when it has no host."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return ""
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def _registration(row: PlatformRow) -> Registration:
    return Registration(issuer=row.issuer, client_id=row.client_id,
                        deployment_ids=tuple(json.loads(row.deployment_ids or "[]")),
                        auth_login_url=row.auth_login_url, auth_token_url=row.auth_token_url,
                        jwks_url=row.jwks_url, frame_origins=tuple(json.loads(row.frame_origins or "[]")))


def _check_url(name: str, url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise RegistrationError(f"{name} must be an http(s) URL, got {url!r}")
    return url


@database_errors
def add_platform(engine: Engine, issuer: str, client_id: str, deployment_id: str, auth_login_url: str,
                 auth_token_url: str, jwks_url: str, frame_origins: Sequence[str] = ()) -> Registration:
    """Register a platform, or add a deployment to (and update the URLs of) an existing one."""
    extra = []
    for origin in frame_origins:
        if url_origin(origin.strip()) != origin.strip().rstrip("/").lower():
            raise RegistrationError(f"--frame-origin must look like https://host[:port], got {origin!r}")
        extra.append(url_origin(origin.strip()))
    # Kept exactly as given: the launch compares it with the id_token's `iss` character for character.
    issuer = _check_url("--issuer", issuer)
    client_id, deployment_id = client_id.strip(), deployment_id.strip()
    if not client_id:
        raise RegistrationError("--client-id must not be empty")
    if not deployment_id:
        raise RegistrationError("--deployment-id must not be empty")
    urls = {"auth_login_url": _check_url("--auth-login-url", auth_login_url),
            "auth_token_url": _check_url("--auth-token-url", auth_token_url),
            "jwks_url": _check_url("--jwks-url", jwks_url)}
    with Session(engine) as session, session.begin():
        row = session.scalars(select(PlatformRow).where(PlatformRow.issuer == issuer,
                                                        PlatformRow.client_id == client_id)).first()
        if row is None:
            row = PlatformRow(issuer=issuer, client_id=client_id, deployment_ids="[]", frame_origins="[]",
                              created_at=now_utc(), **urls)
            session.add(row)
        else:
            for key, value in urls.items():
                setattr(row, key, value)
        known = json.loads(row.frame_origins or "[]")
        row.frame_origins = json.dumps(list(dict.fromkeys([*known, *extra])))
        deployments = json.loads(row.deployment_ids or "[]")
        if deployment_id not in deployments:
            deployments.append(deployment_id)
        row.deployment_ids = json.dumps(deployments)
        session.flush()
        return _registration(row)


@database_errors
def list_platforms(engine: Engine) -> list[Registration]:
    """Every registration, by issuer then client id."""
    with Session(engine) as session:
        rows = session.scalars(select(PlatformRow).order_by(PlatformRow.issuer, PlatformRow.client_id))
        return [_registration(row) for row in rows]


@database_errors
def remove_platform(engine: Engine, issuer: str, client_id: str) -> bool:
    """Remove a registration; False when there was none."""
    with Session(engine) as session, session.begin():
        result = session.execute(delete(PlatformRow).where(PlatformRow.issuer == issuer.strip(),
                                                           PlatformRow.client_id == client_id.strip()))
        return bool(getattr(result, "rowcount", 0))


@database_errors
def find_platform(engine: Engine, issuer: str, client_id: str | None) -> Registration:
    """The registration for issuer (+ client id); RegistrationError saying which one is missing."""
    with Session(engine) as session:
        query = select(PlatformRow).where(PlatformRow.issuer == issuer)
        if client_id:
            query = query.where(PlatformRow.client_id == client_id)
        rows = list(session.scalars(query))
    if not rows:
        which = f"issuer {issuer!r}" + (f" with client id {client_id!r}" if client_id else "")
        raise RegistrationError(f"No LTI platform is registered for {which}. Register it with "
                                "`casebot lti add-platform --issuer ... --client-id ...`.")
    if len(rows) > 1:
        raise RegistrationError(f"Issuer {issuer!r} has {len(rows)} registrations: the login "
                                "request must name its client_id.")
    return _registration(rows[0])


@database_errors
def platform_origins(engine: Engine) -> tuple[str, ...]:
    """The web origins of every registered platform (for CSP frame-ancestors)."""
    return tuple(dict.fromkeys(o for r in list_platforms(engine) for o in r.origins))


@database_errors
def save_state(engine: Engine, state: LoginState, ttl: timedelta) -> None:
    """Remember a login's state and nonce until its launch (or until `ttl` passes)."""
    with Session(engine) as session, session.begin():
        session.add(LoginStateRow(state=state.state, nonce=state.nonce, issuer=state.issuer,
                                  client_id=state.client_id, expires_at=now_utc() + ttl))


@database_errors
def take_state(engine: Engine, state: str) -> LoginState | None:
    """The login behind `state`, consumed (a second call returns None); None if unknown or expired."""
    with Session(engine) as session, session.begin():
        row = session.get(LoginStateRow, state)
        if row is None:
            return None
        found = LoginState(state=row.state, nonce=row.nonce, issuer=row.issuer, client_id=row.client_id)
        expires = _aware(row.expires_at)
        consumed = session.execute(delete(LoginStateRow).where(LoginStateRow.state == state))
        # Two replicas may read the same row: only the one whose DELETE removed it wins.
        if not getattr(consumed, "rowcount", 0) or expires < now_utc():
            return None
        return found


@database_errors
def use_nonce(engine: Engine, issuer: str, nonce: str, ttl: timedelta) -> bool:
    """Record a nonce as used; False when this issuer's nonce was already used."""
    from sqlalchemy.exc import IntegrityError

    key = hashlib.sha256(f"{issuer}\n{nonce}".encode()).hexdigest()
    try:
        with Session(engine) as session, session.begin():
            session.add(UsedNonceRow(key=key, expires_at=now_utc() + ttl))
    except IntegrityError:
        return False
    return True


@database_errors
def save_deep_link(engine: Engine, link: DeepLink, ttl: timedelta) -> None:
    """Remember a verified deep-linking request until the instructor picks a case."""
    with Session(engine) as session, session.begin():
        session.add(DeepLinkRow(id=link.id, issuer=link.issuer, client_id=link.client_id,
                                deployment_id=link.deployment_id, return_url=link.return_url,
                                data=link.data, expires_at=now_utc() + ttl))


@database_errors
def take_deep_link(engine: Engine, link_id: str) -> DeepLink | None:
    """The deep-linking request, consumed; None if unknown, used or expired."""
    with Session(engine) as session, session.begin():
        row = session.get(DeepLinkRow, link_id)
        if row is None:
            return None
        link = DeepLink(id=row.id, issuer=row.issuer, client_id=row.client_id,
                        deployment_id=row.deployment_id, return_url=row.return_url, data=row.data)
        expires = _aware(row.expires_at)
        consumed = session.execute(delete(DeepLinkRow).where(DeepLinkRow.id == link_id))
        if not getattr(consumed, "rowcount", 0) or expires < now_utc():
            return None
        return link


@database_errors
def peek_deep_link(engine: Engine, link_id: str) -> DeepLink | None:
    """The deep-linking request without consuming it; None if unknown or expired."""
    with Session(engine) as session:
        row = session.get(DeepLinkRow, link_id)
        if row is None or _aware(row.expires_at) < now_utc():
            return None
        return DeepLink(id=row.id, issuer=row.issuer, client_id=row.client_id,
                        deployment_id=row.deployment_id, return_url=row.return_url, data=row.data)


def _ticket_hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


@database_errors
def save_instructor_ticket(engine: Engine, ticket: str, grant: InstructorGrant, ttl: timedelta) -> None:
    """Remember a single-use ticket that opens the instructor dashboard for one case."""
    with Session(engine) as session, session.begin():
        session.add(InstructorTicketRow(ticket_hash=_ticket_hash(ticket), issuer=grant.issuer,
                                        user=grant.user, case_id=grant.case_id,
                                        course=grant.course, expires_at=now_utc() + ttl))


@database_errors
def redeem_instructor_ticket(engine: Engine, ticket: str) -> InstructorGrant | None:
    """The grant behind an instructor ticket, consumed; None if unknown, used or expired."""
    key = _ticket_hash(ticket)
    with Session(engine) as session, session.begin():
        row = session.get(InstructorTicketRow, key)
        if row is None:
            return None
        grant = InstructorGrant(issuer=row.issuer, user=row.user, case_id=row.case_id,
                                course=row.course)
        expires = _aware(row.expires_at)
        consumed = session.execute(delete(InstructorTicketRow).where(InstructorTicketRow.ticket_hash == key))
        if not getattr(consumed, "rowcount", 0) or expires < now_utc():
            return None
        return grant


@database_errors
def add_tool_key(engine: Engine, kid: str) -> None:
    """Record a new signing key (its private half is a file in the data dir)."""
    with Session(engine) as session, session.begin():
        session.add(ToolKeyRow(kid=kid, created_at=now_utc(), retired_until=None))


@database_errors
def retire_tool_keys(engine: Engine, keep: str, grace: timedelta) -> list[str]:
    """Retire every current key but `keep`: still published for `grace`, no longer used to sign."""
    until = now_utc() + grace
    with Session(engine) as session, session.begin():
        kids = list(session.scalars(select(ToolKeyRow.kid).where(ToolKeyRow.retired_until.is_(None),
                                                                 ToolKeyRow.kid != keep)))
        if kids:
            session.execute(update(ToolKeyRow).where(ToolKeyRow.kid.in_(kids)).values(retired_until=until))
        return kids


@dataclass(frozen=True)
class ToolKeyInfo:
    """Metadata of one tool signing key."""

    kid: str
    created_at: datetime
    retired_until: datetime | None


@database_errors
def tool_keys(engine: Engine) -> list[ToolKeyInfo]:
    """Keys still published (current, or retired within their grace period), newest first."""
    moment = now_utc()
    with Session(engine) as session:
        rows = list(session.scalars(select(ToolKeyRow).order_by(ToolKeyRow.created_at.desc())))
    keys = [ToolKeyInfo(r.kid, _aware(r.created_at), _aware(r.retired_until) if r.retired_until else None)
            for r in rows]
    return [k for k in keys if k.retired_until is None or k.retired_until > moment]


@database_errors
def purge_expired(engine: Engine) -> int:
    """Delete expired states, nonces, deep links and tickets; returns how many rows went."""
    moment = now_utc()
    removed = 0
    with Session(engine) as session, session.begin():
        for table in (LoginStateRow, UsedNonceRow, DeepLinkRow, InstructorTicketRow):
            result = session.execute(delete(table).where(table.expires_at < moment))
            removed += int(getattr(result, "rowcount", 0) or 0)
    return removed
