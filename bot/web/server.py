"""`casebot serve`: one ASGI app (FastAPI + uvicorn) with the Gradio chat at `/`, the embeddable
chat at `/embed?case=ID`, the JSON API under `/api/v1`, `/healthz`, and OpenAPI docs at `/docs`.

State: each browser session's chat history lives in this process's memory
(bot.web.chat.ChatSessions, keyed by Gradio's session id: replicas need sticky routing); the API is
stateless (the client sends the history). The in-memory copy of each case is a per-process cache.
Rate-limit counters are per process with `memory://` and shared by every replica with
`CASEBOT_RATE_LIMIT_STORAGE=redis://…`.
"""

from __future__ import annotations

import argparse
import html
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

from bot.settings import DEFAULT_CASE, Settings, quiet_libraries
from bot.web.security import (
    GuardMiddleware,
    check_origins,
    frame_ancestors,
    parse_rate_limit,
)

if TYPE_CHECKING:
    from fastapi import FastAPI

    from bot.lti.tool import LtiUser
    from bot.rag.chain import CaseBot
    from bot.records import Recorder
    from bot.web.chat import ChatSessions

log = logging.getLogger("casebot.server")

DESCRIPTION = (
    "Serve the web chat at /, the embeddable chat at /embed?case=ID (for an <iframe> in a course "
    "portal), and the JSON API under /api/v1 (POST /api/v1/ask, POST /api/v1/ask/stream, "
    "GET /api/v1/cases; OpenAPI docs at /docs) from one process. Ingests the bundled case on "
    "first start. Prints the embed snippets for its URL."
)
ASK_API_NAME = "ask"
_GRACEFUL_SHUTDOWN_S = 5


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the flags of `casebot serve` (each falls back to its CASEBOT_* variable)."""
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1; 0.0.0.0 for all interfaces)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--allowed-origins", metavar="ORIGINS",
                        help="comma-separated origins allowed to embed the chat and call the API, "
                        "e.g. https://lms.example.edu (env CASEBOT_ALLOWED_ORIGINS; default: none "
                        "but same origin)")
    parser.add_argument("--rate-limit", metavar="N/PERIOD",
                        help="questions per client, e.g. 30/minute, or off (env CASEBOT_RATE_LIMIT; "
                        "default 30/minute)")
    parser.add_argument("--rate-limit-ip", metavar="N/PERIOD",
                        help="questions per IP address, a ceiling over all its clients, or off "
                        "(env CASEBOT_RATE_LIMIT_IP; default 600/minute)")
    parser.add_argument("--rate-limit-storage", metavar="URL",
                        help="where rate-limit counters live: memory:// (this process) or "
                        "redis://HOST:PORT (shared by replicas) (env CASEBOT_RATE_LIMIT_STORAGE)")
    parser.add_argument("--answer-timeout", type=float, metavar="SECONDS",
                        help="the API answers 504 after this long (env CASEBOT_ANSWER_TIMEOUT; "
                        "default 120)")
    parser.add_argument("--api-token", metavar="TOKEN",
                        help="require 'Authorization: Bearer TOKEN' on /api/v1 (env CASEBOT_API_TOKEN, "
                        "preferred: flags are visible to other users of the machine)")
    parser.add_argument("--access", choices=("open", "lti"),
                        help="who may ask and read the case: anyone (open), or only students "
                        "launched from a course and holders of the API token (lti) (env "
                        "CASEBOT_ACCESS; default open)")
    parser.add_argument("--session-ttl", type=float, metavar="SECONDS",
                        help="how long an idle web chat keeps its history in server memory "
                        "(env CASEBOT_SESSION_TTL; default 3600)")
    from bot.records.commands import add_records_flags

    add_records_flags(parser)
    parser.add_argument("--public-url", metavar="URL",
                        help="the URL the portal reaches this server at, for the printed snippets "
                        "(env CASEBOT_PUBLIC_URL; default http://HOST:PORT)")


def serve_settings(args: argparse.Namespace, settings: Settings) -> Settings:
    """`settings` with the serve flags on top; ValueError for invalid origins or rate limits."""
    from bot.records.commands import records_overrides
    from bot.records.database import check_url
    from bot.web.ratelimit import check_storage_url

    # Settings.override checks each flag as it checks the variables (UsageError naming the flag).
    settings = settings.override(
        allowed_origins=getattr(args, "allowed_origins", None),
        rate_limit=getattr(args, "rate_limit", None),
        api_token=getattr(args, "api_token", None),
        rate_limit_ip=getattr(args, "rate_limit_ip", None),
        rate_limit_storage=getattr(args, "rate_limit_storage", None),
        answer_timeout=getattr(args, "answer_timeout", None),
        session_ttl=getattr(args, "session_ttl", None),
        access=getattr(args, "access", None),
        **records_overrides(args))
    parse_rate_limit(settings.rate_limit)
    parse_rate_limit(settings.rate_limit_ip)
    check_storage_url(settings.rate_limit_storage)
    check_url(settings.database_url)
    return settings.override(allowed_origins=check_origins(settings.allowed_origins))


def create_app(bot: CaseBot, settings: Settings, recorder: Recorder | None = None,
               sessions: ChatSessions | None = None) -> FastAPI:
    """The whole server as one FastAPI app (settings already validated by serve_settings);
    `recorder` keeps the answered questions (default: as the settings say); `sessions` the web
    chats' conversations (default: kept settings.session_ttl seconds after their last answer)."""
    quiet_libraries()
    import gradio as gr
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.middleware.cors import CORSMiddleware
    from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from bot.lti.routes import FrameAncestorsMiddleware, LtiOnlyMiddleware, mount_lti, user_of_request
    from bot.records.recorder import open_recorder
    from bot.secret import load_secret
    from bot.web.api import api_router, list_cases
    from bot.web.chat import CSS, ChatSessions, build_chat
    from bot.web.docs import add_offline_docs
    from bot.web.embed import CITE_CSS, EMBED_HEAD
    from bot.web.instructor import records_router
    from bot.web.ratelimit import QuestionLimiter
    from bot.web.reader import reader_router

    origins = check_origins(settings.allowed_origins)
    # One limiter for every entry point that answers a question (chat, embed, API).
    limiter = QuestionLimiter.from_settings(settings.rate_limit, settings.rate_limit_ip,
                                            settings.rate_limit_storage)
    # Ratings are counted like questions, in counters of their own.
    ratings = QuestionLimiter.from_settings(settings.rate_limit, settings.rate_limit_ip,
                                            settings.rate_limit_storage, kind="ratings")
    secret = load_secret(settings.secret, settings.data_dir)
    app = FastAPI(title="casebot", version="1", docs_url=None, redoc_url=None,
                  description="Answers questions about a business case with citations to its "
                  "numbered paragraphs. Errors are `{\"error\": \"...\"}`.")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(error.detail)}, status_code=error.status_code,
                            headers=getattr(error, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return _validation_error(error.errors())

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        log.exception("request %s %s failed", request.method, request.url.path)
        return JSONResponse({"error": "internal error"}, status_code=500)

    # response_model=None: the return annotations are strings FastAPI cannot resolve here.
    @app.get("/healthz", tags=["ops"], summary="Liveness and readiness", response_model=None)
    def healthz() -> JSONResponse:
        """200 with the number of cases when the index answers, 503 otherwise; `database` says
        whether records can be written ("down": held in memory until they can; "off": not kept)."""
        try:
            cases = list_cases(bot)
        except Exception as error:
            # Store errors name hosts, paths and versions: they go to the log, not to anyone.
            log.error("health check failed: %s", getattr(error, "detail", None) or error)
            return JSONResponse({"status": "error"}, status_code=503)
        return JSONResponse({"status": "ok", "cases": len(cases), "backend": bot.answerer.name,
                             "store": "server" if settings.chroma_url else "embedded",
                             "database": app.state.recorder.database_status()})

    gradio_js = os.path.join(os.path.dirname(gr.__file__), "templates", "frontend", "gradio.js")

    @app.get("/gradio.js", include_in_schema=False, response_model=None)
    def web_component_script() -> FileResponse:
        """Gradio's web-component loader, served here so embedding needs no CDN."""
        return FileResponse(gradio_js, media_type="text/javascript")

    add_offline_docs(app)
    if recorder is None:
        recorder = open_recorder(settings)
        recorder.start_retention()
    app.state.recorder = recorder
    app.include_router(records_router(recorder, settings.instructor_token,
                                      lambda: [c.case_id for c in bot.library.cases()],
                                      bot.library.embeddings, secret=secret,
                                      api_token=settings.api_token,
                                      storage=settings.rate_limit_storage, feedback_limiter=ratings,
                                      load_case=bot.library.load, default_case=bot.default_case))
    app.include_router(reader_router(bot, lti_only=settings.access == "lti"))
    app.include_router(api_router(bot, timeout=settings.answer_timeout, limiter=limiter,
                                  recorder=recorder, api_token=settings.api_token,
                                  lti_only=settings.access == "lti"))
    lti = mount_lti(app, settings, lambda: {c.case_id: c.title for c in bot.library.cases()}, secret)

    def embed_page(request: Request) -> RedirectResponse:
        """`/embed?case=ID` -> the mounted embed app at `/embed/?case=ID` (relative, proxy-safe)."""
        query = request.url.query
        return RedirectResponse("embed/" + (f"?{query}" if query else ""), status_code=307)

    # A plain Starlette route: FastAPI could not resolve the lazily imported Request annotation.
    app.add_route("/embed", embed_page, methods=["GET", "HEAD"], include_in_schema=False)


    def lti_user(request: Any) -> LtiUser | None:
        return user_of_request(lti, request)

    # One store for / and /embed: a session id belongs to one page of either.
    sessions = sessions if sessions is not None else ChatSessions(settings.session_ttl)
    chat = build_chat(bot, settings, limiter=limiter, recorder=recorder, lti_user=lti_user,
                      sessions=sessions)
    embed = build_chat(bot, settings, embed=True, limiter=limiter, recorder=recorder, lti_user=lti_user,
                       sessions=sessions)
    # footer_links=[]: no footer (Gradio's own links mean nothing to a student).
    common: dict[str, Any] = {"footer_links": [], "show_error": False, "ssr_mode": False,
                              "mcp_server": False, "enable_monitoring": False,
                              "css": CSS + CITE_CSS, "head": EMBED_HEAD}
    # Order matters: /embed before the catch-all mount at /.
    gr.mount_gradio_app(app, embed, path="/embed", **common)
    gr.mount_gradio_app(app, chat, path="/", **common)

    if settings.access == "lti":
        # Inside the guard: its body limit, upload refusal and headers apply to the notice too.
        app.add_middleware(LtiOnlyMiddleware, tool=lti)
    app.add_middleware(GuardMiddleware, api_token=settings.api_token, csp=frame_ancestors(origins))
    # Outside the guard, which sets frame-ancestors: registered LTI platforms may frame the pages.
    app.add_middleware(FrameAncestorsMiddleware, origins=lti.frame_origins)
    # Added last, so outermost: error responses carry CORS headers too. Its presence also stops
    # Gradio from echoing any Origin back (Gradio defers to a parent app's CORSMiddleware).
    app.add_middleware(CORSMiddleware, allow_origins=list(origins), allow_credentials=False,
                       allow_methods=["GET", "POST", "OPTIONS"], allow_headers=["*"],
                       expose_headers=["Retry-After"], max_age=600)
    return app


def _validation_error(errors: Any) -> Any:
    """FastAPI's validation errors as one readable `{"error"}`: 400 for bad JSON, else 422."""
    from fastapi.responses import JSONResponse

    errors = list(errors)
    if any(e.get("type") == "json_invalid" for e in errors):
        return JSONResponse({"error": "The request body is not valid JSON."}, status_code=400)
    if any(tuple(e.get("loc", ())) == ("body",) for e in errors):
        return JSONResponse({"error": 'The request body must be a JSON object such as {"question": '
                             '"...", "case": "...", "history": [...]}.'}, status_code=422)
    messages = []
    for e in errors[:3]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        messages.append(f"{where}: {e.get('msg', 'invalid')}" if where else str(e.get("msg", "invalid")))
    return JSONResponse({"error": "; ".join(messages) or "invalid request"}, status_code=422)


def snippets(base_url: str, case: str = DEFAULT_CASE) -> str:
    """The copy-paste <iframe> and Gradio web-component snippets for a server at `base_url`."""
    base = base_url.rstrip("/")
    src = html.escape(f"{base}/embed/?case={case}", quote=True)
    return (
        "Embed the chat in a course portal page (add the portal's origin to "
        "CASEBOT_ALLOWED_ORIGINS):\n\n"
        f'  <iframe src="{src}" title="casebot: ask about the case"\n'
        '          width="100%" height="720" style="border:0" loading="lazy"></iframe>\n\n'
        "or as a Gradio web component:\n\n"
        f'  <script type="module" src="{html.escape(base, quote=True)}/gradio.js"></script>\n'
        f'  <gradio-app src="{html.escape(base, quote=True)}/embed/"></gradio-app>\n'
    )


def run_command(args: argparse.Namespace, settings: Settings, bot: CaseBot) -> int:
    """Serve until interrupted; returns the exit code."""
    from bot.errors import UsageError

    try:
        settings = serve_settings(args, settings)
    except ValueError as error:
        raise UsageError(str(error)) from None
    public = getattr(args, "public_url", None) or os.environ.get("CASEBOT_PUBLIC_URL", "")
    serve(bot, settings, args.host, args.port, public_url=public, verbose=args.verbose)
    return 0


def serve(bot: CaseBot, settings: Settings, host: str, port: int, *, public_url: str = "",
          verbose: bool = False, open_browser: bool = False, show_snippets: bool = True) -> None:
    """Run the app on host:port until interrupted (settings already validated by serve_settings)."""
    import uvicorn

    app = create_app(bot, settings)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in shown_host:
        shown_host = f"[{shown_host}]"
    url = f"http://{shown_host}:{port}/"
    try:
        case = bot.default_case()
    except LookupError:
        case = DEFAULT_CASE
    limit = parse_rate_limit(settings.rate_limit)
    ip_limit = parse_rate_limit(settings.rate_limit_ip)
    print(f"casebot serving on {url}  (chat /, embed /embed?case={case}, API /api/v1, docs /docs)",
          file=sys.stderr)
    if settings.instructor_token:
        print(f"instructor dashboard: {(public_url or url).rstrip('/')}/instructor", file=sys.stderr)
    print(f"allowed origins: {', '.join(settings.allowed_origins) or 'same origin only'}; rate limit: "
          f"{settings.rate_limit if limit else 'off'} per client, "
          f"{settings.rate_limit_ip if ip_limit else 'off'} per IP address "
          f"({settings.rate_limit_storage.split('://', 1)[0]}); API token: "
          f"{'required' if settings.api_token else 'not required'}; access: {settings.access}\n",
          file=sys.stderr)
    if show_snippets:
        print(snippets(public_url or url.rstrip("/"), case), file=sys.stderr, flush=True)
    if open_browser:
        import threading
        import webbrowser

        threading.Timer(1.5, webbrowser.open, args=(url,)).start()
    try:
        uvicorn.run(app, host=host, port=port, log_level="info" if verbose else "warning",
                    timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_S)
    finally:
        # Write the records still queued before the process ends.
        app.state.recorder.close()
