"""Bookmarks beyond the WMS's clock, as the orchestration sees them.

The tap never moves a bookmark past its run's horizon (the WMS's clock at the run's start plus
an allowed skew) and records that horizon in each stream's STATE (see the tap's horizon.py).
Here: the horizon of a finished run, for the freshness check; and the repair of a stored
bookmark already in the future (left by a record stamped 2099 before the tap had a horizon):
it is brought back to the newest value already loaded for the scope that is not in the future,
minus the lookback, with a loud warning. No state needs editing by hand.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from tap_oracle_wms.horizon import STATE_KEY, Horizon, WMSClock, parse_timestamp

from gruponos_meltano_native.database import create_db_engine, dialect_of
from gruponos_meltano_native.reconciliation import Reconciler
from gruponos_meltano_native.runner import StreamInfo
from gruponos_meltano_native.state import REPLICATION_KEY, StateStore

if TYPE_CHECKING:
    from gruponos_meltano_native.config import GruponosMeltanoSettings
    from gruponos_meltano_native.jobs import RunScope

log = logging.getLogger(__name__)

DEFAULT_LOOKBACK_MINUTES = 5.0  # the tap's default `lookback_minutes`


def state_horizon(state: dict[str, Any] | None) -> datetime | None:
    """Return the latest horizon a run's STATE records (None when it records none)."""
    bookmarks = (state or {}).get("bookmarks")
    found = []
    for bookmark in bookmarks.values() if isinstance(bookmarks, dict) else ():
        value = bookmark.get(STATE_KEY) if isinstance(bookmark, dict) else None
        try:
            if value:
                found.append(parse_timestamp(str(value)))
        except ValueError:
            continue
    return max(found, default=None)


def _future(bookmark: Any, horizon: Horizon) -> str | None:
    value = bookmark.get("replication_key_value") if isinstance(bookmark, dict) else None
    return str(value) if value and horizon.beyond(str(value)) else None


def repair_stored_state(
    settings: GruponosMeltanoSettings,
    store: StateStore,
    scope: RunScope,
    tap_config: dict[str, Any],
    run_id: str,
) -> list[str]:
    """Bring back stored bookmarks beyond the WMS's clock; return the streams repaired.

    Checked against the host's clock first (no request when nothing is suspect), then against
    the WMS's own (its `Date` header), so a WMS clock ahead of ours is not taken for an error.
    """
    state = store.get(scope.state_key) if scope.job.uses_state else None
    bookmarks = (state or {}).get("bookmarks") or {}
    now = datetime.now(timezone.utc)
    host = WMSClock()
    host.saw(None)
    if not any(_future(b, host.horizon()) for b in bookmarks.values()):
        return []
    horizon = _wms_horizon(tap_config)
    future = {name: v for name, b in bookmarks.items() if (v := _future(b, horizon))}
    if not future or state is None:
        return []
    minutes = tap_config.get("lookback_minutes")
    lookback = timedelta(minutes=DEFAULT_LOOKBACK_MINUTES if minutes is None else float(minutes))
    newest = _newest_loaded(settings, scope, list(future), horizon.moment, now)
    repaired = copy.deepcopy(state)
    for stream, value in sorted(future.items()):
        bookmark = repaired["bookmarks"][stream]
        safe = newest.get(stream)
        if safe is None:
            bookmark.pop("replication_key_value", None)
            where = "the start (no row of this scope is loaded yet, or none before that clock)"
        else:
            bookmark["replication_key_value"] = (safe - lookback).isoformat()
            bookmark.setdefault("replication_key", REPLICATION_KEY)
            where = (
                f"{bookmark['replication_key_value']} (the newest mod_ts loaded for "
                f"{scope.company}/{scope.facility}, {safe.isoformat()}, minus the lookback)"
            )
        log.warning(
            "STATE REPAIRED: stream '%s' of %s had its bookmark at %s, beyond the WMS's clock "
            "(horizon %s): a record stamped in the future left it there, and no later change "
            "would be read. The bookmark is brought back to %s (state file %s)",
            stream,
            scope,
            value,
            horizon.describe(),
            where,
            store.path(scope.state_key),
        )
    store.put(scope.state_key, repaired, run_id)
    return sorted(future)


def _wms_horizon(tap_config: dict[str, Any]) -> Horizon:
    """Return the WMS's clock now (its `Date` header on one small request) plus the skew."""
    from tap_oracle_wms.client import WMSClient
    from tap_oracle_wms.errors import WMSError

    client = WMSClient(tap_config)
    with contextlib.suppress(WMSError):  # the run says why; the host's clock stands in
        client.list_entities()
    return client.clock.horizon()


def _newest_loaded(
    settings: GruponosMeltanoSettings,
    scope: RunScope,
    streams: list[str],
    horizon: datetime,
    now: datetime,
) -> dict[str, datetime | None]:
    """Per stream, the newest `mod_ts` loaded for the scope up to the horizon (None: none)."""
    target_config = settings.target_config()
    found: dict[str, datetime | None] = {}
    engine = create_db_engine(target_config)
    info = StreamInfo(properties={REPLICATION_KEY, *scope.record_scope()})
    try:
        with engine.connect() as connection:
            reconciler = Reconciler(
                settings.validation,
                connection,
                dialect_of(engine),
                target_config,
                None,
                now=now,
                horizon=horizon,
            )
            for stream in streams:
                try:
                    change = reconciler.newest_change(reconciler.subject(stream, info, scope))
                except Exception as exc:  # no table, no scope columns: start over
                    log.info("%s: no loaded mod_ts to repair from (%s)", stream, exc)
                    found[stream] = None
                    continue
                found[stream] = change.newest
    finally:
        engine.dispose()
    return found
