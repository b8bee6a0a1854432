"""The whole casebot app (`create_app`) served by uvicorn on a 127.0.0.1 port inside the test
process, so a test speaks real HTTP to it and still reaches its objects (the app, the chat
sessions' store and its clock)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bot.settings import Settings


@contextmanager
def serving(casebot: Any, settings: Settings, **parts: Any) -> Iterator[tuple[str, Any]]:
    """The app over `casebot` with `settings` (and `parts`, create_app's optional arguments)
    until the block ends; yields (base URL, app). The server is stopped and the records closed."""
    import uvicorn

    from bot.web.server import create_app

    app = create_app(casebot, settings, **parts)
    # Listening before the server starts: requests wait in the backlog until it accepts them.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", app
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        app.state.recorder.close()
