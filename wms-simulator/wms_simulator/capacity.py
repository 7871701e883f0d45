"""The simulator's capacity model: how long a list page takes and how many are served at once.

A live WMS answers a 1,000-row page in 17-21 s (see wms-lgf-api.md, "Observed on a live
instance") and serves a bounded number of requests at a time. The model has three knobs,
all off (0) by default:

- `page_latency`: seconds every list page takes on the server, whatever its size;
- `row_latency`: seconds each row of a list page adds;
- `workers`: how many entity API requests are served at once; requests beyond it queue
  (their wait is not part of the latency above, as on a saturated server).

The handler enters `serving()` around each entity API request and calls `hold(rows)` once a
list page's rows are known, before the answer is sent. The model also counts requests in
flight and keeps the latest request targets, so tests can check what a client really sent.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Iterator


LOG_SIZE = 10_000
# The live figure: 1,000-row sequenced pages took 17-21 s on a live WMS (wms-lgf-api.md,
# "Observed on a live instance"), one page at a time: 18 ms a row puts a 1,000-row page at
# 18 s. Only 1,000-row pages were observed, so no separate per-page cost is modelled.
LIVE_ROW_LATENCY = 0.018


def live_latency(scale: float) -> tuple[float, float]:
    """Return (page_latency, row_latency) of the live WMS scaled by `scale`.

    1 plays the live instance's speed; 0.01 a WMS 100 times faster (180 µs a row), the
    figure tests and benchmarks use.
    """
    if scale <= 0:
        msg = "the live latency scale must be positive (1 = as slow as the live WMS)"
        raise ValueError(msg)
    return 0.0, LIVE_ROW_LATENCY * scale


class Capacity:
    """Latency per page and per row, and a bounded pool of server workers."""

    def __init__(self, page_latency: float = 0, row_latency: float = 0, workers: int = 0) -> None:
        """Start with the given settings (0 = off) and empty counters."""
        self._cond = threading.Condition()
        self._local = threading.local()
        self.busy = 0  # requests being served (holding a worker)
        self.queued = 0  # requests waiting for a worker
        self.peak_busy = 0
        self.peak_queued = 0
        self.log: collections.deque[str] = collections.deque(maxlen=LOG_SIZE)
        self.set(page_latency, row_latency, workers)

    def set(self, page_latency: float = 0, row_latency: float = 0, workers: int = 0) -> None:
        """Replace the settings (0 = off); counters keep running."""
        if page_latency < 0 or row_latency < 0 or workers < 0:
            msg = "page_latency, row_latency and workers must be 0 (off) or positive"
            raise ValueError(msg)
        with self._cond:
            self.page_latency = float(page_latency)
            self.row_latency = float(row_latency)
            self.workers = int(workers)
            self._cond.notify_all()

    def reset_peaks(self) -> None:
        """Restart the peak counters (e.g. before a measured run)."""
        with self._cond:
            self.peak_busy, self.peak_queued = self.busy, self.queued

    @contextlib.contextmanager
    def serving(self, target: str = "") -> Iterator[None]:
        """Hold a worker for one request, queueing while every worker is busy.

        `target` (the request's path and query) goes to the log of recent requests.
        """
        with self._cond:
            self.log.append(target)
            if self.workers and self.busy >= self.workers:
                self.queued += 1
                self.peak_queued = max(self.peak_queued, self.queued)
                while self.workers and self.busy >= self.workers:
                    self._cond.wait()
                self.queued -= 1
            self.busy += 1
            self.peak_busy = max(self.peak_busy, self.busy)
        self._local.started = time.monotonic()
        try:
            yield
        finally:
            with self._cond:
                self.busy -= 1
                self._cond.notify()

    def hold(self, rows: int) -> None:
        """Keep the worker until a page of `rows` rows has taken its modelled time."""
        target = self.page_latency + rows * self.row_latency
        if target <= 0:
            return
        started = getattr(self._local, "started", None)
        elapsed = time.monotonic() - started if started is not None else 0.0
        if target > elapsed:
            time.sleep(target - elapsed)
