"""The run's horizon: no bookmark runs ahead of the WMS's own clock.

One record with a far-future `mod_ts` (a data-entry error: 2099, 9999) would otherwise move
the bookmark there, and every later incremental run would read nothing new. The horizon is
the WMS's clock when the run started (its `Date` header on the first answer; the host's clock
when it gives none) plus `ALLOWED_SKEW`. A record beyond it is extracted, but the bookmark
stops at the horizon, and the log names the record and its value. A bookmark already beyond
the horizon (left by an earlier version) is brought back to `start_date` with a warning.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import typing as t

logger = logging.getLogger(__name__)

# The WMS's clock and the moment a record is stamped may differ by this much (clock drift,
# a `Date` header's whole seconds, a commit in flight when the run started).
ALLOWED_SKEW = dt.timedelta(minutes=5)
MAX_NAMED = 5  # records named per stream in the log; the count covers the rest
STATE_KEY = "horizon"  # where each stream's STATE records the horizon of its run
REPLICATION_KEY = "mod_ts"  # the tap's replication key, where an entity has it


def parse_timestamp(text: str) -> dt.datetime:
    """Return an ISO 8601 timestamp as an aware datetime (UTC when it has no offset)."""
    value = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class WMSClock:
    """The WMS's clock at the run's start, from the `Date` header of its first answer."""

    def __init__(self) -> None:
        """Nothing is known until the first answer."""
        self.at_start: dt.datetime | None = None
        self.source = ""

    def saw(self, date_header: str | None) -> None:
        """Take the first answer's `Date` header (the host's clock when missing or unreadable)."""
        if self.at_start is not None:
            return
        moment = None
        if date_header:
            try:
                moment = email.utils.parsedate_to_datetime(date_header)
            except (TypeError, ValueError):
                moment = None
        if moment is not None and moment.tzinfo is not None:
            self.at_start, self.source = moment, "the WMS's Date header"
        else:
            self.at_start = dt.datetime.now(dt.UTC)
            self.source = "the host's clock (the WMS sent no Date header)"

    def horizon(self) -> Horizon:
        """Return the run's horizon (the host's clock if the WMS never answered yet)."""
        if self.at_start is None:
            self.saw(None)
        assert self.at_start is not None
        return Horizon(self.at_start + ALLOWED_SKEW, self.source)


class Horizon:
    """The latest replication value a bookmark may take in this run."""

    def __init__(self, moment: dt.datetime, source: str = "") -> None:
        """`moment`: the WMS's clock at the run's start plus the allowed skew."""
        self.moment = moment.astimezone(dt.UTC)
        self.text = self.moment.isoformat()
        self.source = source

    def describe(self) -> str:
        """Return the horizon and where it comes from, for log lines."""
        minutes = ALLOWED_SKEW.total_seconds() / 60
        source = self.source or "the WMS's clock"
        return f"{self.text} ({source} at the run's start + {minutes:g} min)"

    def beyond(self, value: str) -> bool:
        """Whether a replication value lies beyond the horizon (an unreadable one does not)."""
        try:
            return parse_timestamp(value) > self.moment
        except OverflowError:
            return True  # e.g. 9999-12-31T23:59:59-03:00 is past year 9999 in UTC
        except ValueError:
            return False

    def like(self, value: str) -> str:
        """Return the horizon written as `value` is (same offset and precision)."""
        try:
            offset = parse_timestamp(value).utcoffset()
        except (ValueError, OverflowError):
            return self.text
        zone = dt.timezone(offset or dt.timedelta())
        spec = "microseconds" if "." in value else "seconds"
        text = self.moment.astimezone(zone).isoformat(timespec=spec)
        return text.replace("+00:00", "Z") if value.endswith("Z") else text


class FutureRecords:
    """The records of one stream whose replication value lies beyond the horizon."""

    def __init__(self, stream: str, key: str, horizon: Horizon) -> None:
        """Start empty for `stream`, replicated on `key`."""
        self.stream, self.key, self.horizon = stream, key, horizon
        self.count = 0
        self.named: list[tuple[t.Any, str]] = []
        # The horizon written like the stream's values, and its offset (set on first use).
        # A value ending in that offset is beyond only if `value > limit` as text: callers
        # test that first and call `check` only then, or for another offset (one compare
        # per record on the common path).
        self.limit = ""
        self.offset = "\0"

    def check(self, record_id: t.Any, value: str) -> bool:
        """Whether `value` is beyond the horizon; such records are counted and named."""
        if not self.limit:
            self.limit = self.horizon.like(value)
            self.offset = self.limit[-6:]
        limit = self.limit
        if len(value) == len(limit) and value[-6:] == limit[-6:]:
            beyond = value > limit  # the WMS writes one offset and precision: text compares
        else:
            beyond = self.horizon.beyond(value)
        if beyond:
            self.count += 1
            if len(self.named) < MAX_NAMED:
                self.named.append((record_id, value))
        return beyond

    def report(self) -> None:
        """Log the records beyond the horizon, if any."""
        if not self.count:
            return
        named = ", ".join(f"id {record_id} ({value})" for record_id, value in self.named)
        more = f" and {self.count - len(self.named)} more" if self.count > len(self.named) else ""
        logger.warning(
            "Stream '%s': %d record(s) have %s beyond the WMS's clock, horizon %s: %s%s. "
            "They were extracted, but the bookmark stops at the horizon, so later changes "
            "are still read; fix the value in the WMS if it is a data-entry error",
            self.stream,
            self.count,
            self.key,
            self.horizon.describe(),
            named,
            more,
        )


def bring_back(stream: str, saved: str, horizon: Horizon, start_date: str | None) -> str | None:
    """Return a safe bookmark for a saved one beyond the horizon: `start_date` (or none).

    The saved value came from a record with a future replication value (before the horizon
    existed): kept, no later change would ever be read. Re-reading from `start_date` is safe
    (the target upserts); the warning says so, and no state needs editing by hand.
    """
    logger.warning(
        "Stream '%s': its saved bookmark %s lies beyond the WMS's clock (horizon %s): it was "
        "left by a record with a future value, and would hide every later change. The "
        "bookmark is brought back to %s and those records are read again",
        stream,
        saved,
        horizon.describe(),
        f"setting 'start_date' ({start_date})" if start_date else "the start (no 'start_date')",
    )
    return start_date
