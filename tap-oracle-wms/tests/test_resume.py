"""What a STATE keeps of a partitioned read, and what a rerun with it reads (resume.py).

Kills through real processes, with a target, are in the repository's tests/test_resume.py.
"""

from __future__ import annotations

import datetime as dt

import pytest
from tap_oracle_wms.partitions import IdRange
from tap_oracle_wms.resume import CATCH_UP, FORMAT, ResumeEntry, ResumeTracker, fingerprint

STARTED = "2026-01-05T10:00:00+00:00"


def _entry(**changes) -> ResumeEntry:
    fields = {
        "filters": "f",
        "bounds": [10, 20],
        "started": STARTED,
        "since": None,
        "version": None,
        "done": {0},
        "reached": {1: 15},
    }
    return ResumeEntry(**{**fields, **changes})


def test_a_resumed_read_keeps_its_bounds_and_reads_only_what_is_not_done_plus_changes():
    tracker = ResumeTracker("allocation", _entry(), resumed=True, by_id=True)
    queries = tracker.queries({"a": "1"}, dt.timedelta(minutes=5), catch_up=True)
    assert queries == [
        (1, {"a": "1", "ordering": "id", "id__gte": "16", "id__lt": "20"}),
        (2, {"a": "1", "ordering": "id", "id__gte": "20"}),
        # Changes since the first attempt began (by the WMS's clock) minus the lookback.
        (CATCH_UP, {"a": "1", "ordering": "id", "mod_ts__gte": "2026-01-05T09:55:00+00:00"}),
    ]
    assert tracker.mirrors_deletions


def test_an_incremental_resume_reads_from_the_first_attempts_lower_bound():
    entry = _entry(since="2026-01-01T00:00:00+00:00", done=set(), reached={})
    tracker = ResumeTracker("allocation", entry, resumed=True, by_id=True)
    queries = tracker.queries(
        {"mod_ts__gte": "2026-01-04T00:00:00+00:00"}, dt.timedelta(0), catch_up=True
    )
    assert [q["mod_ts__gte"] for _, q in queries] == ["2026-01-01T00:00:00+00:00"] * 3


def test_without_mod_ts_a_resumed_read_mirrors_no_deletions():
    tracker = ResumeTracker("item", _entry(), resumed=True, by_id=True)
    queries = tracker.queries({}, dt.timedelta(minutes=5), catch_up=False)
    assert [tag for tag, _ in queries] == [1, 2]
    assert not tracker.mirrors_deletions


def test_without_the_wms_clock_a_resumed_read_reads_every_range_again():
    tracker = ResumeTracker("allocation", _entry(started=None), resumed=True, by_id=True)
    queries = tracker.queries({}, dt.timedelta(minutes=5), catch_up=True)
    assert queries == [
        (0, {"ordering": "id", "id__lt": "10"}),
        (1, {"ordering": "id", "id__gte": "10", "id__lt": "20"}),
        (2, {"ordering": "id", "id__gte": "20"}),
    ]


def test_progress_counts_only_once_a_page_was_handed_on_and_only_in_id_order():
    tracker = ResumeTracker("allocation", _entry(done=set(), reached={}), resumed=False, by_id=True)
    last = tracker.page_arrived(1, [11, 12, 13])
    assert tracker.entry.reached == {}  # arrived, not yet handed on
    tracker.page_read(1, last)
    assert tracker.entry.reached == {1: 13}
    # A cursor that ignores `ordering`: the range then counts only once finished.
    tracker.page_read(1, tracker.page_arrived(1, [19, 14]))
    assert tracker.entry.reached == {}
    tracker.page_read(1, tracker.page_arrived(1, [18, 19]))
    assert tracker.entry.reached == {}
    tracker.query_done(1)
    assert tracker.entry.done == {1}
    tracker.page_read(2, tracker.page_arrived(2, [30, 31]))
    tracker.page_read(2, tracker.page_arrived(2, [31, 32]))  # a step back across pages
    assert 2 not in tracker.entry.reached


def test_an_entry_round_trips_through_json_and_names_what_is_wrong_with_a_bad_one():
    entry = _entry(version=7)
    assert ResumeEntry.from_dict(entry.to_dict()) == entry
    assert entry.ranges == [IdRange(None, 10), IdRange(10, 20), IdRange(20, None)]
    with pytest.raises(ValueError, match="format 1, this tap reads"):
        ResumeEntry.from_dict({**entry.to_dict(), "format": 1})
    with pytest.raises(ValueError, match="damaged"):
        ResumeEntry.from_dict({**entry.to_dict(), "bounds": [20, 10]})
    with pytest.raises(ValueError, match="damaged"):
        ResumeEntry.from_dict({**entry.to_dict(), "started": "yesterday"})


def test_the_fingerprint_ignores_ordering_and_the_lower_bound_but_not_filters_or_mode():
    base = fingerprint({"a": "1", "ordering": "id", "mod_ts__gte": "x"}, "incremental")
    assert base == fingerprint({"a": "1", "mod_ts__gte": "y"}, "incremental")
    assert base != fingerprint({"a": "2"}, "incremental")
    assert base != fingerprint({"a": "1"}, "full")


def _resume_state(sim, run_tap, config) -> dict:
    """A STATE written mid-way through a partitioned read (the last with a resume entry)."""
    run = run_tap(config)
    states = [m["value"] for m in run.messages if m["type"] == "STATE"]
    return next(s for s in reversed(states) if "resume" in s["bookmarks"]["allocation"])


@pytest.mark.parametrize("change", ["older format", "other filters"])
def test_a_state_of_another_format_or_filters_starts_clean_and_keeps_the_bookmark(
    fresh_sim, config_for, run_tap, change
):
    config = config_for(fresh_sim, entities=["allocation"], page_size=5, max_parallel_requests=4)
    state = _resume_state(fresh_sim, run_tap, config)
    bookmark = "2026-01-05T10:00:00+00:00"
    state["bookmarks"]["allocation"]["replication_key_value"] = bookmark
    state["bookmarks"]["allocation"]["replication_key"] = "mod_ts"
    if change == "older format":
        state["bookmarks"]["allocation"]["resume"]["format"] = FORMAT - 1
        why = f"written in format {FORMAT - 1}, this tap reads {FORMAT}"
    else:
        config["entity_filters"] = {"allocation": {"status_id__lt": 99}}
        why = "written for other filters or mode"
    before = len(fresh_sim.request_log)
    run = run_tap(config, state)
    assert run.returncode == 0, run.stderr
    assert "the partitioned read starts clean" in run.stderr and why in run.stderr
    # The bookmark is kept (minus the lookback), and every range is read from its start.
    sent = fresh_sim.request_log[before:]
    assert any("mod_ts__gte=2026-01-05T09%3A55%3A00%2B00%3A00" in url for url in sent)
    assert "resuming the read" not in run.stderr
    expected = {
        i
        for i, row in fresh_sim.rows("allocation").items()
        if row["mod_ts"] >= dt.datetime(2026, 1, 5, 9, 55, tzinfo=dt.UTC)
        and (change == "older format" or row["status_id"] < 99)
    }
    assert {r["id"] for r in run.records["allocation"]} == expected
