"""The question rate limit, enforced where a question is answered rather than by URL.

Every entry point that answers a question (the Gradio chat and embed handlers under whatever route
Gradio serves them, POST /api/v1/ask and /ask/stream, later LTI launches) calls
`QuestionLimiter.check` with who is asking. Two limits apply:

- per client (`CASEBOT_RATE_LIMIT`, default 30/minute): the chat session, the API token or the LTI
  user when there is one, else the IP address, so a classroom behind one NAT is not one client;
- per IP address (`CASEBOT_RATE_LIMIT_IP`, default 600/minute): a ceiling that also bounds a client
  who makes up a new session for every question.

Counters live in the `limits` library's storage named by `CASEBOT_RATE_LIMIT_STORAGE`: `memory://`
(per process) by default, `redis://host:port` to share them between replicas.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any

from bot.web.security import RateLimit, parse_rate_limit

DEFAULT_IP_LIMIT = "600/minute"
_NAMESPACE = "casebot-questions"


class RateLimited(Exception):
    """A question over the limit; `retry_after` is the whole seconds until one is allowed."""

    def __init__(self, retry_after: int, limit: RateLimit, scope: str) -> None:
        self.retry_after = retry_after
        self.limit = limit
        self.scope = scope
        super().__init__(f"Too many questions: at most {limit.requests} per {describe(limit)}"
                         f"{' from one address' if scope == 'ip' else ''}. "
                         f"Try again in {retry_after} s.")


class RateLimitStoreError(RuntimeError):
    """The shared counter store (e.g. Redis) did not answer."""


@dataclass(frozen=True)
class Client:
    """Who asks: a stable client id (session, token or user) when known, and the IP address."""

    ip: str
    session: str = ""
    token: str = ""
    user: str = ""

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


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:24]


def describe(limit: RateLimit) -> str:
    """"minute", "hour", or "90 seconds": the period of a limit in words."""
    for name, span in (("day", 86400.0), ("hour", 3600.0), ("minute", 60.0), ("second", 1.0)):
        if limit.seconds == span:
            return name
    return f"{limit.seconds:g} seconds"


def _item(limit: RateLimit) -> Any:
    from limits import RateLimitItemPerSecond

    return RateLimitItemPerSecond(limit.requests, max(1, int(limit.seconds)), namespace=_NAMESPACE)


def check_storage_url(url: str) -> str:
    """The storage URL if the `limits` library knows its scheme; ValueError otherwise."""
    url = url.strip() or "memory://"
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in ("memory", "redis", "rediss", "redis+unix", "redis+sentinel", "redis+cluster"):
        raise ValueError(f"CASEBOT_RATE_LIMIT_STORAGE must be memory:// or redis://host:port, "
                         f"got {url!r}")
    return url


class QuestionLimiter:
    """Counts questions per client and per IP address in one `limits` storage (moving window)."""

    def __init__(self, per_client: RateLimit | None, per_ip: RateLimit | None,
                 storage: str = "memory://") -> None:
        from limits.storage import storage_from_string
        from limits.strategies import MovingWindowRateLimiter

        self.per_client = per_client
        self.per_ip = per_ip
        self.storage_url = check_storage_url(storage)
        self._storage = storage_from_string(self.storage_url)
        self._strategy = MovingWindowRateLimiter(self._storage)
        self._items = {scope: (limit, _item(limit)) for scope, limit in
                       (("client", per_client), ("ip", per_ip)) if limit is not None}

    @classmethod
    def from_settings(cls, per_client: str, per_ip: str, storage: str) -> QuestionLimiter | None:
        """The limiter for these setting strings; None when both limits are off."""
        client, ip = parse_rate_limit(per_client), parse_rate_limit(per_ip)
        if client is None and ip is None:
            return None
        return cls(client, ip, storage)

    def check(self, client: Client) -> None:
        """Count one question from `client`; RateLimited when a limit is reached (then nothing is
        counted, so a refused question does not push the wait further out)."""
        keys = {"client": client.key(), "ip": "ip:" + client.ip}
        try:
            for scope, (limit, item) in self._items.items():
                if not self._strategy.test(item, keys[scope]):
                    raise RateLimited(self._wait(item, keys[scope]), limit, scope)
            for scope, (limit, item) in self._items.items():
                if not self._strategy.hit(item, keys[scope]):
                    # Lost a race with another request (or replica) for the last slot.
                    raise RateLimited(self._wait(item, keys[scope]), limit, scope)
        except RateLimited:
            raise
        except Exception as error:
            raise RateLimitStoreError(f"The rate-limit store {self._where()} did not answer: "
                                      f"{type(error).__name__}") from error

    def _wait(self, item: Any, key: str) -> int:
        reset, _remaining = self._strategy.get_window_stats(item, key)
        return max(1, math.ceil(reset - time.time()))

    def _where(self) -> str:
        # Never print credentials that may be part of a redis:// URL.
        return self.storage_url.split("://", 1)[0] + "://"
