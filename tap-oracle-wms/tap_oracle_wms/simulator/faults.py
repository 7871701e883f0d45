"""Injected faults: latency, overload answers with Retry-After, dropped connections."""

from __future__ import annotations

import itertools
import threading


class Faults:
    """Injected faults, counted over entity API requests only."""

    def __init__(self) -> None:
        """Start with every fault off."""
        self.lock = threading.Lock()
        self.counter = itertools.count(1)
        self.set()

    def set(
        self,
        latency_ms: float = 0,
        fail_every: int = 0,
        fail_status: int = 503,
        retry_after: float = 1,
        drop_every: int = 0,
    ) -> None:
        """Replace the fault settings (0 = off) and restart the request count."""
        with self.lock:
            self.latency_ms, self.fail_every, self.fail_status = latency_ms, fail_every, fail_status
            self.retry_after, self.drop_every = retry_after, drop_every
            self.counter = itertools.count(1)
            self.drops = 0

    def next(self) -> tuple[float, str | None]:
        """Latency (s) and the fault for the next request: None, "fail", "reset", "truncate"."""
        with self.lock:
            n = next(self.counter)
            if self.fail_every and n % self.fail_every == 0:
                return self.latency_ms / 1000, "fail"
            if self.drop_every and n % self.drop_every == 0:
                self.drops += 1
                return self.latency_ms / 1000, "reset" if self.drops % 2 else "truncate"
            return self.latency_ms / 1000, None

    @property
    def fail_code(self) -> str:
        """The WMS error code that goes with `fail_status`."""
        return "TOO_MANY_REQUESTS" if self.fail_status == 429 else "SERVICE_UNAVAILABLE"
