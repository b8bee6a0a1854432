"""Signed, expiring tokens (sessions, tickets, form fields) through itsdangerous.

Every token is signed with the one secret (`bot.secret.load_secret`) and a salt naming its purpose,
so a token made for one purpose (a launch session, say) is refused where another is expected (an
instructor session). The expiry travels inside the signed payload and is checked on every read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer

LAUNCH_SESSION = "lti-launch-session"
INSTRUCTOR_SESSION = "instructor-session"
INSTRUCTOR_CSRF = "instructor-csrf"
DEEP_LINK = "lti-deep-link"


class Signer:
    """Signs and reads the tokens of one purpose."""

    def __init__(self, secret: str, purpose: str, clock: Callable[[], float] = time.time) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=f"casebot:{purpose}")
        self.clock = clock

    def sign(self, payload: dict[str, Any], seconds: float) -> str:
        """A token carrying `payload` that reads back for `seconds` from now."""
        return self._serializer.dumps({**payload, "exp": int(self.clock() + seconds)})

    def read(self, token: str) -> dict[str, Any] | None:
        """The payload of a token this signer made and that has not expired; None otherwise."""
        try:
            payload = self._serializer.loads(token)
        except BadData:
            return None
        expires = payload.get("exp") if isinstance(payload, dict) else None
        if not isinstance(expires, int) or expires < self.clock():
            return None
        return payload
