"""The JSON API under /api/v1: ask, ask as server-sent events, list cases.

Bad input always becomes a 4xx JSON `{"error": "..."}`: unknown case 404, bad question or history
422, unreachable vector store 503; for the stream too, whose checks run before it starts. With
CASEBOT_ACCESS=lti only the holder of the API token may ask (403 otherwise). A trusted backend
holding the API token may name its end user in `X-Casebot-User`: that user gets their own rate
limit, and the records keep them only as a pseudonym. Blocking
work (embedding, Chroma) runs in worker threads. The event stream is framed by FastAPI's own
server-sent events support (`fastapi.sse`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import StreamingResponse
from fastapi.sse import EventSourceResponse, format_sse_event
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from bot.answer import Answer, Citation, Turn
from bot.errors import describe
from bot.rag.chain import MAX_QUESTION_CHARS, Asked, CaseBot
from bot.rag.conversation import check_turns
from bot.records import Recorder
from bot.web.ratelimit import Client, QuestionLimiter, RateLimited, RateLimitStoreError, api_client
from bot.web.workers import Workers, WorkersBusy

log = logging.getLogger("casebot.api")
ANSWER_TIMEOUT_S = 120.0


class HistoryTurn(BaseModel):
    """One earlier message of the conversation."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: str


class AskRequest(BaseModel):
    """A question about a case, with the conversation so far."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "question": "What decision does the case turn on?", "history": []}]})
    question: str = Field(description=f"the question (at most {MAX_QUESTION_CHARS} characters)")
    case: str | None = Field(None, description="case id (default: CASEBOT_DEFAULT_CASE, else the "
                                                  "bundled case, else the only case)")
    history: list[HistoryTurn] | None = Field(None, description="earlier turns, oldest first")


class AnswerOut(BaseModel):
    """The answer object of the contract."""

    answer: str
    abstained: bool
    citations: list[Citation]
    case: str
    backend: str
    latency_ms: float
    unsupported: list[str] | None = None
    notice: str | None = None
    answer_id: str | None = None
    see_also: list[Citation] | None = Field(
        None, description="With an abstention: the closest passages, as pointers (not citations)")


class CaseOut(BaseModel):
    """An ingested case."""

    id: str
    title: str
    paragraphs: int


class ErrorOut(BaseModel):
    """Every error response."""

    error: str


class ApiError(HTTPException):
    """An HTTP error whose detail is the message for `{"error": ...}`."""


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text} for code, text in (
        (400, "invalid JSON"), (401, "missing or wrong bearer token"),
        (403, "CASEBOT_ACCESS=lti and no API token"), (404, "unknown case"),
        (405, "wrong method"), (413, "body too large"), (415, "body is not JSON"),
        (422, "bad question or history, or no case named when several exist"),
        (429, "rate limit exceeded"), (502, "the language model's server answered badly"),
        (503, "vector store or language model unreachable, or every worker busy"),
        (504, "no answer in time"))
}


@contextmanager
def _as_api_errors() -> Iterator[None]:
    """Turn casebot's errors into ApiError with the status and message `describe` gives them."""
    try:
        yield
    except Exception as error:
        problem = describe(error)
        if problem is None:
            raise
        if problem.advice:
            log.warning("%s (%s)", problem.message, problem.advice)
        raise ApiError(problem.status, problem.message) from None


def _prepare(bot: CaseBot, request: AskRequest) -> Asked:
    """The question checked and its case loaded, once (ApiError 404/422/503 otherwise). The
    history's shape is the request model's; what else a history must be, check_turns checks."""
    with _as_api_errors():
        history = check_turns([Turn(t.role, t.content) for t in request.history or []])
        return bot.prepare(request.question, history, request.case or "")


def _ask(bot: CaseBot, request: AskRequest, recorder: Recorder | None, who: Client) -> dict[str, Any]:
    asked = _prepare(bot, request)
    with _as_api_errors():
        answer = bot.answer(asked)
    if recorder is not None:
        answer = recorder.record(answer, asked.question, asked.history, "api",
                                 user_id=who.user or None)
    return answer.to_dict()


def sse_event(kind: str, data: Any) -> bytes:
    """One server-sent event of type `kind` with a JSON payload, framed by FastAPI's encoder."""
    # Our own JSON: FastAPI's would escape non-ASCII, and the contract sends text as written
    # ("¶12", not "\u00b612").
    return format_sse_event(event=kind, data_str=json.dumps(data, ensure_ascii=False))


def _events(bot: CaseBot, asked: Asked, recorder: Recorder | None, who: Client
            ) -> Generator[bytes, None, None]:
    # A client that goes away closes this generator at its current yield (GeneratorExit, which
    # `except Exception` lets through): the answer stops there, and nothing is recorded or logged.
    try:
        for piece in bot.respond(asked):
            if isinstance(piece, Answer):
                if recorder is not None:
                    piece = recorder.record(piece, asked.question, asked.history, "api",
                                            user_id=who.user or None)
                yield sse_event("answer", piece.to_dict())
            else:
                yield sse_event("token", {"text": piece})
    except Exception as error:
        problem = describe(error)
        if problem is None:
            log.exception("streaming an answer failed")
        yield sse_event("error", {"error": problem.message, "status": problem.status} if problem
                    else {"error": "internal error", "status": 500})


def api_router(bot: CaseBot, timeout: float = ANSWER_TIMEOUT_S,
               limiter: QuestionLimiter | None = None, workers: Workers | None = None,
               recorder: Recorder | None = None, *, api_token: str = "",
               lti_only: bool = False) -> APIRouter:
    """The /api/v1 routes answering with `bot`; `limiter` counts each question asked; answers
    are kept by `recorder` when given. `api_token` (already checked by the guard) makes a bearer
    a client of its own; `lti_only` (CASEBOT_ACCESS=lti) refuses questions without it."""
    router = APIRouter(prefix="/api/v1", tags=["api"], responses=ERRORS)
    pool = workers or Workers()

    async def in_thread(fn: Any, *args: Any) -> Any:
        # A hung store or model must not hang the client, nor grow threads: the pool is bounded.
        try:
            return await pool.run(timeout, fn, *args)
        except TimeoutError:
            raise ApiError(504, f"No answer within {timeout:g} s; the case index or the "
                           "answer backend is not responding.") from None
        except WorkersBusy:
            raise ApiError(503, "The server is busy answering other questions; try again in a "
                           "moment.", headers={"Retry-After": "10"}) from None

    def count_question(http: Request) -> Client:
        """Who asks (ApiError 403 when they may not, 422 for a malformed end user), counted."""
        try:
            client = api_client(http.client.host if http.client else "unknown", http.headers, api_token)
        except ValueError as error:
            raise ApiError(422, str(error)) from None
        if lti_only and not client.token:
            raise ApiError(403, "This casebot answers only students who open it from their course "
                           "(CASEBOT_ACCESS=lti), or a portal holding the API token.")
        if limiter is None:
            return client
        try:
            limiter.check(client)
        except RateLimited as limited:
            raise ApiError(429, str(limited), headers={"Retry-After": str(limited.retry_after)}) \
                from None
        except RateLimitStoreError as error:
            log.error("%s", error)
            raise ApiError(503, "The rate-limit store is not reachable; try again in a moment.") \
                from None
        return client

    @router.post("/ask", response_model=AnswerOut, response_model_exclude_none=True,
                 summary="Answer one question with citations")
    async def ask(request: AskRequest, http: Request) -> Any:
        """The answer object of the contract: answer, abstained, citations, case, backend."""
        who = count_question(http)
        return await in_thread(_ask, bot, request, recorder, who)

    # FastAPI's own server-sent events (its encoder and EventSourceResponse) rather than
    # sse-starlette: no extra dependency, and its framing is the contract's byte for byte (`event:`
    # and `data:` lines ending in "\n", a blank line after each event, no id or retry fields), where
    # sse-starlette's defaults end lines in "\r\n" and date its pings. The route returns the
    # response rather than being a generator route that FastAPI streams itself: that pipeline (a
    # producer task and a keep-alive task joined by queues) made a 24-event answer measurably
    # slower end to end (p50 84 -> 100 ms, 30 streams side by side with the previous code), for
    # keep-alive pings no client here needs; returned, it is as fast as before (79 -> 77 ms).
    # It also lets the checks run in the route itself, before the response starts.
    # Each step of the sync generator runs in a worker thread (Starlette's StreamingResponse).
    @router.post("/ask/stream", summary="Answer one question as server-sent events",
                 # Not response_class=EventSourceResponse: FastAPI takes that to mean a generator
                 # route that it streams itself.
                 response_class=StreamingResponse,
                 responses={200: {"content": {"text/event-stream": {}}, "description":
                            "`token` events `{\"text\": ...}`, then one `answer` event with the "
                            "answer object (or one `error` event `{\"error\": ...}`)"}})
    async def ask_stream(request: AskRequest, http: Request) -> EventSourceResponse:
        """Text pieces as `token` events, then the final `answer` event."""
        # Checked before the response starts: a refused question (rate limit, bad question or
        # history, unknown case, busy workers) is a JSON `{"error"}` with its status, not a stream.
        who = count_question(http)
        asked = await in_thread(_prepare, bot, request)
        events = _events(bot, asked, recorder, who)
        # The background task runs once the response is over, also when the client hung up: the
        # response stops pulling events then but leaves the generator suspended until the garbage
        # collector finds it (an LLM's response stays open meanwhile). Closing it stops the answer.
        # no-cache: no proxy keeps a copy; X-Accel-Buffering: nginx passes each event on at once.
        return EventSourceResponse(events, background=BackgroundTask(events.close),
                                   headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @router.get("/cases", response_model=list[CaseOut], summary="The ingested cases")
    async def cases() -> Any:
        """Every ingested case: id, title and paragraph count."""
        return await in_thread(list_cases, bot)

    @router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                      include_in_schema=False)
    async def unknown(path: str, http: Request) -> None:
        allowed = {"ask": "POST", "ask/stream": "POST", "cases": "GET"}.get(path.strip("/"))
        if allowed is not None and http.method != allowed:
            raise ApiError(405, f"/api/v1/{path.strip('/')} answers {allowed} only. See /docs.",
                           headers={"Allow": f"{allowed}, OPTIONS"})
        raise ApiError(404, f"No API endpoint /api/v1/{path}. See /docs.")

    return router


def list_cases(bot: CaseBot) -> list[dict[str, Any]]:
    """The ingested cases as JSON objects; ApiError 503 when the store is unreachable."""
    with _as_api_errors():
        return [{"id": c.case_id, "title": c.title, "paragraphs": c.paragraphs}
                for c in bot.library.cases()]
