"""Student feedback and the instructor's view of the records.

- `POST /api/v1/feedback`: a student rates an answer (`answer_id`, `rating` up|down, `comment`?).
- `GET /api/v1/instructor/questions`: the export, behind `Authorization: Bearer <instructor token>`.
- `/instructor`: a login form (the token is posted once, never put in a URL) that sets a signed
  session cookie, then the dashboard per case: questions over time, the most asked questions grouped
  by meaning, declined questions, answers rated down with comments, usage by channel.

Two kinds of instructor session, both a cookie signed with the one secret (bot.web.signing): the
token holder's sees every record; one started by an LTI launch sees only the records of the case,
platform and course it was launched for (a `RecordScope`), whatever case a URL names. Sign-out is
a POST carrying the session's CSRF token from a same-origin page; it revokes the session on the
server (the database, and this replica's memory while the database is down). Failed sign-ins and
failed instructor bearers are throttled per address.

Without an instructor token configured, the dashboard and the export answer 404. Pages are
Jinja2 templates (templates/instructor_*.html) rendered with autoescape on: every record is a
student's text. The one stylesheet and the one script (a paragraph's bar opens the questions that
cited it) are allowed by their hashes, so the Content-Security-Policy refuses any other.

The dashboard opens on the default case (an LTI session on its own) and maps the records onto the
case: each paragraph, in order, with how many answers cited it, linked to the reader.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import anyio
from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import BaseModel, ConfigDict, Field

from bot.answer import lone_surrogate
from bot.errors import FeedbackError, UnknownAnswerError
from bot.records import Recorder, RecordScope
from bot.records.export import FORMATS, export_lines
from bot.records.insight import CaseInsight, Encoder, ParagraphUse, case_insight
from bot.records.repository import MAX_COMMENT_CHARS
from bot.web.ratelimit import (
    FailureThrottle,
    QuestionLimiter,
    RateLimited,
    RateLimitStoreError,
    api_client,
)
from bot.web.reader import Paragraph, paragraphs
from bot.web.signing import INSTRUCTOR_CSRF, INSTRUCTOR_SESSION, Signer

if TYPE_CHECKING:
    from vectorstore.store import LoadedCase

log = logging.getLogger("casebot.instructor")

COOKIE = "casebot_instructor"
SESSION_SECONDS = 8 * 3600
TEMPLATES = Path(__file__).resolve().parent / "templates"
MEDIA_TYPES = {"jsonl": "application/x-ndjson; charset=utf-8", "csv": "text/csv; charset=utf-8"}


class FeedbackIn(BaseModel):
    """A student's rating of one answer."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "answer_id": "3f2a…", "rating": "down", "comment": "It missed the 5% stake."}]})
    answer_id: str = Field(description="the `answer_id` of the answer object")
    rating: str = Field(description="`up` or `down`")
    comment: str | None = Field(None, description=f"optional, at most {MAX_COMMENT_CHARS} characters")


class FeedbackOut(BaseModel):
    """The feedback was kept."""

    status: str = "ok"


class _Error(HTTPException):
    """An HTTP error whose detail becomes `{"error": ...}`."""


# --- the instructor session ----------------------------------------------------------------------

@dataclass(frozen=True)
class InstructorSession:
    """A signed-in instructor: the token holder (`scope` None: every record) or an LTI launch
    (only the records of `scope`)."""

    id: str
    scope: RecordScope | None
    expires: int


class Sessions:
    """Instructor sessions as signed cookies, their CSRF tokens, and sign-out."""

    def __init__(self, secret: str, recorder: Recorder, token: str, seconds: int = SESSION_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self.seconds = seconds
        self.clock = clock
        self.recorder = recorder
        # The instructor token's digest in the purpose: a new token (one that leaked, say) ends
        # every session signed under the old one, on every replica.
        purpose = f"{INSTRUCTOR_SESSION}:{hashlib.sha256(token.encode()).hexdigest()}"
        self._cookies = Signer(secret, purpose, clock)
        self._csrf = Signer(secret, INSTRUCTOR_CSRF, clock)
        # Sessions signed out on this replica (id -> expiry): revocation holds here while the
        # database cannot be reached.
        self._revoked: dict[str, float] = {}
        self._lock = threading.Lock()

    def start(self, scope: RecordScope | None) -> str:
        """A new session's cookie value: a random id, its kind and scope, and an expiry."""
        kept = None if scope is None else [scope.case_id, scope.platform, scope.course]
        return self._cookies.sign({"sid": secrets.token_urlsafe(24), "kind": "token" if scope is None
                                   else "lti", "scope": kept}, self.seconds)

    def read(self, value: str) -> InstructorSession | None:
        """The session of a cookie value; None when forged, expired, malformed or signed out."""
        payload = self._cookies.read(value) if value else None
        if payload is None:
            return None
        sid, kind, kept = payload.get("sid"), payload.get("kind"), payload.get("scope")
        if not isinstance(sid, str) or kind not in ("token", "lti"):
            return None
        if kind == "token":
            scope = None
        elif isinstance(kept, list) and len(kept) == 3 and all(isinstance(v, str) for v in kept):
            scope = RecordScope(*kept)
        else:
            return None
        if self.revoked(sid):
            return None
        return InstructorSession(sid, scope, int(payload["exp"]))

    def revoked(self, sid: str) -> bool:
        """Whether a session was signed out, here or (the database says) on another replica."""
        with self._lock:
            if sid in self._revoked:
                return True
        if self.recorder.store is None:
            return False
        try:
            return self.recorder.store.is_revoked(sid)
        except Exception as error:  # the database is down: this replica's own sign-outs still hold
            log.warning("could not check signed-out sessions: %s", error)
            return False

    def revoke(self, session: InstructorSession) -> None:
        """Sign a session out on this replica at once, and on every replica through the database."""
        now = self.clock()
        with self._lock:
            self._revoked = {sid: end for sid, end in self._revoked.items() if end >= now}
            self._revoked[session.id] = session.expires
        if self.recorder.store is None:
            return
        try:
            self.recorder.store.revoke_session(session.id, datetime.fromtimestamp(session.expires, UTC))
        except Exception as error:
            log.error("could not record a sign-out in the database (held on this replica): %s", error)

    def csrf(self, session: InstructorSession) -> str:
        """The CSRF token of a session's forms."""
        return self._csrf.sign({"sid": session.id}, self.seconds)

    def csrf_ok(self, session: InstructorSession, token: str) -> bool:
        """Whether `token` is this session's CSRF token."""
        payload = self._csrf.read(token)
        return payload is not None and payload.get("sid") == session.id


def same_origin(request: Request) -> bool:
    """Whether a state-changing request comes from this site's own pages: a browser's
    Sec-Fetch-Site, else its Origin, must say so (a request with neither is not a browser's)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True
    # The host only: behind a TLS-terminating proxy the page is https and this request http.
    return (urlsplit(origin).hostname or "") == (request.url.hostname or "").lower()


def bearer_ok(request: Request, token: str) -> bool:
    """Whether the request carries `Authorization: Bearer <token>`."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode())


# --- HTML ------------------------------------------------------------------------------------------

# Bar sizes as classes: .h0-.h20 (heights) and .w0-.w20 (widths), in steps of 5% (the CSP allows
# no style attributes).
LEVELS = 20
STYLE = (TEMPLATES / "instructor.css").read_text(encoding="utf-8") + "".join(
    f".h{i} {{ height: {i * 100 // LEVELS}%; }} .w{i} {{ width: {i * 100 // LEVELS}%; }}\n"
    for i in range(LEVELS + 1))
SCRIPT = (TEMPLATES / "instructor.js").read_text(encoding="utf-8")


def _digest(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


# The only stylesheet and the only script are the two above, allowed by their hashes: no injected
# markup can style or script the page; forms post to this server only.
PAGE_CSP = (f"default-src 'none'; style-src 'sha256-{_digest(STYLE)}'; "
            f"script-src 'sha256-{_digest(SCRIPT)}'; img-src 'self' data:; form-action 'self'; "
            "base-uri 'none'")
EXCERPT_CHARS = 140


@lru_cache(maxsize=1)
def _templates() -> Environment:
    """The instructor pages' templates: autoescape on (every record is a student's text), an
    undefined name is an error."""
    return Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True,
                       undefined=StrictUndefined)


def _render(template: str, **values: Any) -> str:
    # The stylesheet and script are this module's own constants (the page's CSP hashes them), so
    # the templates insert them unescaped; everything else is escaped.
    return _templates().get_template(template).render(style=STYLE, script=SCRIPT, **values)


def login_page(error: str = "") -> str:
    """The login form: the token is posted in the body, never placed in a URL."""
    return _render("instructor_login.html", error=error)


def _level(count: int, peak: int) -> int:
    """A count as one of LEVELS + 1 bar sizes."""
    if not count or not peak:
        return 0
    return max(1, round(LEVELS * count / peak))


@dataclass(frozen=True)
class ParagraphRow:
    """One paragraph of the case on the dashboard: where it is, how often answers cited it."""

    number: int
    label: str
    section: str
    page: str
    excerpt: str
    count: int
    level: int
    questions: tuple[str, ...]


def paragraph_rows(paragraphs: list[Paragraph], cited: tuple[ParagraphUse, ...]
                   ) -> list[tuple[str, list[ParagraphRow]]]:
    """The case's paragraphs in order, by section, each with its citations' count and questions."""
    uses = {use.paragraph: use for use in cited}
    peak = max((use.count for use in cited), default=0)
    sections: list[tuple[str, list[ParagraphRow]]] = []
    for paragraph in paragraphs:
        use = uses.get(paragraph.number)
        text = " ".join(s.text for s in paragraph.sentences)
        excerpt = text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS].rstrip() + "…"
        count = use.count if use else 0
        if not sections or sections[-1][0] != paragraph.section:
            sections.append((paragraph.section, []))
        sections[-1][1].append(ParagraphRow(paragraph.number, paragraph.label, paragraph.section,
                                            paragraph.page, excerpt, count, _level(count, peak),
                                            use.questions if use else ()))
    return sections


def dashboard_page(insight: CaseInsight | None, cases: list[str], selected: str, csrf: str,
                   paragraphs: list[Paragraph] | None = None) -> str:
    """The dashboard for one case (`insight` None when no case exists yet); `csrf` goes with the
    sign-out form; `paragraphs` are the case as read (None when it is not ingested)."""
    values: dict[str, Any] = {"insight": insight, "cases": cases, "selected": selected, "csrf": csrf,
                              "sections": [], "unmapped": 0}
    if insight is not None:
        peak = max((count for _, count in insight.per_day), default=0)
        total = sum(count for _, count in insight.channels)
        shown = {p.number for p in paragraphs or []}
        values.update(
            declined_share=f"{insight.abstained / insight.total:.0%}" if insight.total else "–",
            days=[(day, count, _level(count, peak)) for day, count in insight.per_day],
            peak=peak, day_total=sum(count for _, count in insight.per_day),
            channels=[(name, count, _level(count, total), f"{count / total:.0%}" if total else "")
                      for name, count in insight.channels],
            channel_total=total,
            sections=paragraph_rows(paragraphs or [], insight.cited),
            # Cited paragraphs the case no longer has (it was read again since): counted, not shown.
            unmapped=sum(use.count for use in insight.cited if use.paragraph not in shown)
            if paragraphs is not None else 0,
            case_read=paragraphs is not None)
    return _render("instructor_dashboard.html", **values)


# --- routes ----------------------------------------------------------------------------------------

def _html(content: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(content, status_code=status, headers={
        "content-security-policy": PAGE_CSP, "cache-control": "no-store", "referrer-policy": "no-referrer"})


def _export(recorder: Recorder, case: str | None, fmt: str, abstained: bool | None,
            rating: str | None, scope: RecordScope | None) -> Response:
    if fmt not in FORMATS:
        raise _Error(422, f"format must be one of {', '.join(FORMATS)}")
    if rating is not None and rating not in ("up", "down"):
        raise _Error(422, "rating must be up or down")
    if recorder.store is None:
        raise _Error(404, "Questions are not recorded (CASEBOT_LOG_QUESTIONS=off).")
    rows = recorder.store.answers(case or None, abstained=abstained, rating=rating, scope=scope)
    name = f"casebot-questions-{case or 'all'}.{fmt}"
    return StreamingResponse(export_lines(rows, fmt), media_type=MEDIA_TYPES[fmt], headers={
        "content-disposition": f'attachment; filename="{name}"', "cache-control": "no-store"})


def records_router(recorder: Recorder, instructor_token: str, cases: Callable[[], list[str]],
                   encoder: Encoder | None, *, secret: str, api_token: str = "",
                   storage: str = "memory://", feedback_limiter: QuestionLimiter | None = None,
                   load_case: Callable[[str], LoadedCase] | None = None,
                   default_case: Callable[[], str] | None = None) -> APIRouter:
    """The feedback, export and dashboard routes (include it before the /api/v1 catch-all).

    `secret` signs the sessions; failed sign-ins are counted in `storage`; `feedback_limiter`
    counts ratings per client (`api_token` names a trusted backend's clients, as for questions).
    `load_case` gives the dashboard a case's paragraphs to map the citations onto, and the
    dashboard of the token holder opens on `default_case()` (CASEBOT_DEFAULT_CASE's rule)."""
    router = APIRouter()
    sessions = Sessions(secret, recorder, instructor_token)
    failures = FailureThrottle(storage=storage)

    def throttled(limited: RateLimited) -> _Error:
        return _Error(429, str(limited), headers={"Retry-After": str(limited.retry_after)})

    def address(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    def check_failures(request: Request) -> None:
        try:
            failures.check(address(request))
        except RateLimited as limited:
            raise throttled(limited) from None
        except RateLimitStoreError as error:
            log.error("%s", error)
            raise _Error(503, "The rate-limit store is not reachable; try again in a moment.") from None

    @router.post("/api/v1/feedback", tags=["api"], response_model=FeedbackOut,
                 summary="Rate an answer (thumbs up or down, optional comment)",
                 responses={404: {"description": "unknown answer_id, or records are off"},
                            422: {"description": "bad rating or comment"},
                            429: {"description": "too many ratings from this client"}})
    async def feedback(body: FeedbackIn, request: Request) -> Any:
        """Keep a student's rating of the answer with this `answer_id`."""
        if feedback_limiter is not None:
            try:
                who = api_client(address(request), request.headers, api_token)
            except ValueError as error:
                raise _Error(422, str(error)) from None
            try:
                feedback_limiter.check(who)
            except RateLimited as limited:
                raise throttled(limited) from None
            except RateLimitStoreError as error:
                log.error("%s", error)
                raise _Error(503, "The rate-limit store is not reachable; try again in a moment.") \
                    from None
        if body.comment and lone_surrogate(body.comment):
            # The records would keep it cleaned; a client sending it is told, as for a question.
            raise _Error(422, "comment holds a lone surrogate, which is not text")
        try:
            await anyio.to_thread.run_sync(recorder.feedback, body.answer_id, body.rating, body.comment)
        except FeedbackError as error:
            raise _Error(422, str(error)) from None
        except UnknownAnswerError:
            raise _Error(404, "No answer with that answer_id is recorded.") from None
        except Exception as error:
            log.error("storing feedback failed: %s", error)
            raise _Error(503, "The records database is not reachable; try again later.") from None
        return FeedbackOut()

    @router.get("/api/v1/instructor/questions", tags=["instructor"],
                summary="Export the recorded questions as a question set",
                responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}}},
                           401: {"description": "missing or wrong instructor token"},
                           404: {"description": "no instructor token configured"},
                           429: {"description": "too many wrong tokens from this address"}})
    async def export(request: Request, case: str | None = Query(None, description="case id"),
                     fmt: str = Query("jsonl", alias="format", description="jsonl or csv"),
                     abstained: bool | None = Query(None, description="only declined (true) or "
                                                    "answered (false) questions"),
                     rating: str | None = Query(None, description="only answers rated up or down"),
                     ) -> Response:
        """Rows in the question-set format plus what happened; `Authorization: Bearer <token>`."""
        if not instructor_token:
            raise _Error(404, "The instructor API is off: set CASEBOT_INSTRUCTOR_TOKEN.")
        check_failures(request)
        if not bearer_ok(request, instructor_token):
            failures.failed(address(request))
            raise HTTPException(401, "Missing or wrong instructor token: send 'Authorization: "
                                "Bearer <CASEBOT_INSTRUCTOR_TOKEN>'.",
                                headers={"www-authenticate": 'Bearer realm="casebot-instructor"'})
        return await anyio.to_thread.run_sync(_export, recorder, case, fmt, abstained, rating, None)

    def off() -> None:
        if not instructor_token:
            raise _Error(404, "Not Found")

    def signed_in(request: Request) -> InstructorSession | None:
        return sessions.read(request.cookies.get(COOKIE, ""))

    @router.get("/instructor", include_in_schema=False, response_model=None)
    async def dashboard(request: Request, case: str | None = None, lti_ticket: str = "") -> Response:
        off()
        if lti_ticket:
            return await _redeem(request, lti_ticket)
        session = await anyio.to_thread.run_sync(signed_in, request)
        if session is None:
            return _html(login_page())
        if session.scope is not None:
            # An LTI session sees its own case only, whatever the URL asks for.
            known, selected = [session.scope.case_id], session.scope.case_id
        else:
            known = await anyio.to_thread.run_sync(_known_cases, recorder, cases)
            selected = case if case in known else await anyio.to_thread.run_sync(
                _opening_case, known, default_case)
        insight = None
        if selected and recorder.store is not None:
            try:
                insight = await anyio.to_thread.run_sync(case_insight, recorder.store, selected, encoder,
                                                         session.scope)
            except Exception as error:
                log.error("reading the records failed: %s", error)
                return _html(_render("instructor_message.html", message="The records database is "
                                     "not reachable right now. Try again in a moment."), status=503)
        read = await anyio.to_thread.run_sync(_case_as_read, load_case, selected) if insight else None
        return _html(dashboard_page(insight, known, selected, sessions.csrf(session), read))

    async def _redeem(request: Request, ticket: str) -> Response:
        """An instructor arriving from an LTI launch: a single-use ticket opens a session scoped
        to the launch's case, platform and course."""
        from bot.lti.routes import accept_instructor_ticket

        tool = getattr(request.app.state, "lti", None)
        grant = await anyio.to_thread.run_sync(accept_instructor_ticket, tool, ticket) if tool else None
        if grant is None:
            return _html(login_page("That link from your course portal has been used or has expired: "
                                    "launch casebot from the course again."), status=401)
        scope = RecordScope(grant.case_id, grant.issuer, grant.course)
        return _signed_in(request, f"/instructor?case={quote(grant.case_id)}", scope)

    def _signed_in(request: Request, location: str, scope: RecordScope | None) -> Response:
        response = RedirectResponse(location, status_code=303)
        response.set_cookie(COOKIE, sessions.start(scope), max_age=SESSION_SECONDS,
                            httponly=True, samesite="lax", secure=request.url.scheme == "https",
                            path="/")
        return response

    @router.post("/instructor/login", include_in_schema=False, response_model=None)
    async def login(request: Request, token: str = Form("")) -> Response:
        off()
        try:
            check_failures(request)
        except _Error as error:
            # The form again, with the reason (and Retry-After when throttled).
            response = _html(login_page(str(error.detail)), status=error.status_code)
            response.headers.update(error.headers or {})
            return response
        if not hmac.compare_digest(token.strip().encode(), instructor_token.encode()):
            log.warning("failed instructor sign-in")
            failures.failed(address(request))
            return _html(login_page("That token is not right."), status=401)
        return _signed_in(request, "/instructor", None)

    @router.post("/instructor/logout", include_in_schema=False, response_model=None)
    async def logout(request: Request, csrf: str = Form("")) -> Response:
        off()
        session = await anyio.to_thread.run_sync(signed_in, request)
        if session is None:
            return RedirectResponse("/instructor", status_code=303)
        if not same_origin(request) or not sessions.csrf_ok(session, csrf):
            raise _Error(403, "Sign out from the dashboard's own Sign out button.")
        await anyio.to_thread.run_sync(sessions.revoke, session)
        response = RedirectResponse("/instructor", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax",
                               secure=request.url.scheme == "https")
        return response

    @router.get("/instructor/export", include_in_schema=False, response_model=None)
    async def dashboard_export(request: Request, case: str | None = None, format: str = "jsonl",
                               abstained: bool | None = None, rating: str | None = None) -> Response:
        off()
        session = await anyio.to_thread.run_sync(signed_in, request)
        if session is None:
            return RedirectResponse("/instructor", status_code=303)
        if session.scope is not None:
            case = session.scope.case_id
        return await anyio.to_thread.run_sync(_export, recorder, case, format, abstained, rating,
                                              session.scope)

    return router


def _opening_case(known: list[str], default_case: Callable[[], str] | None) -> str:
    """The case a dashboard opens on when the URL names none it knows: the default case, else the
    first known one."""
    if default_case is not None:
        try:
            chosen = default_case()
        except LookupError:  # no default case (several cases, none configured): the first one
            chosen = ""
        if chosen in known:
            return chosen
    return known[0] if known else ""


def _case_as_read(load_case: Callable[[str], LoadedCase] | None, case_id: str) -> list[Paragraph] | None:
    """The case's paragraphs as the reader shows them; None when it is not ingested (the records
    outlive a removed case) or the index cannot be read now."""
    if load_case is None:
        return None
    try:
        return paragraphs(load_case(case_id), 0, set())
    except LookupError:
        return None
    except Exception as error:  # the index may be down; the records still show
        log.warning("reading case %s failed: %s", case_id, error)
        return None


def _known_cases(recorder: Recorder, cases: Callable[[], list[str]]) -> list[str]:
    """The ingested cases, then any others that have records, in that order."""
    known: list[str] = []
    try:
        known = list(cases())
    except Exception as error:  # the index may be down; the records still show
        log.warning("listing the cases failed: %s", error)
    if recorder.store is not None:
        try:
            known += [c for c, _ in recorder.store.cases() if c not in known]
        except Exception as error:
            log.error("reading the records failed: %s", error)
    return known
