"""Resuming a killed read: what a stream's STATE keeps of its id ranges, and what a rerun reads.

A stream's state carries, under `resume`, the plan of its read (the ranges' bounds), which
ranges are done, how far each open range has got (ranges are read in id order when there
are several), the WMS's clock when the first attempt started, its `mod_ts__gte` lower bound
and its table version. A range, or part of one, counts only once every record of it was
handed on before the STATE that says so (see `ResumeTracker.page_read`).

A rerun with that state keeps the stored bounds (inserts move the probed ones), reads only
the ranges and parts not done, then catches up on every change since the first attempt
started (by the WMS's clock) minus the lookback, so nothing modified meanwhile in a finished
range is missed. A rerun killed again resumes again: the first attempt's start and version
stay. An entry of another format or for other filters is dropped (logged); the bookmark stays.

Streams finished during the sync keep their entry (all ranges done) until the sync's last
stream completes, so a rerun after a kill does not read them again; the last stream's end
clears every entry, and the next sync starts afresh.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import logging
import typing as t
from dataclasses import dataclass, field

from tap_oracle_wms.client import utc_param
from tap_oracle_wms.horizon import REPLICATION_KEY, parse_timestamp
from tap_oracle_wms.partitions import WHOLE, IdRange, first_id

if t.TYPE_CHECKING:
    from tap_oracle_wms.client import WMSClient
    from tap_oracle_wms.parallel import Query

logger = logging.getLogger(__name__)

KEY = "resume"  # the key under a stream's bookmark ("partitions" is the SDK's own)
FORMAT = 2  # bumped whenever the entry's meaning changes: other formats start clean
CATCH_UP = "catch-up"  # the tag of the query reading changes since the first attempt began
# Query parameters that do not change which records a read covers.
_NOT_FILTERS = frozenset({"ordering", f"{REPLICATION_KEY}__gte"})


def fingerprint(params: t.Mapping[str, t.Any], mode: str) -> str:
    """Return a short digest of what a read covers: its filters (not its ordering) and its mode.

    `mode` tells a full read with table versions from one without, and from an incremental
    one: a resumed read must load records in the same terms as the attempt it continues.
    """
    covered = {k: str(v) for k, v in params.items() if k not in _NOT_FILTERS}
    text = json.dumps({"mode": mode, "params": covered}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class ResumeEntry:
    """One stream's resumable progress, as kept in its STATE."""

    filters: str
    bounds: list[int]  # the inner edges of the plan: n edges make n + 1 ranges
    started: str | None  # the WMS's clock when the first attempt started (None: unknown)
    since: str | None  # the first attempt's `mod_ts__gte`
    version: int | None  # the first attempt's table version
    done: set[int] = field(default_factory=set)
    reached: dict[int, int] = field(default_factory=dict)  # range -> last id read (in order)

    @property
    def ranges(self) -> list[IdRange]:
        """The plan's ranges: open below and above, as planned."""
        edges: list[int | None] = [None, *self.bounds, None]
        return [IdRange(a, b) for a, b in itertools.pairwise(edges)]

    @property
    def complete(self) -> bool:
        """Whether every range was read."""
        return len(self.done) == len(self.bounds) + 1

    @property
    def has_progress(self) -> bool:
        """Whether anything was read that a rerun need not read again."""
        return bool(self.done or self.reached)

    def to_dict(self) -> dict[str, t.Any]:
        """Return the entry as JSON for the STATE."""
        return {
            "format": FORMAT,
            "filters": self.filters,
            "bounds": self.bounds,
            "started": self.started,
            "since": self.since,
            "version": self.version,
            "done": sorted(self.done),
            "reached": {str(k): v for k, v in sorted(self.reached.items())},
        }

    @classmethod
    def from_dict(cls, data: t.Any) -> ResumeEntry:
        """Read an entry from a STATE; ValueError (saying why) when it is not usable."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        if data.get("format") != FORMAT:
            raise ValueError(f"written in format {data.get('format')!r}, this tap reads {FORMAT}")
        try:
            bounds = [int(b) for b in data["bounds"]]
            entry = cls(
                filters=str(data["filters"]),
                bounds=bounds,
                started=data.get("started"),
                since=data.get("since"),
                version=int(data["version"]) if data.get("version") is not None else None,
                done={int(i) for i in data.get("done") or ()},
                reached={int(k): int(v) for k, v in (data.get("reached") or {}).items()},
            )
            if entry.started is not None:
                parse_timestamp(entry.started)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"damaged ({type(exc).__name__}: {exc})") from None
        if bounds != sorted(set(bounds)) or any(not 0 <= i <= len(bounds) for i in entry.done):
            raise ValueError("damaged (bounds not ascending or a range index out of range)")
        return entry


def plan_bounds(ranges: list[IdRange]) -> list[int]:
    """Return the inner edges of a plan (ranges that cover every id, in order)."""
    return [part.upper for part in ranges[:-1] if part.upper is not None]


class ResumeTracker:
    """One stream's read: which queries to send, and the progress its STATE may claim."""

    def __init__(self, stream: str, entry: ResumeEntry, *, resumed: bool, by_id: bool) -> None:
        """Track `entry`; `resumed` when it comes from an earlier attempt's STATE.

        `by_id`: the ranges are asked for in id order, so progress inside one counts.
        """
        self.stream = stream
        self.entry = entry
        self.resumed = resumed
        self.by_id = by_id
        self.mirrors_deletions = True  # False once a resumed read cannot prove deletions
        self._last: dict[t.Any, int | None] = {}  # range -> last id handed on so far
        self._unordered: set[t.Any] = set()

    # -- starting ---------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        stream: str,
        state: t.Mapping[str, t.Any],
        client: WMSClient,
        params: t.Mapping[str, t.Any],
        mode: str,
        version: int | None,
        plan: t.Callable[[], list[IdRange]],
    ) -> ResumeTracker:
        """Resume from `state`'s entry when it fits this read; else plan and start afresh.

        `params` are the read's filters (with its `mod_ts__gte`, if any); `plan` learns the
        ranges from the WMS; `version` is this run's table version (None: no versions).
        """
        filters = fingerprint(params, mode)
        saved = state.get(KEY)
        entry: ResumeEntry | None = None
        if saved is not None:
            try:
                entry = ResumeEntry.from_dict(saved)
            except ValueError as exc:
                why = f"its STATE's resume entry is {exc}"
            else:
                why = "its STATE's resume entry was written for other filters or mode"
                if entry.filters != filters:
                    entry = None
            if entry is None:
                logger.warning(
                    "Stream '%s': the partitioned read starts clean: %s; the bookmark is kept",
                    stream,
                    why,
                )
            elif not entry.has_progress and entry.version is None:
                entry = None  # nothing to gain: start as any run does
        if entry is not None:
            tracker = cls(stream, entry, resumed=True, by_id=_by_id(entry.ranges, params))
            tracker._log_resume()
            return tracker
        client.server_date = None
        ranges = plan()
        started = client.wms_clock()
        if started is None:
            # No probe was sent (one range): ask once, before any page, for the WMS's time.
            first_id(client, stream, params)
            started = client.wms_clock()
        entry = ResumeEntry(
            filters=filters,
            bounds=plan_bounds(ranges),
            started=utc_param(started) if started is not None else None,
            since=params.get(f"{REPLICATION_KEY}__gte"),
            version=version,
        )
        return cls(stream, entry, resumed=False, by_id=_by_id(ranges, params))

    def _log_resume(self) -> None:
        entry = self.entry
        logger.info(
            "Stream '%s': resuming the read of an earlier attempt (started %s): %d of %d id "
            "ranges done, %d part-read; kept bounds and table version %s",
            self.stream,
            entry.started or "at an unknown WMS time",
            len(entry.done),
            len(entry.bounds) + 1,
            len(entry.reached),
            entry.version,
        )

    # -- what to read -----------------------------------------------------------------
    def queries(
        self,
        params: t.Mapping[str, t.Any],
        lookback: dt.timedelta,
        *,
        catch_up: bool,
    ) -> list[Query]:
        """Return the queries to send: ranges not done (from where they stopped), then changes.

        `catch_up`: the entity has `mod_ts`, so changes since the first attempt began can
        be asked for. Without it, or without the WMS's clock, a resumed read cannot find
        what changed in finished ranges: it reads them again when it can, and otherwise
        (no `mod_ts`) leaves them and does not mirror deletions.
        """
        entry = self.entry
        base = dict(params)
        since_key = f"{REPLICATION_KEY}__gte"
        base.pop(since_key, None)
        if entry.since is not None:
            base[since_key] = entry.since
        if self.by_id:
            base["ordering"] = "id"
        if self.resumed and entry.has_progress and entry.started is None and catch_up:
            logger.warning(
                "Stream '%s': the WMS sent no Date header in the first attempt, so changes "
                "since then cannot be asked for: every id range is read again",
                self.stream,
            )
            entry.done.clear()
            entry.reached.clear()
        queries: list[Query] = []
        for index, part in enumerate(entry.ranges):
            if index in entry.done:
                continue
            reached = entry.reached.get(index)
            if reached is not None:
                part = IdRange(reached + 1, part.upper)
            queries.append((index, part.params(base)))
        if self.resumed and entry.has_progress:
            if catch_up and entry.started is not None:
                since = parse_timestamp(entry.started) - lookback
                changes = {**base, since_key: utc_param(since), "ordering": "id"}
                queries.append((CATCH_UP, changes))
            elif not catch_up:
                self.mirrors_deletions = False
                logger.warning(
                    "Stream '%s' has no %s: changes in the id ranges the first attempt "
                    "finished cannot be found, so this resumed read mirrors no deletions "
                    "(the next full sync does)",
                    self.stream,
                    REPLICATION_KEY,
                )
        return queries

    # -- progress ---------------------------------------------------------------------
    def page_arrived(self, tag: t.Any, ids: list[int]) -> int | None:
        """Check a page's ids before its records are handed on; return its last id.

        Progress inside a range counts only while its records come in strictly ascending
        id order, as asked (whether a sequenced cursor honours `ordering` is unconfirmed):
        one step back and the range counts only once finished.
        """
        if not self.by_id or tag == CATCH_UP or tag in self._unordered or not ids:
            return None
        previous = self._last.get(tag)
        ascending = all(a < b for a, b in itertools.pairwise(ids))
        if not ascending or (previous is not None and ids[0] <= previous):
            self._unordered.add(tag)
            self.entry.reached.pop(tag, None)
            logger.info(
                "Stream '%s': id range %s arrives out of id order; it counts only once read "
                "to its end",
                self.stream,
                tag,
            )
            return None
        self._last[tag] = ids[-1]
        return ids[-1]

    def page_read(self, tag: t.Any, last: int | None) -> None:
        """Every record of a page was handed on: what comes before the next STATE."""
        if last is not None and tag not in self._unordered:
            self.entry.reached[tag] = last

    def query_done(self, tag: t.Any) -> None:
        """Every record of a query was handed on."""
        if tag != CATCH_UP:
            self.entry.done.add(tag)
            self.entry.reached.pop(tag, None)


def _by_id(ranges: list[IdRange], params: t.Mapping[str, t.Any]) -> bool:
    """Whether a read asks for its ranges in id order (always when there are several)."""
    return ranges != [WHOLE] or params.get("ordering") == "id"
