"""The request pool: one bound on the WMS requests a whole tap has in flight.

Every HTTP request to the WMS passes through a `RequestGate` shared by all of a client's
threads. The gate admits at most `limit` requests at a time. `limit` starts at the ceiling
(setting `max_parallel_requests`) and follows the WMS's signals, AIMD-style as TCP does:

- a throttling answer (429, 503, 504 or a timeout) halves the limit for the whole tap, once
  per burst (answers to requests sent before the cut do not cut again), and a `Retry-After`
  pauses every new request until it has passed, so the slots do not hammer the WMS each on
  their own;
- successes raise the limit by one every `RECOVERY_ROUNDS` rounds of answers (a round being
  `limit` answers), back up to the ceiling: it recovers slowly.

Both changes are logged: the log says when the tap throttles itself and when it recovers.
"""

from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger(__name__)

DEFAULT_PARALLEL_REQUESTS = 4  # Oracle warns that many concurrent large pages degrade the WMS
MAX_PARALLEL_REQUESTS = 16
RECOVERY_ROUNDS = 2


class RequestGate:
    """Admits at most `limit` requests at a time; the limit adapts to throttling."""

    def __init__(self, ceiling: int = DEFAULT_PARALLEL_REQUESTS) -> None:
        """Start with every slot open."""
        if not 1 <= ceiling <= MAX_PARALLEL_REQUESTS:
            msg = f"max_parallel_requests must be 1 to {MAX_PARALLEL_REQUESTS}, not {ceiling}"
            raise ValueError(msg)
        self.ceiling = ceiling
        self.limit = ceiling
        self.in_flight = 0
        self.peak = 0  # most requests in flight at once
        self.cuts = 0  # how many times the limit was cut
        self._epoch = 0  # bumped by every cut: tells answers to older requests apart
        self._successes = 0
        self._paused_until = 0.0
        self._cond = threading.Condition()

    def acquire(self, *, wait_pause: bool = True) -> int:
        """Wait for a free slot (and, unless told otherwise, the end of a pause); take it.

        Returns the ticket to pass to `throttled`. A retry passes `wait_pause=False`: it
        has already waited its own Retry-After.
        """
        with self._cond:
            while True:
                pause = self._paused_until - time.monotonic() if wait_pause else 0.0
                if pause > 0:
                    self._cond.wait(pause)
                elif self.in_flight >= self.limit:
                    self._cond.wait()
                else:
                    break
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            return self._epoch

    def release(self) -> None:
        """Give a slot back."""
        with self._cond:
            self.in_flight -= 1
            self._cond.notify()

    def succeeded(self) -> None:
        """Count an answer that was not throttled; raise the limit slowly."""
        with self._cond:
            if self.limit >= self.ceiling:
                return
            self._successes += 1
            if self._successes < RECOVERY_ROUNDS * self.limit:
                return
            self._successes = 0
            self.limit += 1
            self._cond.notify_all()
            limit = self.limit
        logger.info(
            "WMS answering normally again: up to %d requests in flight (of %d)",
            limit,
            self.ceiling,
        )

    def throttled(self, ticket: int, reason: str, retry_after: float | None = None) -> None:
        """Take a throttling answer to a request sent with `ticket`: cut the limit, pause all."""
        with self._cond:
            if retry_after and retry_after > 0:
                self._paused_until = max(self._paused_until, time.monotonic() + retry_after)
            if ticket != self._epoch:
                return  # sent before the last cut: that cut already answered this burst
            before = self.limit
            self.limit = max(1, self.limit // 2)
            self._epoch += 1
            self._successes = 0
            self.cuts += 1
            self._cond.notify_all()
            after = self.limit
        pause = f"; new requests wait {retry_after:g}s (Retry-After)" if retry_after else ""
        logger.warning(
            "WMS throttling (%s): the tap now sends at most %d requests at a time (was %d)%s",
            reason,
            after,
            before,
            pause,
        )
