"""Bookmarks a resumed run can trust, whether or not the WMS honours `ordering`.

A run is cut right after each of its mid-run STATE messages and resumed from it: the
records written before the cut plus the resumed run's records must cover every record the
uncut run extracts. The tap runs in-process here only so STATE can come every few records
(the SDK's class attribute) instead of every 10,000. Both simulator profiles, with a
sequenced cursor that honours `ordering` and one that returns records in id order.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json

import pytest
from tap_oracle_wms.streams import EntityStream
from tap_oracle_wms.tap import TapOracleWMS
from wms_simulator import WMSSimulator


def sync(config: dict, state: dict | None = None) -> list[dict]:
    """Run the tap in this process; its Singer messages."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        TapOracleWMS(config=config, state=state or {}).sync_all()
    return [json.loads(line) for line in out.getvalue().splitlines()]


PROFILES = pytest.mark.parametrize("profile", ["default", "live"])
CURSORS = pytest.mark.parametrize(
    "ignores", [False, True], ids=["cursor-orders", "cursor-ignores-order"]
)


def record_ids(messages: list[dict]) -> set[int]:
    """The ids of the RECORD messages among `messages`."""
    return {m["record"]["id"] for m in messages if m["type"] == "RECORD"}


def resume_after_each_state(config: dict, messages: list[dict]) -> list[dict]:
    """Cut `messages` after each mid-run STATE, resume from it, check nothing is lost.

    Returns the mid-run STATE values, in order.
    """
    expected = record_ids(messages)
    cuts = [i for i, m in enumerate(messages) if m["type"] == "STATE"][:-1]
    states = []
    for cut in cuts:
        state = messages[cut]["value"]
        before = record_ids(messages[:cut])
        resumed = record_ids(sync(config, state))
        lost = expected - before - resumed
        assert not lost, (
            f"cut after message {cut} (state {state}): expected {len(expected)}, before the "
            f"cut {len(before)}, resumed {len(resumed)}, lost {len(lost)}: {sorted(lost)}"
        )
        states.append(state)
    return states


def bookmark(state: dict) -> str | None:
    """The order_dtl bookmark of a STATE value (None: none yet)."""
    return state.get("bookmarks", {}).get("order_dtl", {}).get("replication_key_value")


@PROFILES
@CURSORS
# seed 3 touches an old line (first in id order), seed 18 one of the inserted lines (the
# 6th: five records that look sorted come before it).
@pytest.mark.parametrize("seed", [3, 18], ids=["old-line-touched", "new-line-touched"])
def test_state_right_after_a_record_that_jumped_ahead(
    monkeypatch, config_for, profile, ignores, seed
):
    """The reviewer's case: a STATE written just after a late-modified record.

    Lines inserted at one moment come in id order with equal mod_ts, so an id-ordered
    cursor's prefix looks sorted; one line modified 30 minutes later comes wherever its id
    puts it. A bookmark taken right after it would skip every line still to come.
    """
    with WMSSimulator(
        orders=50, seed=seed, profile=profile, cursor_ignores_ordering=ignores
    ) as sim:
        sim.advance(60)
        inserted_at = sim.now()
        sim.insert("order_hdr", 10)
        sim.advance(30)
        (touched,) = sim.touch("order_dtl", 1)
        config = config_for(
            sim,
            entities=["order_dtl"],
            start_date=inserted_at.astimezone(dt.UTC).isoformat(),
            lookback_minutes=0,
            page_size=15,
            max_parallel_requests=1,
        )
        monkeypatch.setattr(EntityStream, "STATE_MSG_FREQUENCY", 10_000)
        ids = [m["record"]["id"] for m in sync(config) if m["type"] == "RECORD"]
        position = ids.index(touched) + 1
        monkeypatch.setattr(EntityStream, "STATE_MSG_FREQUENCY", position)
        messages = sync(config)
        assert record_ids(messages) == {
            i for i, r in sim.rows("order_dtl").items() if r["mod_ts"] >= inserted_at
        }
        assert len(messages) > position and any(m["type"] == "STATE" for m in messages[:-1])
        resume_after_each_state(config, messages)


@PROFILES
@CURSORS
def test_resuming_from_any_mid_run_state_skips_nothing(monkeypatch, config_for, profile, ignores):
    monkeypatch.setattr(EntityStream, "STATE_MSG_FREQUENCY", 100)
    with WMSSimulator(orders=150, seed=9, profile=profile, cursor_ignores_ordering=ignores) as sim:
        stamps = sorted(r["mod_ts"] for r in sim.rows("order_dtl").values())
        start = stamps[len(stamps) // 3].astimezone(dt.UTC).isoformat()
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
        assert record_ids(messages) == {
            i for i, r in sim.rows("order_dtl").items() if r["mod_ts"] >= stamps[len(stamps) // 3]
        }
        states = resume_after_each_state(config, messages)
        # Unchanged state is not re-sent: held bookmarks mean fewer mid-run STATEs.
        assert len(states) >= (1 if ignores else 4)
        bookmarks = [bookmark(state) for state in states]
        final = bookmark(messages[-1]["value"])
        assert final is not None and dt.datetime.fromisoformat(final) == stamps[-1]
        if ignores:  # id order: never proved sorted by mod_ts, held until the stream completed
            assert set(bookmarks) == {None}
        else:  # sorted by mod_ts, proved on the first page: mid-run bookmarks advance
            assert None not in bookmarks and bookmarks == sorted(bookmarks)
            assert bookmarks[0] < bookmarks[-1] <= final
