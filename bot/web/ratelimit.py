"""The question rate limit, enforced where a question is answered rather than by URL.

Every entry point that answers a question (the Gradio chat and embed handlers under whatever route
Gradio serves them, POST /api/v1/ask and /ask/stream, later LTI launches) calls
`QuestionLimiter.check` with who is asking. Two limits apply:

- per client (`CASEBOT_RATE_LIMIT`, default 30/minute): the chat session, the API token or the LTI
  user when there is one, else the IP address, so a classroom behind one NAT is not one client;
- per IP address (`CASEBOT_RATE_LIMIT_IP`, default 600/minute): a ceiling that also bounds a client
  who makes up a new session for every question.

Only a valid `CASEBOT_API_TOKEN` makes a bearer a client of its own (any other `Authorization`
header counts as none), and only with it may a request name its end user (`X-Casebot-User`).

The same counters, each kind in its own namespace, throttle other requests a client could repeat
endlessly: ratings (`POST /api/v1/feedback`), LTI logins, and failed instructor sign-ins
(`FailureThrottle`: only failures count, per address).

Counters live in the `limits` library's storage named by `CASEBOT_RATE_LIMIT_STORAGE`: `memory://`
(per process) by default, `redis://host:port` to share them between replicas.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.web.security import RateLimit, parse_rate_limit

DEFAULT_IP_LIMIT = "600/minute"
# Failed instructor sign-ins (form or bearer) allowed per address before it must wait.
SIGN_IN_FAILURES = RateLimit(10, 15 * 60.0)
# An end user named by a trusted backend: an opaque id, not free text.
_END_USER = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")


class RateLimited(Exception):
    """A question over the limit; `retry_after` is the whole seconds until one is allowed."""

    def __init__(self, retry_after: int, limit: RateLimit, scope: str, kind: str = "questions") -> None:
        self.retry_after = retry_after
        self.limit = limit
        self.scope = scope
        super().__init__(f"Too many {kind}: at most {limit.requests} per {describe(limit)}"
                         f"{' from one address' if scope == 'ip' else ''}. "
                         f"Try again in {retry_after} s.")


class RateLimitStoreError(RuntimeError):
    """The shared counter store (e.g. Redis) did not answer."""


@dataclass(frozen=True)
class Client:
    """Who asks: a stable client id (session, token or user) when known, and the IP address;
    an LTI user also brings the platform and course of the launch (for the records)."""

    ip: str
    session: str = ""
    token: str = ""
    user: str = ""
    platform: str = ""
    course: str = ""

    def key(self) -> str:
        """The per-client counter key: user, else token, else session, else IP."""
        if self.user:
            return "user:" + _digest(self.user)
        if self.token:
            # Never keep the token itself in a shared store.
            return "token:" + _digest(self.token)
        if self.session:
            return "session:" + _digest(self.session)
        return "ip:" + self.ip


def api_client(ip: str, headers: Mapping[str, str], api_token: str) -> Client:
    """Who sends an API request: the address, and with the valid API token (a trusted backend)
    the token and the end user it names in `X-Casebot-User`; ValueError for a malformed name.

    A bearer that is not the configured token identifies nobody: it counts as no header at all."""
    scheme, _, given = headers.get("authorization", "").partition(" ")
    if not (api_token and scheme.lower() == "bearer"
            and hmac.compare_digest(given.strip().encode(), api_token.encode())):
        return Client(ip=ip)
    named = headers.get("x-casebot-user", "")
    if named and not _END_USER.match(named):
        raise ValueError("X-Casebot-User must be an opaque id of 1 to 128 letters, digits or . _ : @ -")
    # Namespaced: a portal's user id can never be taken for an LTI pseudonym.
    return Client(ip=ip, token=api_token, user=f"api:{named}" if named else "")


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:24]


def describe(limit: RateLimit) -> str:
    """"minute", "hour", or "90 seconds": the period of a limit in words."""
    for name, span in (("day", 86400.0), ("hour", 3600.0), ("minute", 60.0), ("second", 1.0)):
        if limit.seconds == span:
            return name
    return f"{limit.seconds:g} seconds"


def _item(limit: RateLimit, kind: str) -> Any:
    from limits import RateLimitItemPerSecond

    return RateLimitItemPerSecond(limit.requests, max(1, int(limit.seconds)),
                                  namespace="casebot-" + kind.replace(" ", "-"))


def check_storage_url(url: str) -> str:
    """The storage URL if the `limits` library knows its scheme; ValueError otherwise."""
    url = url.strip() or "memory://"
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in ("memory", "redis", "rediss", "redis+unix", "redis+sentinel", "redis+cluster"):
        raise ValueError(f"CASEBOT_RATE_LIMIT_STORAGE must be memory:// or redis://host:port, "
                         f"got {url!r}")
    return url


class _Counters:
    """One `limits` storage (moving window) and what to call its requests in messages."""

    def __init__(self, storage: str, kind: str) -> None:
        from limits.storage import storage_from_string
        from limits.strategies import MovingWindowRateLimiter

        self.kind = kind
        self.storage_url = check_storage_url(storage)
        self._storage = storage_from_string(self.storage_url)
        self._strategy = MovingWindowRateLimiter(self._storage)

    def _wait(self, item: Any, key: str) -> int:
        reset, _remaining = self._strategy.get_window_stats(item, key)
        return max(1, math.ceil(reset - time.time()))

    def _store_error(self, error: Exception) -> RateLimitStoreError:
        # Never print credentials that may be part of a redis:// URL.
        where = self.storage_url.split("://", 1)[0] + "://"
        return RateLimitStoreError(f"The rate-limit store {where} did not answer: {type(error).__name__}")


class QuestionLimiter(_Counters):
    """Counts requests of one kind (questions by default) per client and per IP address."""

    def __init__(self, per_client: RateLimit | None, per_ip: RateLimit | None,
                 storage: str = "memory://", kind: str = "questions") -> None:
        super().__init__(storage, kind)
        self.per_client = per_client
        self.per_ip = per_ip
        self._items = {scope: (limit, _item(limit, kind)) for scope, limit in
                       (("client", per_client), ("ip", per_ip)) if limit is not None}

    @classmethod
    def from_settings(cls, per_client: str, per_ip: str, storage: str,
                      kind: str = "questions") -> QuestionLimiter | None:
        """The limiter for these setting strings; None when both limits are off."""
        client, ip = parse_rate_limit(per_client), parse_rate_limit(per_ip)
        if client is None and ip is None:
            return None
        return cls(client, ip, storage, kind)

    def check(self, client: Client) -> None:
        """Count one question from `client`; RateLimited when a limit is reached (then nothing is
        counted, so a refused question does not push the wait further out)."""
        keys = {"client": client.key(), "ip": "ip:" + client.ip}
        try:
            for scope, (limit, item) in self._items.items():
                if not self._strategy.test(item, keys[scope]):
                    raise RateLimited(self._wait(item, keys[scope]), limit, scope, self.kind)
            for scope, (limit, item) in self._items.items():
                if not self._strategy.hit(item, keys[scope]):
                    # Lost a race with another request (or replica) for the last slot.
                    raise RateLimited(self._wait(item, keys[scope]), limit, scope, self.kind)
        except RateLimited:
            raise
        except Exception as error:
            raise self._store_error(error) from error


class FailureThrottle(_Counters):
    """Failed attempts (a wrong instructor token) per address: `check` before trying, `failed`
    after a failure. Successes are not counted, so an instructor who signs in is never slowed."""

    def __init__(self, limit: RateLimit = SIGN_IN_FAILURES, storage: str = "memory://",
                 kind: str = "failed sign-ins") -> None:
        super().__init__(storage, kind)
        self.limit = limit
        self._item = _item(limit, kind)

    def check(self, ip: str) -> None:
        """RateLimited when `ip` has failed too often lately."""
        try:
            allowed = self._strategy.test(self._item, ip)
        except Exception as error:
            raise self._store_error(error) from error
        if not allowed:
            raise RateLimited(self._wait(self._item, ip), self.limit, "ip", self.kind)

    def failed(self, ip: str) -> None:
        """Count one failure of `ip`."""
        try:
            self._strategy.hit(self._item, ip)
        except Exception as error:
            raise self._store_error(error) from error
