"""Request guards for `casebot serve`: body size limit, bearer token for the JSON API, JSON bodies
without a JSON Content-Type, no file uploads, and the security headers of the HTML pages (CSP
frame-ancestors).

The question rate limit is not here: it is counted where a question is answered
(bot.web.ratelimit), since Gradio serves one function under many URLs.

Everything is one small pure-ASGI middleware so that it also covers the mounted Gradio apps; CORS
itself is Starlette's CORSMiddleware, configured from the same origin list.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 256 * 1024
_PERIODS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(?:(\d+)\s*)?(second|minute|hour|day)s?\s*$", re.IGNORECASE)
_ORIGIN = re.compile(r"^https?://(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$",
                     re.IGNORECASE)


@dataclass(frozen=True)
class RateLimit:
    """At most `requests` questions per `seconds` from one client."""

    requests: int
    seconds: float


def parse_rate_limit(raw: str) -> RateLimit | None:
    """`30/minute`, `5/second`, `100/hour`, `10/5minutes` -> RateLimit; `off` -> None."""
    if raw.strip().lower() in ("off", "none", "0", "unlimited", ""):
        return None
    match = _RATE.match(raw)
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"Rate limit must look like 30/minute (or 'off'), got {raw!r}")
    span = int(match.group(2) or 1)
    if span < 1:
        raise ValueError(f"Rate limit period must be positive, got {raw!r}")
    return RateLimit(int(match.group(1)), span * _PERIODS[match.group(3).lower()])


def check_origins(origins: tuple[str, ...]) -> tuple[str, ...]:
    """The origins, validated as `scheme://host[:port]`; ValueError for wildcards or anything else."""
    for origin in origins:
        if origin == "*":
            raise ValueError("CASEBOT_ALLOWED_ORIGINS cannot be '*': list the portal origins, "
                             "e.g. https://lms.example.edu")
        if not _ORIGIN.match(origin):
            raise ValueError(f"Allowed origin {origin!r} must look like https://host[:port] "
                             "(no path, no trailing slash)")
    return tuple(dict.fromkeys(o.lower() for o in origins))


def frame_ancestors(origins: tuple[str, ...]) -> str:
    """The Content-Security-Policy value that lets only this server and `origins` frame the pages."""
    return " ".join(["frame-ancestors", "'self'", *origins])


class GuardMiddleware:
    """Body limit (413), bearer token on /api/v1 (401), JSON bodies on /api/v1 (415), Gradio's
    upload endpoint refused (403), headers."""

    def __init__(self, app: ASGIApp, *, api_token: str, csp: str,
                 max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.api_token = api_token.encode()
        self.csp = csp.encode("latin-1")
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = self._with_headers(send)
        path, method = str(scope["path"]), str(scope["method"])
        headers = {k.decode("latin-1").lower(): v for k, v in scope.get("headers", [])}
        # casebot takes no files, but Gradio accepts anonymous uploads into its cache folder at
        # <mount>/gradio_api/upload: refused before a byte of the body is read.
        if path.rstrip("/").endswith("/gradio_api/upload"):
            await _json_error(send, 403, "casebot takes no file uploads.")
            return
        # The instructor API checks its own (instructor) token.
        if self.api_token and path.startswith("/api/") and method != "OPTIONS" \
                and not path.startswith("/api/v1/instructor/") \
                and not self._authorized(headers.get("authorization", b"")):
            await _json_error(send, 401, "Missing or wrong API token: send 'Authorization: Bearer "
                              "<token>'.", [(b"www-authenticate", b'Bearer realm="casebot"')])
            return
        body = b""
        if method in ("POST", "PUT", "PATCH"):
            declared = headers.get("content-length", b"")
            if declared.isdigit() and int(declared) > self.max_body:
                await _json_error(send, 413, self._too_large())
                return
            try:
                body = await _read_body(receive, self.max_body)
            except _TooLarge:
                await _json_error(send, 413, self._too_large())
                return
            except _Disconnected:
                return
            receive = _replay(body, receive)
        if method == "POST" and path.startswith("/api/") and body.strip():
            content_type = headers.get("content-type", b"").split(b";")[0].strip().lower()
            if not (content_type == b"application/json" or content_type.endswith(b"+json")):
                # `curl -d '{...}'` says form-urlencoded: a body that is JSON is taken as JSON.
                if not _is_json(body):
                    await _json_error(send, 415, "The request body must be JSON: send "
                                      "'Content-Type: application/json' and a JSON object.")
                    return
                scope = {**scope, "headers": [
                    *((k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-type"),
                    (b"content-type", b"application/json")]}
        await self.app(scope, receive, send)

    def _authorized(self, header: bytes) -> bool:
        scheme, _, token = header.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.api_token)

    def _too_large(self) -> str:
        return f"The request body is larger than {self.max_body // 1024} KiB."

    def _with_headers(self, send: Send) -> Send:
        csp = self.csp

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html"):
                    # X-Frame-Options cannot name several origins: CSP frame-ancestors replaces it.
                    # A page's own policy (the instructor pages) is kept, with frame-ancestors added.
                    own = next((v for k, v in headers if k.lower() == b"content-security-policy"
                                and b"frame-ancestors" not in v), b"")
                    headers = [(k, v) for k, v in headers if k.lower() not in (
                        b"x-frame-options", b"content-security-policy")]
                    headers.append((b"content-security-policy", own + b"; " + csp if own else csp))
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                message["headers"] = headers
            await send(message)

        return wrapped


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive callable that yields the buffered body once, then defers to the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _json_error(send: Send, status: int, message: str,
                      extra: list[tuple[bytes, bytes]] | None = None) -> None:
    payload = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
               *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
