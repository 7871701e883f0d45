"""Checks of what the user hands the tap: setting names and values, and the `--state` file.

A mistyped setting name is otherwise ignored: `facility_cod` would extract every facility.
Unknown names are warned about; a near miss of a scoping setting is an error, since it
changes what is extracted. A state or `start_date` the tap cannot read is an error naming
the setting, or the state file and stream, never a bare Python error.
"""

from __future__ import annotations

import difflib
import logging
import typing as t

from tap_oracle_wms.errors import WMSConfigError, WMSStateError
from tap_oracle_wms.horizon import REPLICATION_KEY, parse_timestamp

logger = logging.getLogger(__name__)

# Settings that narrow what is extracted: a typo in their name widens the run silently.
SCOPING_SETTINGS = ("company_code", "facility_code")


def _nearest(name: str, known: t.Iterable[str], cutoff: float = 0.75) -> str | None:
    found = difflib.get_close_matches(name.lower(), list(known), n=1, cutoff=cutoff)
    return found[0] if found else None


def check_settings(config: t.Mapping[str, t.Any], known: t.Collection[str], program: str) -> None:
    """Warn about unknown setting names; refuse a near miss of a scoping one, and bad values."""
    unknown = sorted(name for name in config if name not in known)
    for name in unknown:
        scoping = _nearest(name, SCOPING_SETTINGS, cutoff=0.7)  # `company` is a near miss too
        if scoping and not config.get(scoping):
            msg = (
                f"Unknown setting '{name}': did you mean '{scoping}'? Without it the run "
                f"is not narrowed to that {scoping.split('_')[0]}; rename the setting"
            )
            raise WMSConfigError(msg)
    if unknown:
        hints = []
        for name in unknown:
            near = _nearest(name, known)
            hints.append(f"{name} (did you mean {near}?)" if near else name)
        logger.warning(
            "Unknown settings, ignored: %s (see `%s --about` for the settings)",
            ", ".join(hints),
            program,
        )
    start = config.get("start_date")
    if start is not None:
        try:
            parse_timestamp(str(start))
        except (ValueError, OverflowError):
            msg = (
                f"Setting 'start_date' is {start!r}, not an ISO 8601 date or time; give one "
                "like 2026-01-31 or 2026-01-31T00:00:00Z"
            )
            raise WMSConfigError(msg) from None


def check_state(state: t.Any, where: str = "The state (--state file)") -> None:
    """Refuse a Singer state the tap cannot use, naming `where` it is, the stream and why."""
    if not isinstance(state, dict):
        msg = f"{where} is not a JSON object; give a Singer state or none"
        raise WMSStateError(msg)
    bookmarks = state.get("bookmarks", {})
    if not isinstance(bookmarks, dict):
        msg = (
            f"{where}: 'bookmarks' is {type(bookmarks).__name__} {bookmarks!r:.60}, not an "
            'object of streams (like {"order_hdr": {"replication_key_value": "…"}}); '
            "fix or remove the state to start over"
        )
        raise WMSStateError(msg)
    for stream, bookmark in bookmarks.items():
        if not isinstance(bookmark, dict):
            msg = (
                f"{where}: the bookmark of stream '{stream}' is {bookmark!r:.60}, not an "
                "object; fix or remove it"
            )
            raise WMSStateError(msg)
        value = bookmark.get("replication_key_value")
        if value is None or bookmark.get("replication_key", REPLICATION_KEY) != REPLICATION_KEY:
            continue  # only the tap's own key is a time
        try:
            parse_timestamp(str(value))
        except (ValueError, OverflowError):
            msg = (
                f"{where}: the bookmark of stream '{stream}' is {value!r:.60}, not an ISO "
                "8601 time; fix it, or remove that stream's bookmark to read from "
                "'start_date'"
            )
            raise WMSStateError(msg) from None
