"""Parallel extraction as users run it: a real tap process, id ranges read at the same time."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from tap_oracle_wms import parallel
from tap_oracle_wms.client import WMSClient
from tap_oracle_wms.discovery import resolve_schema
from tap_oracle_wms.parallel import PartitionedRead
from tap_oracle_wms.records import RecordCodec, related_fields

TAP = str(Path(sys.executable).parent / "tap-oracle-wms")
# The tap's own CLI, with a STATE every `argv[1]` records instead of every 10,000, so that a
# small run has mid-run STATEs to check.
FREQUENT_STATE_TAP = (
    "import sys; from tap_oracle_wms.streams import WMSStream; "
    "WMSStream.STATE_MSG_FREQUENCY = int(sys.argv.pop(1)); "
    "from tap_oracle_wms.tap import cli; cli()"
)


def start_tap(
    tmp_path: Path, config: dict, state: dict | None = None, state_every: int | None = None
) -> subprocess.Popen:
    """Start the tap; its stdout is read line by line by the test."""
    config_path = tmp_path / "parallel-config.json"
    config_path.write_text(json.dumps(config))
    if state_every is None:
        args = [TAP]
    else:
        args = [sys.executable, "-c", FREQUENT_STATE_TAP, str(state_every)]
    args += ["--config", str(config_path)]
    if state is not None:
        state_path = tmp_path / "parallel-state.json"
        state_path.write_text(json.dumps(state))
        args += ["--state", str(state_path)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def list_queries(sim, entity: str, start: int) -> list[dict[str, str]]:
    """Query parameters of the extraction's list requests served since `start`.

    Left out: one-row planning probes and discovery's sample page (which asks no ordering).
    """
    queries = []
    for target in sim.request_log[start:]:
        parts = urlsplit(target)
        if parts.path.endswith(f"/entity/{entity}/"):
            query = dict(parse_qsl(parts.query))
            if query.get("page_size") != "1" and ("ordering" in query or "cursor" in query):
                queries.append(query)
    return queries


def test_each_record_arrives_exactly_once_while_rows_are_inserted(
    fresh_sim, config_for, run_tap, tmp_path
):
    fresh_sim.set_capacity(page_latency=0.05)
    before = set(fresh_sim.rows("order_dtl"))
    config = config_for(fresh_sim, entities=["order_dtl"], page_size=10, max_parallel_requests=4)
    proc = start_tap(tmp_path, config)
    ids: list[int] = []
    inserted: set[int] = set()
    state = None
    assert proc.stdout is not None
    for line in proc.stdout:
        message = json.loads(line)
        if message["type"] == "RECORD":
            ids.append(message["record"]["id"])
            if len(ids) == 40:  # some ranges read, others not started yet
                fresh_sim.insert("order_hdr", 5)
                inserted = set(fresh_sim.rows("order_dtl")) - before
        elif message["type"] == "STATE":
            state = message["value"]
    assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    assert len(inserted) == 20
    assert len(ids) == len(set(ids))  # no record twice, at any range boundary
    assert before <= set(ids)  # none missed
    assert set(ids) <= before | inserted
    # Lines inserted during the run that its ranges did not see come with the next run.
    again = run_tap(config, state)
    assert inserted <= set(ids) | {r["id"] for r in again.records.get("order_dtl", [])}


def test_a_run_killed_mid_way_and_resumed_lands_every_record(
    fresh_sim, config_for, run_tap, tmp_path
):
    start = fresh_sim.now().astimezone(dt.UTC)
    bookmark = {"replication_key": "mod_ts", "replication_key_value": start.isoformat()}
    state0 = {"bookmarks": {"order_dtl": bookmark}}
    changed: set[int] = set()
    for _ in range(4):  # four waves of changes, ten minutes apart
        fresh_sim.advance(10)
        changed |= set(fresh_sim.touch("order_dtl", 60))
    fresh_sim.set_capacity(page_latency=0.02)
    lookback = dt.timedelta(minutes=1)
    config = config_for(
        fresh_sim, entities=["order_dtl"], page_size=5, lookback_minutes=1, max_parallel_requests=4
    )
    proc = start_tap(tmp_path, config, state0, state_every=10)
    received: list[dict] = []
    states: list[tuple[int, dict]] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        message = json.loads(line)
        if message["type"] == "RECORD":
            received.append(message["record"])
        elif message["type"] == "STATE":
            states.append((len(received), message["value"]))
        if len(received) >= len(changed) // 2:
            proc.kill()
            break
    proc.wait(timeout=60)
    assert any(0 < n < len(changed) for n, _ in states)  # mid-run STATEs were written
    rows = fresh_sim.rows("order_dtl")
    for n, state in states:
        # No record still to come may be older than what a resumed run would ask for.
        value = state["bookmarks"]["order_dtl"]["replication_key_value"]
        floor = dt.datetime.fromisoformat(value) - lookback
        pending = changed - {r["id"] for r in received[:n]}
        assert all(rows[i]["mod_ts"] >= floor for i in pending), (n, value)
    resumed = run_tap(config, states[-1][1])
    assert resumed.returncode == 0, resumed.stderr
    landed = {r["id"] for r in received} | {r["id"] for r in resumed.records["order_dtl"]}
    assert changed <= landed


def test_requests_in_flight_stay_within_the_setting(fresh_sim, config_for, run_tap):
    fresh_sim.set_capacity(page_latency=0.05)
    fresh_sim.capacity.reset_peaks()
    config = config_for(fresh_sim, entities=["order_dtl"], page_size=10, max_parallel_requests=3)
    result = run_tap(config)
    assert result.returncode == 0, result.stderr
    assert sorted(r["id"] for r in result.records["order_dtl"]) == sorted(
        fresh_sim.rows("order_dtl")
    )
    assert 2 <= fresh_sim.capacity.peak_busy <= 3  # in parallel, never beyond the bound
    assert "Entity 'order_dtl': reading 12 id ranges with up to 3 requests in flight" in (
        result.stderr
    )
    count = fresh_sim.count("order_dtl")
    assert f"Entity 'order_dtl' done: 24 pages, {count:,} records, " in result.stderr
    assert "requests in flight (limit 3 of 3), 12 of 12 id ranges done" in result.stderr


def test_throttling_slows_the_whole_tap_and_loses_nothing(fresh_sim, config_for, run_tap):
    fresh_sim.set_faults(fail_every=6, fail_status=429, retry_after=0.05)
    fresh_sim.set_capacity(page_latency=0.01)
    fresh_sim.capacity.reset_peaks()
    config = config_for(fresh_sim, entities=["order_dtl"], page_size=5, max_parallel_requests=8)
    result = run_tap(config)
    assert result.returncode == 0, result.stderr
    ids = [r["id"] for r in result.records["order_dtl"]]
    assert sorted(ids) == sorted(fresh_sim.rows("order_dtl"))
    assert "WMS throttling (HTTP 429): the tap now sends at most 4 requests at a time (was 8)" in (
        result.stderr
    )
    assert "new requests wait 0.05s (Retry-After)" in result.stderr


def test_fields_name_exactly_the_needed_source_fields(sim, config_for, run_tap):
    config = config_for(sim, entities=["order_dtl"])
    catalog = json.loads(run_tap(config, None, "--discover").stdout)
    stream = catalog["streams"][0]
    properties = stream["schema"]["properties"]
    related = related_fields(properties)
    every_source = {p[:-4] if p.endswith("_key") and p[:-4] in related else p for p in properties}
    start = len(sim.request_log)
    result = run_tap(config, catalog=catalog)  # everything selected: no fields=
    assert result.returncode == 0, result.stderr
    plain = list_queries(sim, "order_dtl", start)
    assert plain and all("fields" not in q for q in plain)

    dropped = {"cust_field_1", "unit_sale_price", "order_id_key"}  # order_id stays selected
    for entry in stream["metadata"]:
        if entry["breadcrumb"] == []:
            entry["metadata"]["selected"] = True
        elif entry["breadcrumb"][-1] in dropped:
            entry["metadata"]["selected"] = False
    start = len(sim.request_log)
    result = run_tap(config, catalog=catalog)
    assert result.returncode == 0, result.stderr
    queries = [q for q in list_queries(sim, "order_dtl", start) if "cursor" not in q]
    assert queries
    for query in queries:
        assert set(query["fields"].split(",")) == every_source - {"cust_field_1", "unit_sale_price"}
    records = result.records["order_dtl"]
    assert len(records) == sim.count("order_dtl")
    assert all("order_id" in r and not dropped & set(r) for r in records)


def test_memory_is_bounded_by_the_pages_in_flight(fresh_sim, config_for):
    client = WMSClient(config_for(fresh_sim, page_size=4, max_parallel_requests=4))
    schema = resolve_schema(client, "order_dtl")
    codec = RecordCodec("order_dtl", schema, ["id"])
    read = PartitionedRead(client, "order_dtl", {"ordering": "id"}, codec.decoder)
    assert read.partitioned
    pages = read.pages()
    before = fresh_sim.api_requests
    next(pages)
    time.sleep(0.5)  # a stalled consumer: the readers may not run ahead without bound
    ahead = fresh_sim.api_requests - before
    # The page being read, 4 queued and 8 readers holding one page each.
    assert ahead <= 1 + 4 + 8 < 60 == fresh_sim.count("order_dtl") // 4
    ids = [r.f0 for page in pages for r in page.results]
    assert len(ids) + 4 == fresh_sim.count("order_dtl") == len(set(ids)) + 4


def test_progress_is_logged_per_entity(fresh_sim, config_for, monkeypatch, caplog):
    monkeypatch.setattr(parallel, "PROGRESS_INTERVAL_S", 0.0)  # a line after every page
    client = WMSClient(config_for(fresh_sim, page_size=20, max_parallel_requests=2))
    codec = RecordCodec("order_dtl", resolve_schema(client, "order_dtl"), ["id"])
    with caplog.at_level("INFO", logger="tap_oracle_wms.parallel"):
        read = PartitionedRead(client, "order_dtl", {"ordering": "id"}, codec.decoder)
        pages = list(read.pages())
    lines = [r.getMessage() for r in caplog.records]
    progress = [line for line in lines if "progress:" in line]
    assert len(progress) == len(pages) == read.pages_read
    assert progress[0].startswith("Entity 'order_dtl' progress: 1 pages, 20 records, ")
    assert "records/s, " in progress[0] and "(limit 2 of 2)" in progress[0]
    assert lines[-1].startswith(f"Entity 'order_dtl' done: {len(pages)} pages, 240 records, ")
    assert lines[-1].endswith(f"{len(read.ranges)} of {len(read.ranges)} id ranges done")
