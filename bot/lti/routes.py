"""LTI 1.3 endpoints of `casebot serve`: `GET /lti/jwks`, `GET|POST /lti/login`, `POST /lti/launch`
and the deep-linking picker (`POST /lti/deep-link`), plus the middleware that lets the registered
platforms frame the pages and the rate-limit key of a launched chat.

A resource link launch answers with a small page framing the embeddable chat
(`/embed/?case=ID&lti=SESSION`): the signed launch session rides in the URL because a portal's
iframe often has third-party cookies blocked. Gradio's client repeats the page's query on the
requests that start an event, so the chat reads the user when the page loads and keeps it in the
session's state, which the rate limiter and the records use.
Instructors launching from a course (an LTI context) also get a link to
`/instructor?case=ID&lti_ticket=T`, a single-use ticket the dashboard redeems with
`accept_instructor_ticket` into a session that sees that course's records of that case only.

The deep-linking picker posts back a choice signed by the server (bot.web.signing): the launch URL
placed in the platform's course is the one the server computed, never one taken from the form.
Logins are throttled per address (CASEBOT_RATE_LIMIT_IP). With CASEBOT_ACCESS=lti,
`LtiOnlyMiddleware` keeps the chat pages and Gradio's endpoints for launched sessions.

Every failure is an HTML page with a 4xx status saying what failed; nothing else happens.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from bot.errors import DatabaseError, LtiError
from bot.lti import models as records
from bot.lti.tool import DEEP_LINK_TTL, DEEP_LINKING_REQUEST, LtiTool, LtiUser, ToolKeys
from bot.settings import Settings
from bot.web.ratelimit import Client, QuestionLimiter, RateLimited, RateLimitStoreError
from bot.web.security import ASGIApp, Message, Receive, Scope, Send
from bot.web.signing import DEEP_LINK, Signer

log = logging.getLogger("casebot.lti")

CaseTitles = Callable[[], dict[str, str]]
# What a person sees when the records database (which holds the LTI state) cannot be used.
DATABASE_DOWN = LtiError(503, "The course tool's database is not reachable right now; try again in "
                         "a moment.")
# A picker choice lives as long as the deep-linking request it answers.
DEEP_LINK_SECONDS = int(DEEP_LINK_TTL.total_seconds())



@cache
def _templates() -> Any:
    """The LTI pages' Jinja2 templates (bot/lti/templates), escaping every value put in them."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(loader=PackageLoader("bot.lti", "templates"), autoescape=True,
                       undefined=StrictUndefined)


def page(template: str, status: int = 200, **values: Any) -> HTMLResponse:
    """One of the LTI pages, rendered with `values` (escaped by the template), never cached."""
    return HTMLResponse(_templates().get_template(template).render(**values), status_code=status,
                        headers={"Cache-Control": "no-store"})


def error_page(error: LtiError | DatabaseError, headers: dict[str, str] | None = None) -> HTMLResponse:
    """The 4xx page of a failed LTI step, saying what failed; 503 when the database failed (its
    details, which name hosts, go to the log only)."""
    if isinstance(error, DatabaseError):
        log.error("LTI request failed: %s", error)
        error = DATABASE_DOWN
    response = page("error.html", error.status, message=error.message)
    response.headers.update(headers or {})
    return response


def records_engine(settings: Settings) -> Any:
    """The records database engine: `database_url`, else `<data_dir>/records.sqlite3`."""
    from bot.records.database import default_database_url, open_engine

    return open_engine(settings.database_url or default_database_url(settings.data_dir))


def build_tool(settings: Settings, secret: str, engine: Any | None = None) -> LtiTool:
    """The LTI tool over the settings' records database and `<data_dir>/lti/` keys; `secret`
    signs its launch sessions."""
    engine = engine if engine is not None else records_engine(settings)
    return LtiTool(engine, ToolKeys(Path(settings.data_dir) / "lti", engine), secret=secret)


def accept_instructor_ticket(tool: LtiTool, ticket: str) -> records.InstructorGrant | None:
    """For the instructor dashboard: redeem `?lti_ticket=` (single use) into a grant for one case."""
    return records.redeem_instructor_ticket(tool.database(), ticket)


def lti_router(tool: LtiTool, case_titles: CaseTitles,
               login_limiter: QuestionLimiter | None = None) -> APIRouter:
    """The /lti routes over `tool`; `case_titles` lists the ingested cases (id -> title);
    `login_limiter` counts logins per address."""
    router = APIRouter(prefix="/lti", tags=["lti"])
    choices = Signer(tool.secret, DEEP_LINK, tool.clock)

    @router.get("/jwks", summary="The tool's public keys (JWKS)", response_model=None)
    async def jwks() -> JSONResponse:
        try:
            keys = await run_in_threadpool(tool.jwks)
        except DatabaseError as error:
            log.error("cannot publish the LTI keys: %s", error)
            return JSONResponse({"error": DATABASE_DOWN.message}, status_code=503,
                                headers={"Retry-After": "30"})
        return JSONResponse(keys, headers={"Cache-Control": "public, max-age=300"})

    @router.api_route("/login", methods=["GET", "POST"], summary="OIDC third-party initiated login",
                      response_model=None)
    async def login(request: Request) -> Response:
        if login_limiter is not None:
            try:
                login_limiter.check(Client(ip=request.client.host if request.client else "unknown"))
            except RateLimited as limited:
                return error_page(LtiError(429, str(limited)), {"Retry-After": str(limited.retry_after)})
            except RateLimitStoreError as error:
                log.error("%s", error)
                return error_page(LtiError(503, "The server cannot check its limits right now; try "
                                           "again in a moment."))
        params = {k: v for k, v in request.query_params.items()}
        if request.method == "POST":
            form = await request.form()
            params.update({k: str(v) for k, v in form.items()})
        try:
            url = await run_in_threadpool(tool.login, params, request.scope.get("root_path", ""),
                                          request.url.hostname)
        except (LtiError, DatabaseError) as error:
            return error_page(error)
        return RedirectResponse(url, status_code=302)

    @router.post("/launch", summary="LTI 1.3 launch (form post of id_token and state)",
                 response_model=None)
    async def launch(request: Request) -> Response:
        form = await request.form()
        try:
            return await run_in_threadpool(_launch, str(form.get("id_token", "") or ""),
                                           str(form.get("state", "") or ""), request.url.hostname)
        except LtiError as error:
            log.info("LTI launch refused: %s", error.message)
            return error_page(error)
        except DatabaseError as error:
            return error_page(error)

    def _launch(id_token: str, state: str, host: str | None) -> Response:
        launch = tool.verify_launch(id_token, state)
        titles = case_titles()
        if launch.message_type == DEEP_LINKING_REQUEST:
            if not launch.instructor:
                raise LtiError(403, "Only instructors can choose what to add to the course.")
            launch_url = own_launch_url(launch.target_link_uri, host)
            link = tool.start_deep_link(launch)
            # The choice and the launch URL signed together: the form can name neither another
            # deep-linking request's id nor another URL.
            return picker_page(lambda case_id: choices.sign(
                {"dl": link.id, "case": case_id, "url": launch_url}, DEEP_LINK_SECONDS), titles)
        case_id = launch.case_id()
        if not case_id:
            raise LtiError(400, "The launch names no case: set the custom parameter case=<case id> on "
                           "this activity (or add ?case=<case id> to its target link URI). Known "
                           f"cases: {', '.join(sorted(titles)) or 'none'}.")
        if case_id not in titles:
            raise LtiError(404, f"No case {case_id!r} here. Known cases: "
                           f"{', '.join(sorted(titles)) or 'none'}.")
        session = tool.session_token(launch, case_id) if launch.user else ""
        query = {"case": case_id, **({"lti": session} if session else {})}
        if str(launch.custom.get("mode", "") or "").strip().lower() == "guide":
            # The course link asks for hints only (custom parameter mode=guide): the chat reads it
            # into the session's state. Only CASEBOT_MODE=guide holds against a student who edits
            # the URL.
            query["mode"] = "guide"
        dashboard = ""
        # Only from a course: the dashboard shows that course's records, and a launch without
        # one would have none to show.
        if launch.instructor and launch.user and launch.course:
            ticket = tool.instructor_ticket(launch, case_id)
            dashboard = "../instructor?" + urlencode({"case": case_id, "lti_ticket": ticket})
        return page("launch.html", title=titles[case_id], chat="../embed/?" + urlencode(query),
                    dashboard=dashboard)

    @router.post("/deep-link", summary="Return the chosen case to the platform (deep linking)",
                 response_model=None)
    async def deep_link(request: Request) -> Response:
        form = await request.form()
        try:
            return await run_in_threadpool(_deep_link, str(form.get("choice", "") or ""))
        except (LtiError, DatabaseError) as error:
            return error_page(error)

    def _deep_link(signed: str) -> Response:
        choice = choices.read(signed)
        if choice is None:
            raise LtiError(400, "This choice is not one casebot offered, or it took too long: open "
                           "the tool selection again from the course.")
        case_id, launch_url = str(choice["case"]), str(choice["url"])
        titles = case_titles()
        if case_id not in titles:
            raise LtiError(400, f"No case {case_id!r} here. Known cases: {', '.join(sorted(titles))}.")
        link = records.take_deep_link(tool.database(), str(choice["dl"]))
        if link is None:
            raise LtiError(400, "This choice was already sent, or took too long: open the tool "
                           "selection again from the course.")
        token = tool.deep_link_response(link, case_id, titles[case_id], launch_url)
        return page("return.html", title=titles[case_id], return_url=link.return_url, token=token)

    return router


def own_launch_url(target_link_uri: str, host: str | None) -> str:
    """casebot's own launch URL, from the platform's signed target link URI (its scheme and root
    path survive a TLS-terminating proxy) once its host is the one this request reached."""
    if host and (urlsplit(target_link_uri).hostname or "").lower() != host.lower():
        raise LtiError(400, f"target_link_uri {target_link_uri!r} does not point at this tool ({host}).")
    origin = records.url_origin(target_link_uri)
    if not origin:
        raise LtiError(400, f"target_link_uri {target_link_uri!r} is not an absolute URL.")
    root = urlsplit(target_link_uri).path.rsplit("/lti/", 1)[0] if "/lti/" in target_link_uri else ""
    return f"{origin}{root}/lti/launch"


def picker_page(choice: Callable[[str], str], titles: dict[str, str]) -> HTMLResponse:
    """The deep-linking picker: one button per case, posting back the signed `choice(case_id)`."""
    cases = [{"id": case_id, "title": title, "choice": choice(case_id)}
             for case_id, title in sorted(titles.items(), key=lambda item: item[1].lower())]
    return page("picker.html", cases=cases)


def user_of_request(tool: LtiTool, request: Any) -> LtiUser | None:
    """The LTI user of a request (Starlette's or Gradio's): the launch session in its URL (`?lti=`).
    Gradio's client repeats the page's query on the requests that start an event, so the chat
    reads it when the page loads and keeps the user in the session's state."""
    return tool.user_from_query(dict(request.query_params))


class FrameAncestorsMiddleware:
    """Adds the registered platforms' origins to the CSP frame-ancestors of every HTML page."""

    def __init__(self, app: ASGIApp, origins: Callable[[], tuple[str, ...]]) -> None:
        self.app = app
        self.origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html"):
                    # Off the event loop: the origins come from the database (cached briefly).
                    message["headers"] = await run_in_threadpool(self._extend, headers)
            await send(message)

        await self.app(scope, receive, wrapped)

    def _extend(self, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        try:
            extra = self.origins()
        except Exception:  # the database being down must not take the pages with it
            log.warning("could not read the LTI platforms for frame-ancestors", exc_info=True)
            return headers
        out = []
        for name, value in headers:
            if name.lower() == b"content-security-policy" and value.startswith(b"frame-ancestors"):
                present = set(value.decode("latin-1").split())
                added = [o for o in extra if o not in present]
                value = b" ".join([value, *(o.encode("latin-1") for o in added)])
            out.append((name, value))
        return out


# Served to anyone under CASEBOT_ACCESS=lti: Gradio's scripts, styles and fonts hold no case text
# (and a stylesheet's own requests carry no launch session to check).
_ASSETS = re.compile(r"^(?:/embed)?/(?:(?:assets|static|svelte)/|(?:favicon\.ico|theme\.css)$)")
# Gradio's streams of a browser session's events and its heartbeat: they name only the session,
# and carry events only of what that session started (which took the launch session's `?lti=`).
_SESSION_STREAMS = re.compile(r"^(?:/embed)?/gradio_api/(?:queue/data|heartbeat/)")
# Routes that check who may use them themselves (the API through its token, LTI, the dashboard).
_OWN_CHECKS = ("/api/v1/", "/lti/", "/instructor", "/healthz", "/docs", "/openapi.json", "/gradio.js")
COURSE_ONLY = ("This casebot is for the students of a course: open it from the activity in your "
               "course portal.")


class LtiOnlyMiddleware:
    """CASEBOT_ACCESS=lti: the chat pages (/, /embed) and every Gradio endpoint behind them (its
    API, queue and files, under any mount) answer only a launched chat: a valid launch session in
    the URL (`?lti=`, which Gradio's client repeats on every request that starts an event). The
    streams of a session's events need none: they carry only what such a request started.
    Everyone else gets a notice: a page saying to open casebot from the course, or 403 JSON for
    anything but a page."""

    def __init__(self, app: ASGIApp, tool: LtiTool) -> None:
        self.app = app
        self.tool = tool
        self.notice = _templates().get_template("course_only.html").render(message=COURSE_ONLY).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] not in ("http", "websocket") or path.startswith(_OWN_CHECKS) \
                or _ASSETS.match(path) or _SESSION_STREAMS.match(path):
            await self.app(scope, receive, send)
            return
        from starlette.requests import HTTPConnection

        if user_of_request(self.tool, HTTPConnection(scope)) is not None:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v for k, v in scope.get("headers", [])}
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        page = scope.get("method") == "GET" and b"text/html" in headers.get("accept", b"")
        body = self.notice if page else json.dumps({"error": COURSE_ONLY}).encode()
        await send({"type": "http.response.start", "status": 403, "headers": [
            (b"content-type", b"text/html; charset=utf-8" if page else b"application/json"),
            (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": body})


def mount_lti(app: FastAPI, settings: Settings, case_titles: CaseTitles, secret: str) -> LtiTool:
    """Add the /lti routes to `app` (before any catch-all mount) and return the tool; `secret`
    signs launch sessions and deep-linking choices."""
    tool = build_tool(settings, secret)
    app.state.lti = tool
    logins = QuestionLimiter.from_settings("off", settings.rate_limit_ip, settings.rate_limit_storage,
                                           kind="LTI logins")
    app.include_router(lti_router(tool, case_titles, logins))
    return tool


def lti_user(request: Request) -> LtiUser | None:
    """For the pages a launched chat opens (the case reader): the pseudonymous LTI user of `?lti=`
    in the request's URL, else in its Referer (the chat page that opened it)."""
    tool: LtiTool | None = getattr(request.app.state, "lti", None)
    if tool is None:
        return None
    user = user_of_request(tool, request)
    referer = request.headers.get("referer", "")
    if user is None and referer:
        user = tool.user_from_query(urlsplit(referer).query)
    return user

