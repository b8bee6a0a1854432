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

Without an instructor token configured, the dashboard and the export answer 404. Pages are plain
server-rendered HTML (every value escaped) with one inline stylesheet allowed by its hash and no
script, so the Content-Security-Policy forbids scripts outright.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import anyio
from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from bot.answer import lone_surrogate
from bot.errors import FeedbackError, UnknownAnswerError
from bot.records import Recorder, RecordScope
from bot.records.export import FORMATS, export_lines
from bot.records.insight import CaseInsight, Encoder, QuestionGroup, case_insight
from bot.records.repository import MAX_COMMENT_CHARS
from bot.web.ratelimit import (
    FailureThrottle,
    QuestionLimiter,
    RateLimited,
    RateLimitStoreError,
    api_client,
)
from bot.web.signing import INSTRUCTOR_CSRF, INSTRUCTOR_SESSION, Signer

log = logging.getLogger("casebot.instructor")

COOKIE = "casebot_instructor"
SESSION_SECONDS = 8 * 3600
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

def esc(value: Any) -> str:
    """Text escaped for HTML content and attributes."""
    return html.escape(str(value), quote=True)


STYLE = """
:root { color-scheme: light; --ink: #1d2433; --muted: #5b6475; --line: #e3e6ec; --accent: #2b59c3;
  --bad: #b42318; --bg: #f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: var(--bg); }
header { background: #fff; border-bottom: 1px solid var(--line); padding: 12px 16px; display: flex;
  flex-wrap: wrap; gap: 8px 16px; align-items: center; justify-content: space-between; }
header h1 { font-size: 18px; margin: 0; }
header form { margin: 0; display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
main { max-width: 1100px; margin: 0 auto; padding: 16px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px; }
.card, section { background: #fff; border: 1px solid var(--line); border-radius: 10px; }
.card { padding: 12px 14px; }
.card .k { color: var(--muted); font-size: 13px; }
.card .v { font-size: 26px; font-weight: 650; }
section { margin-top: 16px; padding: 14px 16px; overflow: hidden; }
section h2 { font-size: 16px; margin: 0 0 10px; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 0 16px; }
@media (max-width: 760px) { .grid2 { grid-template-columns: 1fr; } main { padding: 10px; } }
ol.groups { list-style: none; margin: 0; padding: 0; }
ol.groups li { padding: 8px 0; border-top: 1px solid var(--line); display: flex; gap: 10px; }
ol.groups li:first-child { border-top: 0; }
.count { min-width: 2.4em; text-align: center; font-weight: 650; background: #eef2fb; color: var(--accent);
  border-radius: 6px; padding: 1px 6px; height: fit-content; }
.declined .count { background: #fdeceb; color: var(--bad); }
.q { overflow-wrap: anywhere; }
.alt { color: var(--muted); font-size: 13px; overflow-wrap: anywhere; }
.down { border-top: 1px solid var(--line); padding: 10px 0; }
.down:first-of-type { border-top: 0; }
.down .a { color: var(--muted); font-size: 14px; margin: 4px 0; overflow-wrap: anywhere; }
.down .c { border-left: 3px solid var(--bad); padding-left: 8px; overflow-wrap: anywhere; }
.meta { color: var(--muted); font-size: 12px; }
.daychart { display: flex; gap: 6px; }
.yaxis { display: flex; flex-direction: column; justify-content: space-between; height: 160px;
  color: var(--muted); font-size: 12px; text-align: right; min-width: 1.5em; }
.plot { flex: 1; min-width: 0; }
.bars { display: flex; align-items: flex-end; gap: 2px; height: 160px; border-bottom: 1px solid #c9ced8;
  background: linear-gradient(#e3e6ec 1px, transparent 1px) 0 0 / 100% 50%; }
.col { flex: 1; height: 100%; display: flex; align-items: flex-end; min-width: 0; }
.bar { width: 100%; background: var(--accent); border-radius: 2px 2px 0 0; }
.xlabels { display: flex; justify-content: space-between; color: var(--muted); font-size: 12px;
  margin-top: 4px; }
.chan { display: flex; align-items: center; gap: 8px; margin: 6px 0; font-size: 13px; }
.chan .name { width: 3.6em; text-align: right; color: var(--muted); }
.chan .track { flex: 1; height: 14px; background: #eef0f4; border-radius: 4px; overflow: hidden; }
.chan .fill { display: block; height: 100%; background: var(--accent); }
.chan .num { min-width: 5.5em; color: var(--muted); }
.empty { color: var(--muted); }
select, input, button { font: inherit; padding: 6px 10px; border: 1px solid #c9ced8; border-radius: 8px;
  background: #fff; max-width: 100%; }
button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; }
button.secondary { background: #fff; color: var(--ink); border-color: #c9ced8; }
.login { max-width: 380px; margin: 12vh auto; background: #fff; border: 1px solid var(--line);
  border-radius: 12px; padding: 22px; }
.login h1 { font-size: 20px; margin: 0 0 6px; }
.login label { display: block; margin: 14px 0 6px; font-weight: 600; }
.login input { width: 100%; }
.login button { margin-top: 14px; width: 100%; }
.error { color: var(--bad); margin: 10px 0 0; }
.links a { color: var(--accent); margin-right: 12px; }
"""
# Bar sizes as classes: .h0-.h20 (heights) and .w0-.w20 (widths), in steps of 5%.
LEVELS = 20
STYLE += "".join(f".h{i} {{ height: {i * 100 // LEVELS}%; }} .w{i} {{ width: {i * 100 // LEVELS}%; }}\n"
                 for i in range(LEVELS + 1))
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
# No script may run; the only stylesheet is the one above; forms post to this server only.
PAGE_CSP = (f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; img-src 'self' data:; "
            "form-action 'self'; base-uri 'none'")


def page(title: str, body: str) -> str:
    """A whole HTML page around `body` (already escaped markup)."""
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta name=\"robots\" content=\"noindex\">"
            f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>{body}</body></html>")


def login_page(error: str = "") -> str:
    """The login form: the token is posted in the body, never placed in a URL."""
    message = f'<p class="error" role="alert">{esc(error)}</p>' if error else ""
    return page("casebot · instructor sign-in", (
        '<form class="login" method="post" action="/instructor/login">'
        "<h1>Instructor dashboard</h1>"
        '<p class="meta">What students ask casebot, what it declined, and what they rated down.</p>'
        '<label for="token">Instructor token</label>'
        '<input id="token" name="token" type="password" autocomplete="current-password" required '
        'autofocus>'
        f"{message}<button type=\"submit\">Sign in</button></form>"))


def _level(count: int, peak: int) -> int:
    """A count as one of LEVELS + 1 bar sizes (CSS classes: the CSP allows no style attributes)."""
    if not count or not peak:
        return 0
    return max(1, round(LEVELS * count / peak))


def day_chart(per_day: tuple[tuple[date, int], ...]) -> str:
    """Questions per day as a bar chart of plain HTML boxes (text stays readable at any width)."""
    if not per_day:
        return '<p class="empty">No questions yet.</p>'
    peak = max(count for _, count in per_day)
    total = sum(count for _, count in per_day)
    bars = "".join(
        f'<div class="col" title="{esc(day.isoformat())}: {count}">'
        f'<div class="bar h{_level(count, peak)}"></div></div>' for day, count in per_day)
    middle = per_day[len(per_day) // 2][0]
    labels = "".join(f"<span>{esc(day.strftime('%b %d'))}</span>"
                     for day in (per_day[0][0], middle, per_day[-1][0]))
    return (f'<div class="daychart" role="img" aria-label="Questions per day over the last '
            f'{len(per_day)} days: {total} in all, at most {peak} a day">'
            f'<div class="yaxis"><span>{peak}</span><span>0</span></div>'
            f'<div class="plot"><div class="bars">{bars}</div><div class="xlabels">{labels}</div></div>'
            "</div>")


def channel_chart(channels: tuple[tuple[str, int], ...]) -> str:
    """One horizontal bar per channel, with its count and share."""
    total = sum(count for _, count in channels)
    if not total:
        return '<p class="empty">No questions yet.</p>'
    rows = "".join(
        f'<div class="chan"><span class="name">{esc(name)}</span><span class="track">'
        f'<span class="fill w{_level(count, total)}"></span></span>'
        f'<span class="num">{count} · {count / total:.0%}</span></div>' for name, count in channels)
    return f'<div class="channels" role="img" aria-label="Questions by channel">{rows}</div>'


def group_list(groups: tuple[QuestionGroup, ...], empty: str, css: str = "") -> str:
    """Groups of questions as a list: count, most common wording, a few other wordings."""
    if not groups:
        return f'<p class="empty">{esc(empty)}</p>'
    items = []
    for group in groups:
        alt = (f'<div class="alt">also: {" · ".join(esc(e) for e in group.examples)}</div>'
               if group.examples else "")
        items.append(f'<li><span class="count">{group.count}</span><div><div class="q">'
                     f"{esc(group.label)}</div>{alt}</div></li>")
    return f'<ol class="groups {css}">{"".join(items)}</ol>'


def _short(text: str, limit: int = 320) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def dashboard_page(insight: CaseInsight | None, cases: list[str], selected: str, csrf: str) -> str:
    """The dashboard for one case (`insight` None when no case exists yet); `csrf` goes with the
    sign-out form."""
    options = "".join(f'<option value="{esc(c)}"{" selected" if c == selected else ""}>{esc(c)}</option>'
                      for c in cases)
    head = ('<header><h1>casebot · instructor</h1>'
            '<form method="get" action="/instructor"><label for="case" class="meta">Case</label>'
            f'<select id="case" name="case">{options}</select>'
            '<button type="submit" class="secondary">Show</button></form>'
            '<form method="post" action="/instructor/logout">'
            f'<input type="hidden" name="csrf" value="{esc(csrf)}">'
            '<button type="submit" class="secondary">Sign out</button></form></header>')
    if insight is None:
        return page("casebot · instructor", head + '<main><p class="empty">No case and no questions '
                    "yet.</p></main>")
    declined_share = f"{insight.abstained / insight.total:.0%}" if insight.total else "–"
    cards = "".join(f'<div class="card"><div class="k">{esc(k)}</div><div class="v">{esc(v)}</div></div>'
                    for k, v in (("Questions", insight.total), ("Declined", declined_share),
                                 ("Rated up", insight.rated_up), ("Rated down", insight.rated_down),
                                 ("Conversations", insight.sessions)))
    downs = "".join(
        f'<div class="down"><div class="q"><b>{esc(d.question)}</b></div>'
        f'<div class="a">{esc(_short(d.answer))}</div>'
        + (f'<div class="c">{esc(d.comment)}</div>' if d.comment else '<div class="meta">no comment</div>')
        + f'<div class="meta">{esc(d.asked_at.strftime("%Y-%m-%d %H:%M"))} UTC · {esc(d.channel)}</div></div>'
        for d in insight.down) or '<p class="empty">No answer rated down.</p>'
    note = (f'<p class="meta">Grouped over the newest {sum(c for _, c in insight.channels)} of '
            f"{insight.total} questions.</p>" if insight.truncated else "")
    case = esc(insight.case_id)
    body = (
        f"{head}<main><div class=\"cards\">{cards}</div>"
        f'<section><h2>Questions per day, last {len(insight.per_day)} days</h2>'
        f"{day_chart(insight.per_day)}</section>"
        '<div class="grid2">'
        f'<section><h2>Most asked, grouped by meaning</h2>{note}'
        f'{group_list(insight.groups, "No questions yet.")}</section>'
        '<section><h2>Declined: what the case or the bot does not cover</h2>'
        f'{group_list(insight.declined, "No question was declined.", "declined")}</section></div>'
        f'<section><h2>Answers rated down</h2>{downs}</section>'
        '<div class="grid2">'
        f'<section><h2>Usage by channel</h2>{channel_chart(insight.channels)}</section>'
        '<section><h2>Export as a question set</h2><p class="links">'
        f'<a href="/instructor/export?case={case}&amp;format=jsonl">All (JSONL)</a>'
        f'<a href="/instructor/export?case={case}&amp;format=csv">All (CSV)</a>'
        f'<a href="/instructor/export?case={case}&amp;format=jsonl&amp;abstained=true">Declined</a>'
        f'<a href="/instructor/export?case={case}&amp;format=jsonl&amp;rating=down">Rated down</a></p>'
        '<p class="meta">Run an export with <code>casebot eval FILE</code>; fill in '
        "<code>answerable</code>, <code>must_include</code> and <code>expected_paragraphs</code> to "
        "score it.</p></section></div></main>")
    return page(f"casebot · instructor · {insight.case_id}", body)


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
                   storage: str = "memory://", feedback_limiter: QuestionLimiter | None = None
                   ) -> APIRouter:
    """The feedback, export and dashboard routes (include it before the /api/v1 catch-all).

    `secret` signs the sessions; failed sign-ins are counted in `storage`; `feedback_limiter`
    counts ratings per client (`api_token` names a trusted backend's clients, as for questions)."""
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
            selected = case if case in known else (known[0] if known else "")
        insight = None
        if selected and recorder.store is not None:
            try:
                insight = await anyio.to_thread.run_sync(case_insight, recorder.store, selected, encoder,
                                                         session.scope)
            except Exception as error:
                log.error("reading the records failed: %s", error)
                return _html(page("casebot · instructor", '<main><p class="error">The records '
                                  "database is not reachable right now. Try again in a moment.</p>"
                                  "</main>"), status=503)
        return _html(dashboard_page(insight, known, selected, sessions.csrf(session)))

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
