"""Partition planning: an entity's extraction as id ranges that can be read at the same time.

The plan is learned cheaply from the WMS under the run's own filters (scope,
`entity_filters`, the incremental `mod_ts__gte`), with one-row requests asking only for
`id`: one ordered by `id` gives the smallest id and, in paged mode, the count; when the
entity is worth splitting, one ordered by `-id` gives the largest id. The id span is cut
into ranges, several per request slot, so a slot that drew a sparse range takes another
while a dense one is still being read.

Uneven id density is normal (purged history, new rows at the top, an incremental run's
changes clustered among the newest ids). For an entity of many pages the span is first cut
into two coarse buckets per slot whose counts are asked for at the same time (one-row
paged requests); each bucket is then cut into as many ranges as its share of the records
calls for, so a dense stretch of ids is read by many slots rather than one.

The ranges cover every integer exactly once: the first is open below and the last open
above (`id__lt=b1`, `id__gte=b1&id__lt=b2`, …, `id__gte=bn`), so no record falls between
two ranges or into two, whatever the ids are, including ids inserted while the run reads
(and ids outside the span the probes saw). An entity of a couple of pages is read as one
range, exactly as without partitions.
"""

from __future__ import annotations

import itertools
import logging
import math
import typing as t
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import msgspec

from tap_oracle_wms.errors import WMSRequestError, WMSResponseError

if t.TYPE_CHECKING:
    from tap_oracle_wms.client import WMSClient

logger = logging.getLogger(__name__)

MIN_PAGES_TO_SPLIT = 2  # an entity of at most this many pages is read as one range
RANGES_PER_SLOT = 4  # more ranges than slots keep every slot busy to the end
MAX_RANGES = 64


@dataclass(frozen=True)
class IdRange:
    """Ids from `lower` (inclusive) to `upper` (exclusive); None leaves that side open."""

    lower: int | None = None
    upper: int | None = None

    def params(self, base: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        """Return the run's filters narrowed to this range.

        A run's own `id__gte` / `id__lt` filter is intersected with the range (a repeated
        parameter would replace it); other id filters stay as they are and also apply.
        """
        params = dict(base)
        if self.lower is not None:
            params["id__gte"] = str(_tighter(params.get("id__gte"), self.lower, max))
        if self.upper is not None:
            params["id__lt"] = str(_tighter(params.get("id__lt"), self.upper, min))
        return params

    def __str__(self) -> str:
        """Return the range as `[lower, upper)`."""
        low = "-inf" if self.lower is None else self.lower
        high = "+inf" if self.upper is None else self.upper
        return f"[{low}, {high})"


WHOLE = IdRange()


def _tighter(existing: t.Any, bound: int, pick: t.Callable[[int, int], int]) -> int | str:
    """Return the tighter of a run's own bound (if an integer) and the range's."""
    if existing is None:
        return bound
    try:
        return pick(int(existing), bound)
    except (TypeError, ValueError):
        return str(existing)  # not an integer: let the WMS judge the run's own filter


def ranges_wanted(low: int, high: int, count: int | None, page_size: int, slots: int) -> int:
    """How many ranges ids `low`..`high` (holding `count` records, if known) are worth.

    1 when splitting cannot help: one slot, a single id, or a couple of pages at most.
    """
    if slots <= 1 or high <= low:
        return 1
    wanted = min(slots * RANGES_PER_SLOT, MAX_RANGES, high - low + 1)
    if count is not None:
        pages = math.ceil(count / page_size)
        if pages <= MIN_PAGES_TO_SPLIT:
            return 1
        wanted = min(wanted, pages)  # on average a page or more per range
    return wanted


def cut(part: IdRange, parts: int, low: int, high: int) -> list[IdRange]:
    """Cut `part` into `parts` ranges of equal width; open ends stay open.

    `low`..`high` is the id span the probes saw: it stands in for an open end's bound.
    """
    start = part.lower if part.lower is not None else low
    stop = part.upper if part.upper is not None else high + 1
    if parts <= 1 or stop - start <= 1:
        return [part]
    width = (stop - start) / parts
    bounds = sorted({start + round(i * width) for i in range(1, parts)} - {start, stop})
    edges = [part.lower, *bounds, part.upper]
    return [IdRange(a, b) for a, b in itertools.pairwise(edges)]


def split(low: int, high: int, count: int | None, page_size: int, slots: int) -> list[IdRange]:
    """Cut ids `low`..`high` into equal-width ranges for `slots` (see `ranges_wanted`)."""
    return cut(WHOLE, ranges_wanted(low, high, count, page_size, slots), low, high)


def refine(
    buckets: list[IdRange], counts: list[int], wanted: int, low: int, high: int
) -> list[IdRange]:
    """Cut each bucket into as many ranges as its share of the records calls for.

    Neighbouring buckets that together hold a `wanted`-th of the records or less are read
    as one range (an empty stretch of ids costs no request of its own).
    """
    target = max(sum(counts) / wanted, 1.0)
    merged: list[tuple[IdRange, int]] = []
    for bucket, count in zip(buckets, counts, strict=True):
        if merged and merged[-1][1] + count <= target:
            previous, held = merged.pop()
            bucket, count = IdRange(previous.lower, bucket.upper), held + count
        merged.append((bucket, count))
    ranges: list[IdRange] = []
    for bucket, count in merged:
        ranges += cut(bucket, max(1, round(count / target)), low, high)
    return ranges


class _Id(msgspec.Struct):
    id: int


class _Probe(msgspec.Struct):
    results: list[_Id] = []
    result_count: t.Optional[int] = None  # noqa: UP045 - a runtime type object for msgspec


_PROBE = msgspec.json.Decoder(_Probe, strict=False)


def _edge(
    client: WMSClient, entity: str, params: t.Mapping[str, t.Any], ordering: str
) -> _Probe | None:
    """One one-row page of the run's query in the given order (None: nothing matches)."""
    query = {**params, "ordering": ordering, "page_size": 1, "page_mode": "paged", "fields": "id"}
    probe: _Probe | None = client.get(client.entity_url(entity), query, _PROBE, not_found_ok=True)
    return probe


def first_id(client: WMSClient, entity: str, params: t.Mapping[str, t.Any]) -> int | None:
    """Return the smallest id matching `params`, by one one-row request (None: none/refused)."""
    base = {k: v for k, v in params.items() if k not in ("ordering", "fields")}
    try:
        probe = _edge(client, entity, base, "id")
    except (WMSRequestError, WMSResponseError):
        return None  # the read itself reports a refusal of the run's filters
    return probe.results[0].id if probe is not None and probe.results else None


def _counts(
    client: WMSClient, entity: str, params: t.Mapping[str, t.Any], buckets: list[IdRange]
) -> list[int] | None:
    """Return the records in each bucket, asked for at the same time (None: no counts)."""

    def count(bucket: IdRange) -> int | None:
        probe = _edge(client, entity, bucket.params(params), "id")
        return 0 if probe is None else probe.result_count

    with ThreadPoolExecutor(client.gate.ceiling, thread_name_prefix="wms-count") as pool:
        counts = list(pool.map(count, buckets))
    return None if None in counts else t.cast("list[int]", counts)


def plan(
    client: WMSClient, entity: str, params: t.Mapping[str, t.Any], slots: int
) -> list[IdRange]:
    """Return the ranges to read `entity` in, learned from the WMS under `params`.

    One range (`[WHOLE]`) with one slot, for an empty or small entity, or when the
    WMS refuses the probes or its answers do not give usable ids (logged).
    """
    if slots <= 1:
        return [WHOLE]
    base = {k: v for k, v in params.items() if k not in ("ordering", "fields")}
    try:
        first = _edge(client, entity, base, "id")
        if first is None or not first.results:
            return [WHOLE]
        low, count = first.results[0].id, first.result_count
        if count is not None and math.ceil(count / client.page_size) <= MIN_PAGES_TO_SPLIT:
            return [WHOLE]
        last = _edge(client, entity, base, "-id")
        if last is None or not last.results:
            return [WHOLE]  # emptied in between: one range reads whatever is there
        high = last.results[0].id
        wanted = ranges_wanted(low, high, count, client.page_size, slots)
        coarse = 2 * slots
        if count is None or wanted <= coarse:
            return cut(WHOLE, wanted, low, high)
        buckets = cut(WHOLE, coarse, low, high)
        counts = _counts(client, entity, base, buckets)
    except (WMSRequestError, WMSResponseError) as exc:
        # Planning is an optimisation: a refused or odd probe leaves the plain read, which
        # reports a refusal of the run's own filters itself.
        logger.warning("Entity '%s': read as one range (ids not learned: %s)", entity, exc)
        return [WHOLE]
    if counts is None:
        return cut(WHOLE, wanted, low, high)
    return refine(buckets, counts, wanted, low, high)
