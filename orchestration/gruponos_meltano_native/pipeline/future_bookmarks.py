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
import json
import logging
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tap_oracle_wms.horizon import STATE_KEY, Horizon, WMSClock, parse_timestamp

from gruponos_meltano_native.checks.reconciliation import Reconciler
from gruponos_meltano_native.database import create_db_engine, dialect_of
from gruponos_meltano_native.runners.runner import StreamInfo
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
    """Bring back bookmarks of the run's state file beyond the WMS's clock; the streams."""
    state = store.get(scope.state_key) if scope.job.uses_state else None
    where = f"state {store.location(scope.state_key)}"
    repaired, streams = _repaired(settings, scope, tap_config, state, where)
    if repaired is not None:
        store.put(scope.state_key, repaired, run_id)
    return streams


def repair_meltano_state(
    settings: GruponosMeltanoSettings, scope: RunScope, tap_config: dict[str, Any]
) -> list[str]:
    """Bring back bookmarks Meltano keeps for the run beyond the WMS's clock; the streams.

    Read and written with `meltano state get/set` (the id `meltano run` uses for the job and
    its `--state-id-suffix`); a state Meltano cannot give is left to the tap, which then goes
    back to `start_date`.
    """
    if not scope.job.uses_state:
        return []
    from gruponos_meltano_native.runners.meltano_runner import TARGET, state_id_suffix

    suffix = state_id_suffix(scope.company, scope.facility)
    state_id = f"{settings.environment}:{scope.job.meltano_extractor}-to-{TARGET}:{suffix}"
    got = _meltano(settings, "state", "get", state_id)
    try:
        payload = json.loads(got.stdout or "{}") if got.returncode == 0 else {}
    except ValueError:
        payload = {}
    state = payload.get("singer_state") if isinstance(payload, dict) else None
    if not isinstance(state, dict):
        return []
    repaired, streams = _repaired(settings, scope, tap_config, state, f"Meltano state {state_id}")
    if repaired is not None:
        written = _meltano(
            settings, "state", "set", "--force", state_id, json.dumps({"singer_state": repaired})
        )
        if written.returncode != 0:
            log.warning("Meltano state %s not repaired: %s", state_id, written.stderr[-300:])
    return streams


def _meltano(settings: GruponosMeltanoSettings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", "NO_COLOR": "1"}
    from gruponos_meltano_native.runners.meltano_runner import meltano_executable

    command = [meltano_executable(settings), "--environment", settings.environment, *args]
    return subprocess.run(
        command,
        cwd=Path(settings.meltano_project_dir or Path.cwd()),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _repaired(
    settings: GruponosMeltanoSettings,
    scope: RunScope,
    tap_config: dict[str, Any],
    state: dict[str, Any] | None,
    where: str,
) -> tuple[dict[str, Any] | None, list[str]]:
    """Return `state` with bookmarks beyond the WMS's clock brought back (None: none was).

    Checked against the host's clock first (no request when nothing is suspect), then against
    the WMS's own (its `Date` header), so a WMS clock ahead of ours is not taken for an error.
    """
    bookmarks = (state or {}).get("bookmarks") or {}
    now = datetime.now(UTC)
    host = WMSClock()
    host.saw(None)
    if state is None or not any(_future(b, host.horizon()) for b in bookmarks.values()):
        return None, []
    horizon = _wms_horizon(tap_config)
    future = {name: v for name, b in bookmarks.items() if (v := _future(b, horizon))}
    if not future:
        return None, []
    minutes = tap_config.get("lookback_minutes")
    lookback = timedelta(minutes=DEFAULT_LOOKBACK_MINUTES if minutes is None else float(minutes))
    newest = _newest_loaded(settings, scope, list(future), horizon.moment, now)
    repaired = copy.deepcopy(state)
    for stream, value in sorted(future.items()):
        bookmark = repaired["bookmarks"][stream]
        safe = newest.get(stream)
        if safe is None:
            bookmark.pop("replication_key_value", None)
            back_to = "the start (no row of this scope is loaded yet, or none before that clock)"
        else:
            bookmark["replication_key_value"] = (safe - lookback).isoformat()
            bookmark.setdefault("replication_key", REPLICATION_KEY)
            back_to = (
                f"{bookmark['replication_key_value']} (the newest mod_ts loaded for "
                f"{scope.company}/{scope.facility}, {safe.isoformat()}, minus the lookback)"
            )
        log.warning(
            "STATE REPAIRED: stream '%s' of %s had its bookmark at %s, beyond the WMS's clock "
            "(horizon %s): a record stamped in the future left it there, and no later change "
            "would be read. The bookmark is brought back to %s (%s)",
            stream,
            scope,
            value,
            horizon.describe(),
            back_to,
            where,
        )
    return repaired, sorted(future)


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
