"""The streams: a stream base with a fast record path, and one stream per WMS entity.

`WMSStream` turns WMS pages into Singer records cheaply; `EntityStream` is one WMS entity,
INCREMENTAL on `mod_ts` where the entity has it, else FULL_TABLE. The WMS's HTTP rules stay
in client.py (no SDK there); reading id ranges in parallel is parallel.py's job.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import typing as t

from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib.catalog import REPLICATION_INCREMENTAL, Metadata

from tap_oracle_wms import horizon
from tap_oracle_wms.client import WMSClient, utc_param
from tap_oracle_wms.errors import WMSRequestError
from tap_oracle_wms.horizon import REPLICATION_KEY, FutureRecords, parse_timestamp
from tap_oracle_wms.messages import ENCODER, BufferedSingerWriter
from tap_oracle_wms.ordering import ReceivedOrder
from tap_oracle_wms.parallel import PartitionedRead
from tap_oracle_wms.partitions import plan
from tap_oracle_wms.records import RecordCodec, unwritable
from tap_oracle_wms.resume import KEY as RESUME_KEY
from tap_oracle_wms.resume import ResumeTracker
from tap_oracle_wms.scope import SCOPE_PROPERTIES
from tap_oracle_wms.sdk import FencedStream

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk.helpers.types import Context

logger = logging.getLogger(__name__)


def not_after(earlier: str, later: str) -> bool:
    """Whether timestamp `earlier` is at or before `later`, parsing only when it must.

    ISO 8601 strings of the same length with the same offset compare correctly as text
    (the WMS writes one offset and one precision): no datetime is built on that path.
    """
    if len(earlier) == len(later) and earlier[-6:] == later[-6:]:
        return earlier <= later
    return parse_timestamp(earlier) <= parse_timestamp(later)


class WMSStream(FencedStream):
    """A stream reading one WMS entity through `WMSClient`, with a fast record path.

    Records are decoded straight into typed structs, converted by a function compiled
    once per stream, and written as pre-framed RECORD lines; the SDK still drives
    selection, state, STATE messages and metrics.
    """

    # Requests ask for (mod_ts, id) order; whether the WMS honours it is decided from the
    # records received (see `ReceivedOrder`), so the SDK's own sort check is not used.
    is_sorted = True

    def __init__(self, tap: t.Any, name: str, schema: dict, client: WMSClient) -> None:
        """Bind the entity's schema and the shared client."""
        self.client = client
        super().__init__(tap=tap, name=name, schema=schema)
        self.primary_keys = ["id"]
        self._frame: tuple[bytes, bytes] | None = None
        self._bookmark: dt.datetime | None = None  # the saved or newest mod_ts, as an instant
        self._key: str | None = None  # the replication key of this run (None: not incremental)
        self._max: str | None = None  # the greatest replication key value seen
        self._order = ReceivedOrder()  # what the records received prove about their order
        # Set when records arrive out of order by design (e.g. id ranges read in parallel):
        # the bookmark then waits for the end as when disorder is detected.
        self._held = False
        self._complete = False  # every page of the stream was read
        self._owner = tap
        self._resume: ResumeTracker | None = None  # this run's resumable progress
        self._future: FutureRecords | None = None  # records beyond the run's horizon

    @property
    def metadata(self) -> t.Any:
        """Standard metadata, with the scope properties always included (never deselected)."""
        md = super().metadata
        for name in SCOPE_PROPERTIES.values():
            entry = md.get(("properties", name))
            if entry is not None:
                entry.inclusion = Metadata.InclusionType.AUTOMATIC
        return md

    # -- what to request ---------------------------------------------------------------
    def request_params(self, context: Context | None) -> dict[str, t.Any]:
        """Return filters and ordering for this run; subclasses add replication filters."""
        return self.client.scope_params(self.name, self.schema.get("properties", {}))

    # -- records -----------------------------------------------------------------------
    def _selected_properties(self) -> list[str]:
        mask = self.mask
        return [
            name
            for name in self.effective_schema.get("properties", {})
            if mask.get(("properties", name), True)
        ]

    def _fields_param(self, codec: RecordCodec, selected: list[str]) -> str | None:
        """Return `fields=` naming the source fields needed when some are deselected.

        Fewer fields mean fewer relation lookups on the WMS; with everything selected the
        request stays as it is.
        """
        if len(selected) >= len(self.effective_schema.get("properties", {})):
            return None
        needed = list(codec.sources)
        for name in ("id", self.replication_key if self.incremental else None):
            if name and name not in needed:
                needed.append(name)
        return ",".join(needed)

    def get_records(self, context: Context | None) -> Iterator[dict]:
        """Return converted records of every page, reading id ranges in parallel."""
        selected = self._selected_properties()
        codec = RecordCodec(self.name, self.effective_schema, selected, self.client.scope_values())
        self._key = self.replication_key if self.incremental else None
        saved = self._saved_bookmark()
        self._bookmark = parse_timestamp(saved) if saved else None
        self._max, self._order, self._complete = None, ReceivedOrder(), False
        if self.stream_version is not None:
            # The SDK's version counts whole seconds: two full syncs in one second would
            # share it and the second could not tell the first one's rows from its own.
            self.stream_version = time.time_ns() // 1_000_000
        convert = codec.convert
        params = self.request_params(context)
        fields = self._fields_param(codec, selected)
        if fields:
            params["fields"] = fields
        try:
            read, resume = self._start_read(params, codec)
            # Interleaved id ranges (or a resumed read): the bookmark waits for the end.
            self._held = read.partitioned or resume.resumed
            get_id = codec.getter("id") if resume.by_id else None
            for tag, page in read.tagged_pages():
                if page is None:
                    # Every record of it was handed on: a STATE may say so at once.
                    resume.query_done(tag)
                    self.write_state()
                    continue
                # Every record of the pages before was processed (and maybe a STATE written).
                self._order.page_done()
                if self._frame is not None:
                    self._frame = (self._frame[0], self._suffix())
                results = page.results
                last = resume.page_arrived(tag, list(map(get_id, results))) if get_id else None
                for raw in results:
                    yield convert(raw)
                resume.page_read(tag, last)
        except WMSRequestError as exc:
            properties = self.schema.get("properties", {})
            raise self.client.explain_refusal(exc, self.name, properties) from None
        self._complete = True
        if self._future is not None:
            self._future.report()
        if self._key is not None and not self._order.confirmed and not self._held:
            logger.info(
                "Stream '%s': the records never proved a %s order, so mid-run bookmarks were "
                "held; the final bookmark is the greatest value seen",
                self.name,
                self._key,
            )
        if self.stream_version is not None and self.emit_activate_version_messages:
            # Every record of this full-table sync has been written: only now may the
            # target treat rows of older versions as gone from the WMS.
            self.write_activate_version(self.stream_version)

    def _start_read(
        self, params: dict[str, t.Any], codec: RecordCodec
    ) -> tuple[PartitionedRead, ResumeTracker]:
        """Plan the read, or resume the one the STATE describes (resume.py)."""
        client = self.client
        if not self.incremental:
            mode = "full" if self.stream_version is None else "full+versions"
        else:
            mode = "incremental"
        resume = ResumeTracker.start(
            self.name,
            self.stream_state,
            client,
            params,
            mode,
            self.stream_version,
            lambda: plan(client, self.name, params, client.gate.ceiling),
        )
        self._resume = resume
        if resume.entry.version is not None and self.stream_version is not None:
            # The version of the attempt resumed: its rows and ours are one sync's.
            self.stream_version = resume.entry.version
        lookback = dt.timedelta(minutes=float(self.config.get("lookback_minutes", 5)))
        can_catch_up = REPLICATION_KEY in self.schema.get("properties", {})
        queries = resume.queries(params, lookback, catch_up=can_catch_up)
        ranges = resume.entry.ranges
        read = PartitionedRead(
            client, self.name, params, codec.decoder, ranges=ranges, queries=queries
        )
        return read, resume

    def _saved_bookmark(self) -> str | None:
        """Return the saved bookmark, brought back if it lies beyond the run's horizon."""
        if self._key is None:
            self._future = None
            return None
        run_horizon = self.client.clock.horizon()
        self._future = FutureRecords(self.name, self._key, run_horizon)
        state = self.stream_state
        saved = state.get("replication_key_value")
        if saved and run_horizon.beyond(saved):
            saved = horizon.bring_back(self.name, saved, run_horizon, self.config.get("start_date"))
            if saved:
                state["replication_key_value"] = saved
            else:
                state.pop("replication_key_value", None)
        return saved

    def _suffix(self) -> bytes:
        extracted = ENCODER.encode(dt.datetime.now(dt.UTC))
        version = f',"version":{self.stream_version}' if self.stream_version else ""
        return f'{version},"time_extracted":{extracted.decode()}}}\n'.encode()

    def write_activate_version(self, full_table_version: int) -> None:
        """Write ACTIVATE_VERSION only once the stream's records are complete.

        The SDK writes it when a FULL_TABLE stream starts, before any record: a target
        then deletes (or marks deleted) every row of older versions at once, and a run
        that fails halfway leaves most of the table marked deleted. Holding the message
        until the last page has been read means only a completed full sync leads to
        deletions; the RECORDs still carry the version from the start.
        """
        if not self._complete:
            return
        if self._resume is not None and not self._resume.mirrors_deletions:
            logger.warning(
                "Stream '%s': no ACTIVATE_VERSION after this resumed read (see above): "
                "deletions are not mirrored this run",
                self.name,
            )
            return
        super().write_activate_version(full_table_version)

    def write_schema(self) -> None:
        """Write SCHEMA, and decide whether records can take the fast path."""
        super().write_schema()
        maps = self.stream_maps
        writer = self.message_writer
        if (
            isinstance(writer, BufferedSingerWriter)
            and len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and not self.config.get("flattening_enabled")
        ):
            prefix = b'{"type":"RECORD","stream":' + ENCODER.encode(maps[0].stream_alias)
            self._frame = (prefix + b',"record":', self._suffix())
            self._emit_record = writer.write_record
        else:
            self._frame = None

    def write_record(self, record: dict) -> None:
        """Write one RECORD: pre-framed when no stream map needs the SDK's path."""
        frame = self._frame
        try:
            if frame is None:
                super().write_record(record)
                return
            self._emit_record(frame[0], record, frame[1])
        except (ValueError, TypeError) as exc:
            raise unwritable(self.name, record, exc) from None
        self.state_manager.is_flushed = False

    def process_record(
        self,
        record: dict,
        child_context: t.Any = None,
        partition_context: t.Any = None,
    ) -> None:
        """No child streams and no partitions: nothing to do per record."""

    # -- state -------------------------------------------------------------------------
    def get_replication_key_signpost(self, context: Context | None = None) -> None:
        """No signpost: the bookmark comes from the WMS's own clock, not ours."""
        return

    @property
    def incremental(self) -> bool:
        """Whether this run is incremental (a catalog may force FULL_TABLE)."""
        return self.replication_method == REPLICATION_INCREMENTAL and bool(self.replication_key)

    def track_record(self, latest_record: dict, *, context: Context | None = None) -> None:
        """Track the greatest replication key value, and what the order received proves.

        One string comparison per record (see `not_after`), plus an integer comparison
        while the order is not yet confirmed (see `ReceivedOrder`). A record older than
        one already seen shows the WMS did not honour `ordering`: from then on mid-run
        bookmarks are held.
        """
        key = self._key
        if key is None:
            return
        value = latest_record.get(key)
        if value is None:
            return
        top = self._max
        # `not_after`, its text fast path inlined: this runs once per record.
        if top is None or (
            top <= value
            if len(top) == len(value) and top[-6:] == value[-6:]
            else not_after(top, value)
        ):
            # Only a new greatest value can lie beyond the horizon (the greatest never does).
            future = self._future
            if (
                future is not None
                and (value > future.limit or not value.endswith(future.offset))
                and future.check(latest_record.get("id"), value)
            ):
                return  # extracted, but the bookmark never passes the horizon
            self._max = value
            order = self._order
            if order.watching:
                order.saw(latest_record.get("id"))
        elif not self._order.disordered:
            self._order.disorder()
            if not self._held:  # ranges read in parallel interleave by design
                logger.warning(
                    "Stream '%s': records arrive out of %s order (%s after %s); the bookmark "
                    "stays at its starting value until every page is read",
                    self.name,
                    key,
                    value,
                    top,
                )

    def write_state(self) -> None:
        """Move the bookmark where a resumed run cannot skip a record, then write STATE.

        Once the data has proved the WMS sorts by the replication key (`ReceivedOrder`),
        every record not yet received is at or after the greatest value seen. Until then,
        and after any disorder, nothing is known about them until the stream completes, so
        the bookmark only moves at the end (to the greatest value seen).
        """
        self._keep_resume()
        advance = (self._order.confirmed and not self._held) or self._complete
        value = self._max if advance else None
        if value is not None and self._key is not None:
            moment = parse_timestamp(value)
            # Compared as instants (offsets may differ), and never moved back.
            if self._bookmark is None or moment >= self._bookmark:
                self._bookmark = moment
                state = self.stream_state
                state["replication_key"] = self._key
                state["replication_key_value"] = value
        if self._future is not None:
            self.stream_state[horizon.STATE_KEY] = self._future.horizon.text
        super().write_state()

    def _keep_resume(self) -> None:
        """Put the read's resumable progress in the STATE; clear it all when the sync ends.

        Finished streams keep theirs (every range done) until the last selected stream
        completes, so a rerun after a kill reads them no more.
        """
        resume = self._resume
        if resume is None:
            return
        streams = [s for s in self._owner.streams.values() if s.selected]
        if self._complete and streams and streams[-1] is self:
            for bookmark in self.tap_state.get("bookmarks", {}).values():
                if isinstance(bookmark, dict):
                    bookmark.pop(RESUME_KEY, None)
            self._resume = None
        else:
            entry = resume.entry.to_dict()
            if self.stream_state.get(RESUME_KEY) == entry:
                return
            self.stream_state[RESUME_KEY] = entry
        self.state_manager.is_flushed = False


class EntityStream(WMSStream):
    """A WMS entity, named as the entity, keyed by `id`."""

    def __init__(self, tap: t.Any, name: str, schema: dict, client: WMSClient) -> None:
        """Pick the replication key from the schema."""
        super().__init__(tap=tap, name=name, schema=schema, client=client)
        if REPLICATION_KEY in schema.get("properties", {}):
            self.replication_key = REPLICATION_KEY

    def request_params(self, context: Context | None) -> dict[str, t.Any]:
        """Scoping and filters, plus `mod_ts__gte` and ordering for incremental runs.

        The lower bound is the bookmark minus `lookback_minutes` (changes committed late
        in the WMS still get picked up), or `start_date` on a first run; it is sent in
        UTC with an explicit offset because the WMS reads offset-less times in the
        facility's zone.
        """
        params = super().request_params(context)
        if not self.incremental:
            params["ordering"] = "id"
            return params
        params["ordering"] = f"{REPLICATION_KEY},id"
        bookmark = self.stream_state.get("replication_key_value")
        if bookmark:
            lookback = dt.timedelta(minutes=float(self.config.get("lookback_minutes", 5)))
            params[f"{REPLICATION_KEY}__gte"] = utc_param(parse_timestamp(bookmark) - lookback)
        elif self.config.get("start_date"):
            start = parse_timestamp(self.config["start_date"])
            params[f"{REPLICATION_KEY}__gte"] = utc_param(start)
        return params
