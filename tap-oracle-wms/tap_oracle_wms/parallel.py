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

import itertools
import logging
import queue
import threading
import time
import typing as t

from tap_oracle_wms.partitions import IdRange, plan

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    import msgspec

    from tap_oracle_wms.client import WMSClient

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 30.0
# One list query of a read: a tag the caller knows it by, and its filters.
Query = tuple[t.Any, dict[str, t.Any]]
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
        *,
        ranges: list[IdRange] | None = None,
        queries: list[Query] | None = None,
    ) -> None:
        """Plan the ranges under the run's filters `params` (this asks the WMS).

        `ranges`: a plan kept from an earlier attempt (no planning). `queries`: what to
        read, as (tag, query) pairs; by default every range's query, tagged by its index.
        """
        self.client = client
        self.entity = entity
        self.params = dict(params)
        self.decoder = decoder
        self.slots = client.gate.ceiling
        if ranges is None:
            ranges = plan(client, entity, self.params, self.slots)
        self.ranges: list[IdRange] = ranges
        self.queries: list[Query] = (
            queries
            if queries is not None
            else [(i, part.params(self.params)) for i, part in enumerate(ranges)]
        )
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
                len(self.queries),
                self.slots,
            )

    @property
    def partitioned(self) -> bool:
        """Whether the entity is read as several queries (records then arrive interleaved)."""
        return len(self.queries) > 1

    def pages(self) -> Iterator[t.Any]:
        """Yield every page of every range, as they arrive; log progress."""
        for _, page in self.tagged_pages():
            if page is not None:
                yield page

    def tagged_pages(self) -> Iterator[tuple[t.Any, t.Any]]:
        """Yield (tag, page) for every page as it arrives, and (tag, None) once a query is done.

        A query's pages come in the order the WMS gave them, and its (tag, None) after
        its last page; the caller has handled them all when it asks for the next item.
        """
        self._started = time.monotonic()
        self._next_log = self._started + PROGRESS_INTERVAL_S
        if self.partitioned:
            source = self._concurrent()
        else:
            source = itertools.chain.from_iterable(self._query(q) for q in self.queries)
        for tag, page in source:
            if page is None:
                yield tag, None
                continue
            self.pages_read += 1
            self.records += len(page.results)
            if time.monotonic() >= self._next_log:
                self._log("progress")
                self._next_log = time.monotonic() + PROGRESS_INTERVAL_S
            yield tag, page
        self._log("done")

    def _query(self, query: Query, *, prefetch: bool = True) -> Iterator[tuple[t.Any, t.Any]]:
        tag, params = query
        for page in self.client.pages(self.entity, params, self.decoder, prefetch=prefetch):
            yield tag, page
        with self._lock:
            self.ranges_done += 1
        yield tag, None

    def _concurrent(self) -> Iterator[tuple[t.Any, t.Any]]:
        """Read the queries on worker threads; yield their pages from a bounded queue."""
        todo: queue.SimpleQueue[Query] = queue.SimpleQueue()
        for query in self.queries:
            todo.put(query)
        workers = min(2 * self.slots, len(self.queries))
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
                        query = todo.get_nowait()
                    except queue.Empty:
                        return
                    for item in self._query(query, prefetch=False):
                        if not put(item):
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
            len(self.queries),
        )
