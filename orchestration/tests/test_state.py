from __future__ import annotations

import json
import os
from datetime import UTC

import pytest
from gruponos_meltano_native.errors import StateError
from gruponos_meltano_native.files import atomic_write_json
from gruponos_meltano_native.state import StateKey, StateStore


def test_state_is_kept_per_job_company_and_facility(tmp_path):
    store = StateStore(tmp_path)
    dc01 = StateKey("incremental-sync-job", "GNOS", "DC01")
    dc02 = StateKey("incremental-sync-job", "GNOS", "DC02")
    store.put(
        dc01,
        {"bookmarks": {"order_hdr": {"replication_key_value": "2026-01-01T00:00:00+00:00"}}},
        "run-1",
    )
    store.put(
        dc02,
        {"bookmarks": {"order_hdr": {"replication_key_value": "2026-02-01T00:00:00+00:00"}}},
        "run-1",
    )
    assert (
        store.get(dc01)["bookmarks"]["order_hdr"]["replication_key_value"]
        == "2026-01-01T00:00:00+00:00"
    )
    assert (
        store.get(dc02)["bookmarks"]["order_hdr"]["replication_key_value"]
        == "2026-02-01T00:00:00+00:00"
    )
    assert store.get(StateKey("full-sync-job", "GNOS", "DC01")) is None
    assert [(e["facility"], e["run_id"]) for e in store.entries()] == [
        ("DC01", "run-1"),
        ("DC02", "run-1"),
    ]
    assert store.clear(dc01) is True
    assert store.get(dc01) is None
    assert store.clear(dc01) is False


def test_failed_replace_keeps_previous_state_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "s.json"
    atomic_write_json(path, {"v": 1})

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        atomic_write_json(path, {"v": 2})
    assert json.loads(path.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]


def test_damaged_state_file_is_named(tmp_path):
    store = StateStore(tmp_path)
    key = StateKey("incremental-sync-job", "GNOS", "DC01")
    store.path(key).parent.mkdir(parents=True)
    store.path(key).write_text("{not json")
    with pytest.raises(StateError, match=str(store.path(key))):
        store.get(key)


def test_a_full_sync_without_bookmarks_seeds_the_incremental_job_from_before_it_began():
    from datetime import datetime

    from gruponos_meltano_native.state import incremental_seed

    started = datetime(2026, 11, 26, 12, 30, tzinfo=UTC)
    assert incremental_seed(["order_hdr", "allocation"], started) == {
        "bookmarks": {
            name: {
                "replication_key": "mod_ts",
                "replication_key_value": "2026-11-26T11:30:00+00:00",
            }
            for name in ("allocation", "order_hdr")
        }
    }
