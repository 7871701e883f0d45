"""Bookmarks a resumed run can trust, whether or not the WMS honours `ordering`.

A run is cut right after each of its mid-run STATE messages and resumed from it: the
records written before the cut plus the resumed run's records must cover every record the
uncut run extracts. The tap runs in-process here only so STATE can come every 100 records
(the SDK's class attribute) instead of every 10,000.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json

import pytest
from tap_oracle_wms.simulator import WMSSimulator
from tap_oracle_wms.streams import EntityStream
from tap_oracle_wms.tap import TapOracleWMS


def sync(config: dict, state: dict | None = None) -> list[dict]:
    """Run the tap in this process; its Singer messages."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        TapOracleWMS(config=config, state=state or {}).sync_all()
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.mark.parametrize("ignores", [False, True], ids=["cursor-orders", "cursor-ignores-order"])
def test_resuming_from_any_mid_run_state_skips_nothing(monkeypatch, config_for, ignores):
    monkeypatch.setattr(EntityStream, "STATE_MSG_FREQUENCY", 100)
    with WMSSimulator(orders=150, seed=9, cursor_ignores_ordering=ignores) as sim:
        stamps = sorted(r["mod_ts"] for r in sim.rows("order_dtl").values())
        start = stamps[len(stamps) // 3].astimezone(dt.timezone.utc).isoformat()
        # One request at a time: one range, so the order seen is the cursor's own (id ranges
        # read in parallel interleave by design; test_parallel_runs.py covers them).
        config = config_for(
            sim,
            entities=["order_dtl"],
            start_date=start,
            lookback_minutes=0,
            page_size=40,
            max_parallel_requests=1,
        )
        messages = sync(config)
        expected = {m["record"]["id"] for m in messages if m["type"] == "RECORD"}
        assert expected == {
            i for i, r in sim.rows("order_dtl").items() if r["mod_ts"] >= stamps[len(stamps) // 3]
        }
        cuts = [i for i, m in enumerate(messages) if m["type"] == "STATE"][:-1]
        # Unchanged state is not re-sent: held bookmarks mean fewer mid-run STATEs.
        assert len(cuts) >= (1 if ignores else 4)
        bookmarks = []
        for cut in cuts:
            state = messages[cut]["value"]
            before = {m["record"]["id"] for m in messages[:cut] if m["type"] == "RECORD"}
            resumed = sync(config, state)
            after = {m["record"]["id"] for m in resumed if m["type"] == "RECORD"}
            assert before | after == expected, f"cut after message {cut}: state {state}"
            bookmarks.append(
                state.get("bookmarks", {}).get("order_dtl", {}).get("replication_key_value")
            )
        final = messages[-1]["value"]["bookmarks"]["order_dtl"]["replication_key_value"]
        assert dt.datetime.fromisoformat(final) == stamps[-1]
        if ignores:  # out of order: held (no bookmark yet) until the stream completed
            assert set(bookmarks) == {None}
        else:  # in order: mid-run bookmarks advance as records arrive
            assert None not in bookmarks and bookmarks == sorted(bookmarks)
            assert bookmarks[0] < bookmarks[-1] <= final
