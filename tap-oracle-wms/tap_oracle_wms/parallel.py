"""Reading one entity's partitions at the same time, with bounded memory and progress logs.

`PartitionedRead` plans the entity's id ranges (partitions.py) and reads them on threads,
each following one range's pages at a time exactly as the WMS gives them. The client's
request gate (pool.py) bounds the requests in flight for the whole tap; there are twice as
many threads as request slots, so a thread busy decoding a page never leaves a slot idle
(they fetch no page ahead themselves). Pages reach the caller in arrival order, interleaved
across ranges, through a queue of `max_parallel_requests` pages: memory is bounded by the
pages in flight (at most three per slot), not by the entity's size.

The log shows per entity, every `PROGRESS_INTERVAL_S` and at the end: pages, records,
records/s, requests in flight (and the gate's current limit) and ranges done.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import typing as t

from tap_oracle_wms.partitions import WHOLE, IdRange, plan

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    import msgspec

    from tap_oracle_wms.client import WMSClient

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 30.0
_DONE = object()


class _Failed:
    """A worker's exception, carried to the reading thread."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class PartitionedRead:
    """One run's read of one entity: its ranges, read concurrently, and its progress."""

    def __init__(
        self,
        client: WMSClient,
        entity: str,
        params: t.Mapping[str, t.Any],
        decoder: msgspec.json.Decoder,
    ) -> None:
        """Plan the ranges under the run's filters `params` (this asks the WMS)."""
        self.client = client
        self.entity = entity
        self.params = dict(params)
        self.decoder = decoder
        self.slots = client.gate.ceiling
        self.ranges: list[IdRange] = plan(client, entity, self.params, self.slots)
        self.pages_read = 0
        self.records = 0
        self.ranges_done = 0
        self._started = 0.0
        self._next_log = 0.0
        self._lock = threading.Lock()
        if self.partitioned:
            logger.info(
                "Entity '%s': reading %d id ranges with up to %d requests in flight",
                entity,
                len(self.ranges),
                self.slots,
            )

    @property
    def partitioned(self) -> bool:
        """Whether the entity is read as several ranges (records then arrive interleaved)."""
        return len(self.ranges) > 1

    def pages(self) -> Iterator[t.Any]:
        """Yield every page of every range, as they arrive; log progress."""
        self._started = time.monotonic()
        self._next_log = self._started + PROGRESS_INTERVAL_S
        source = self._concurrent() if self.partitioned else self._range(WHOLE)
        for page in source:
            self.pages_read += 1
            self.records += len(page.results)
            if time.monotonic() >= self._next_log:
                self._log("progress")
                self._next_log = time.monotonic() + PROGRESS_INTERVAL_S
            yield page
        self._log("done")

    def _range(self, part: IdRange, *, prefetch: bool = True) -> Iterator[t.Any]:
        params = part.params(self.params)
        yield from self.client.pages(self.entity, params, self.decoder, prefetch=prefetch)
        with self._lock:
            self.ranges_done += 1

    def _concurrent(self) -> Iterator[t.Any]:
        """Read the ranges on worker threads; yield their pages from a bounded queue."""
        todo: queue.SimpleQueue[IdRange] = queue.SimpleQueue()
        for part in self.ranges:
            todo.put(part)
        workers = min(2 * self.slots, len(self.ranges))
        out: queue.Queue[t.Any] = queue.Queue(maxsize=self.slots)
        stop = threading.Event()

        def put(item: t.Any) -> bool:
            while not stop.is_set():
                try:
                    out.put(item, timeout=0.1)
                except queue.Full:
                    continue
                return True
            return False

        def work() -> None:
            try:
                while not stop.is_set():
                    try:
                        part = todo.get_nowait()
                    except queue.Empty:
                        return
                    for page in self._range(part, prefetch=False):
                        if not put(page):
                            return
            except BaseException as exc:  # handed to the reading thread, raised there
                put(_Failed(exc))
            finally:
                put(_DONE)

        threads = [
            threading.Thread(target=work, name=f"wms-{self.entity}-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in threads:
            thread.start()
        try:
            finished = 0
            while finished < workers:
                item = out.get()
                if item is _DONE:
                    finished += 1
                elif isinstance(item, _Failed):
                    raise item.exc
                else:
                    yield item
        finally:
            stop.set()  # workers blocked on a full queue give up; none is left waiting

    def _log(self, what: str) -> None:
        elapsed = max(time.monotonic() - self._started, 1e-9)
        gate = self.client.gate
        logger.info(
            "Entity '%s' %s: %s pages, %s records, %s records/s, %d requests in flight "
            "(limit %d of %d), %d of %d id ranges done",
            self.entity,
            what,
            f"{self.pages_read:,}",
            f"{self.records:,}",
            f"{self.records / elapsed:,.0f}",
            gate.in_flight,
            gate.limit,
            gate.ceiling,
            self.ranges_done,
            len(self.ranges),
        )
