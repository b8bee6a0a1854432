"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1, for testing the HTTP backend.

It speaks `POST /v1/chat/completions`, streaming (server-sent events: `data: {chunk}` lines, then
`data: [DONE]`) when the request asks for it and a plain JSON completion otherwise. Each request
takes the next scripted Reply (the default Reply once the script runs out) and is recorded, so
tests can check exactly what the client sent.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted response: text to answer with, or a failure to produce."""

    text: str = ""
    status: int = 200
    malformed: bool = False
    delay: float = 0.0
    word_delay: float = 0.0  # seconds between streamed words: a model that writes slowly


@dataclass(frozen=True)
class Request:
    """One request the server received."""

    path: str
    headers: dict[str, str]  # names lower-cased
    body: dict[str, Any]

    @property
    def streamed(self) -> bool:
        """Whether the client asked for a streamed response."""
        return bool(self.body.get("stream"))

    def message_text(self) -> str:
        """Every message's content, joined: the prompt as the model would see it."""
        return "\n".join(str(m.get("content", "")) for m in self.body.get("messages", []))


class FakeOpenAI:
    """The server; use as a context manager or call start() and stop()."""

    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or Reply("The case doesn't say.")
        self.script: list[Reply] = []
        self.requests: list[Request] = []
        self.hung_up = threading.Event()  # set when a client closed a stream before its end
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """The URL to use as OPENAI_BASE_URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> FakeOpenAI:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; wakes delayed replies so their threads end."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reply(self, *replies: Reply | str) -> None:
        """Script the next replies, in order (strings are well-formed answers)."""
        with self._lock:
            self.script = [Reply(r) if isinstance(r, str) else r for r in replies]
            self.requests = []

    def _next(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            return self.script.pop(0) if self.script else self.default

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                request = Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                reply = fake._next(request)
                if reply.delay and fake._stopping.wait(reply.delay):
                    return
                # A client that gave up (timeout) is the point of a slow reply.
                try:
                    self._respond(reply, request)
                except (BrokenPipeError, ConnectionResetError):
                    fake.hung_up.set()

            def _respond(self, reply: Reply, request: Request) -> None:
                model = str(request.body.get("model", "fake"))
                if reply.status != 200:
                    self._send(reply.status, {"error": {"message": f"scripted HTTP {reply.status}",
                                                        "type": "server_error"}})
                elif not request.streamed:
                    payload = b'{"id": "x", "choices": [{"message": ' if reply.malformed else None
                    self._send(200, completion(model, reply.text), raw=payload)
                else:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Cache-Control", "no-cache")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    for event in sse_events(model, reply.text, reply.malformed):
                        if reply.word_delay and fake._stopping.wait(reply.word_delay):
                            return
                        self.wfile.write(event)
                        self.wfile.flush()
                    self.close_connection = True

            def _send(self, status: int, payload: dict[str, Any], raw: bytes | None = None) -> None:
                data = raw if raw is not None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def completion(model: str, text: str) -> dict[str, Any]:
    """A non-streamed chat.completion object."""
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def sse_events(model: str, text: str, malformed: bool = False) -> Iterator[bytes]:
    """Server-sent events streaming `text` word by word (or breaking off with invalid JSON)."""

    def chunk(delta: dict[str, str], finish: str | None = None) -> bytes:
        data = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(data)}\n\n".encode()

    yield chunk({"role": "assistant", "content": ""})
    for piece in re.findall(r"\S+\s*", text):
        yield chunk({"content": piece})
    if malformed:
        yield b'data: {"id": "chatcmpl-fake", "choices": [{"delta": {"content": \n\n'
    yield chunk({}, "stop")
    yield b"data: [DONE]\n\n"
