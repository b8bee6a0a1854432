"""The background threads of the records: RecordWriter, which writes answers without making a
student wait for the database, and Retention, which purges what is older than the retention.

The writer holds what it could not write yet. While the database is down (or its schema not yet
upgraded) records wait in memory, up to HELD_RECORDS_MAX, and the writer tries again with a
growing pause; once the database answers they are written. A batch that fails while the
database answers is written again row by row, so one bad row is the only one lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from bot.records.models import AnswerRecord
from bot.records.repository import RecordStore

log = logging.getLogger("casebot.records")

# Records held in memory while the database is down. A record is about 2 KB (question, answer,
# history, citations), so the bound is about 20 MB: harmless next to the embedding model, and it
# covers a class of 300 students asking twice a minute for over a quarter of an hour.
HELD_RECORDS_MAX = 10_000
# The pause between attempts on a database that is down doubles from the first to the last.
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 10.0
DatabaseStatus = Literal["up", "down", "off"]


@dataclass(frozen=True)
class PendingRecord:
    """A record waiting to be written, with the LTI user id its pseudonym is made from at write
    time (the pseudonym key may live in a database that is down when the answer is given)."""

    record: AnswerRecord
    user_id: str | None = None


class RecordWriter:
    """Writes records on a background thread so that answering never waits for the database."""

    def __init__(self, store: RecordStore, max_held: int = HELD_RECORDS_MAX, batch: int = 64) -> None:
        self.store = store
        self.batch = batch
        self.max_held = max_held
        self._held: deque[PendingRecord] = deque()
        self._ids: set[str] = set()  # of the held records and of the batch being written
        self._lock = threading.Condition()
        # "starting" until the first attempt (the schema upgrade) has ended, one way or the other.
        self._status: Literal["starting", "up", "down"] = "starting"
        self._stopping = False
        self._reported_down = False
        self.failures = 0  # records given up on: bad rows, and the oldest held past the bound
        self.dropped = 0  # of which held past the bound
        self._thread = threading.Thread(target=self._run, name="casebot-records", daemon=True)
        self._thread.start()

    @property
    def status(self) -> Literal["up", "down"]:
        """'up' when the last attempt to reach the database worked, else 'down' (also before the
        first attempt ends: nothing can be written yet)."""
        return "up" if self._status == "up" else "down"

    def submit(self, pending: PendingRecord) -> None:
        """Queue a record (never blocking); past the bound the oldest held record is dropped."""
        with self._lock:
            self._held.append(pending)
            self._ids.add(pending.record.id)
            self._drop_past_bound()
            self._lock.notify_all()

    def _drop_past_bound(self) -> None:
        """Drop the oldest held records beyond `max_held`, counted in the log (the first, then
        every thousandth: a class keeps asking while the database is down). Holds the lock."""
        while len(self._held) > self.max_held:
            self._ids.discard(self._held.popleft().record.id)
            self.dropped += 1
            self.failures += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error("records database unreachable with %d records held: dropped the oldest "
                          "(%d dropped so far)", self.max_held, self.dropped)

    def wait_for(self, answer_id: str, timeout: float = 5.0) -> None:
        """Wait until a queued answer has been written (or given up on), at most `timeout` s; at
        once while the database is down."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while (answer_id in self._ids and self._status != "down"
                   and (left := deadline - time.monotonic()) > 0):
                self._lock.wait(left)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued record is written or given up on; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._ids and (left := deadline - time.monotonic()) > 0:
                self._lock.wait(left)
            return not self._ids

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued (unless the database is down), then stop the thread."""
        if self._status != "down":
            self.flush(timeout)
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        self._thread.join(timeout)
        if self._ids:
            log.error("stopping with %d records not written (records database down)", len(self._ids))

    def _run(self) -> None:
        pause = RETRY_FIRST_S
        while True:
            with self._lock:
                while not self._stopping and not self._held and self._status == "up":
                    self._lock.wait()
                if self._stopping:
                    return
                batch = [self._held.popleft() for _ in range(min(self.batch, len(self._held)))]
            if self._attempt(batch):
                pause = RETRY_FIRST_S
                continue
            with self._lock:
                # Back to the front, oldest first, for the next attempt.
                self._held.extendleft(reversed(batch))
                self._drop_past_bound()
                self._lock.notify_all()
                # The whole pause: new records arriving must not make a down database be tried
                # once per answer.
                deadline = time.monotonic() + pause
                while not self._stopping and (left := deadline - time.monotonic()) > 0:
                    self._lock.wait(left)
            pause = min(pause * 2, RETRY_MAX_S)

    def _attempt(self, batch: list[PendingRecord]) -> bool:
        """Write `batch`; False (everything kept for later) when the database cannot be reached."""
        try:
            self.store.create()
            records = [self._with_pseudonym(p) for p in batch]
            if records:
                self.store.add_answers(records)
            written, lost = records, list[str]()
        except Exception as error:
            # Not yet upgraded (a newer schema, a database down at start) or not answering: keep
            # everything and try again. A database that answers failed on a row: find which.
            if not self.store.schema.is_ready or not self.store.reachable():
                self._set_status("down", error)
                return False
            written, lost = self._one_by_one(batch)
        self._set_status("up")
        if lost:
            self.failures += len(lost)
            # The answers were served already; say what was lost without the students' text.
            log.error("could not record %d of %d answers (%s); the other %d were recorded",
                      len(lost), len(batch), ", ".join(lost), len(written))
        with self._lock:
            self._ids.difference_update(p.record.id for p in batch)
            self._lock.notify_all()
        return True

    def _one_by_one(self, batch: list[PendingRecord]) -> tuple[list[AnswerRecord], list[str]]:
        """Each record of a failed batch on its own: (those written, the ids of those that fail)."""
        written: list[AnswerRecord] = []
        lost: list[str] = []
        for pending in batch:
            try:
                record = self._with_pseudonym(pending)
                self.store.add_answers([record])
                written.append(record)
            except Exception as error:
                log.debug("answer %s not recorded: %s", pending.record.id, error)
                lost.append(pending.record.id)
        return written, lost

    def _with_pseudonym(self, pending: PendingRecord) -> AnswerRecord:
        if not pending.user_id:
            return pending.record
        return replace(pending.record, user_hash=self.store.user_hash(pending.user_id))

    def _set_status(self, status: Literal["up", "down"], error: Exception | None = None) -> None:
        if status == "down" and not self._reported_down:
            log.error("records database down; holding up to %d records in memory and retrying: %s",
                      self.max_held, error)
        elif status == "up" and self._reported_down:
            log.warning("records database up again; writing the %d records held", len(self._ids))
        self._reported_down = status == "down"
        with self._lock:
            self._status = status
            self._lock.notify_all()


class Retention:
    """A thread that runs `purge` now and then every `interval_s` until stopped."""

    def __init__(self, purge: Callable[[], object], interval_s: float = 86_400.0) -> None:
        self._stop = threading.Event()

        def loop() -> None:
            while True:
                purge()
                if self._stop.wait(interval_s):
                    return

        self._thread = threading.Thread(target=loop, name="casebot-retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the purge running now, if any."""
        self._stop.set()
