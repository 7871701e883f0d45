"""ACTIVATE_VERSION (`emit_activate_version_messages`): only after a full stream's last record.

The SDK writes it when a FULL_TABLE stream starts; a target that deletes (or marks deleted)
rows of older versions on receipt would then wipe the table before any new record, and a
failed run would leave it so. The tap holds it until every page has been read.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TAP = str(Path(sys.executable).parent / "tap-oracle-wms")


def full_table_catalog(run_tap, config: dict) -> dict:
    catalog = json.loads(run_tap(config, None, "--discover").stdout)
    for stream in catalog["streams"]:
        stream["replication_method"] = "FULL_TABLE"
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = True
                entry["metadata"]["forced-replication-method"] = "FULL_TABLE"
    return catalog


def test_setting_is_documented_in_about():
    proc = subprocess.run(
        [TAP, "--about", "--format", "json"], capture_output=True, text=True, check=True
    )
    about = json.loads(proc.stdout)
    settings = about["settings"]["properties"]
    assert "emit_activate_version_messages" in settings
    # The other settings of the live work, documented the same way.
    assert {"scope_paths", "unscoped_entities"} <= set(settings)
    assert settings["request_timeout"]["default"] == 300


def test_full_table_stream_ends_with_activate_version_after_its_records(
    default_sim, config_for, run_tap
):
    config = config_for(
        default_sim, entities=["order_status", "order_hdr"], emit_activate_version_messages=True
    )
    result = run_tap(config)
    assert result.returncode == 0, result.stderr
    kinds = [(m["type"], m.get("stream")) for m in result.messages]
    activations = [m for m in result.messages if m["type"] == "ACTIVATE_VERSION"]
    assert [m["stream"] for m in activations] == ["order_status"]  # order_hdr is incremental
    at = kinds.index(("ACTIVATE_VERSION", "order_status"))
    records = [i for i, k in enumerate(kinds) if k == ("RECORD", "order_status")]
    assert len(records) == default_sim.count("order_status") and max(records) < at
    assert {result.messages[i]["version"] for i in records} == {activations[0]["version"]}
    # A full sync of an incremental entity (the orchestration's FULL mode) gets one too.
    forced = run_tap(config, catalog=full_table_catalog(run_tap, config))
    assert forced.returncode == 0, forced.stderr
    assert {m["stream"] for m in forced.messages if m["type"] == "ACTIVATE_VERSION"} == {
        "order_status",
        "order_hdr",
    }
    last = [m["type"] for m in forced.messages if m.get("stream") == "order_hdr"][-1]
    assert last == "ACTIVATE_VERSION"


def test_a_failed_full_sync_sends_no_activate_version(fresh_sim, config_for, run_tap):
    config = config_for(
        fresh_sim,
        entities=["order_dtl"],
        emit_activate_version_messages=True,
        page_size=25,
        max_retries=0,
    )
    catalog = full_table_catalog(run_tap, config)
    before = fresh_sim.api_requests
    clean = run_tap(config, catalog=catalog)
    assert clean.returncode == 0, clean.stderr
    requests_per_run = fresh_sim.api_requests - before
    # The same run again, with the WMS failing its last page request.
    fresh_sim.set_faults(fail_every=requests_per_run, fail_status=503, retry_after=0)
    failed = run_tap(config, catalog=catalog)
    assert failed.returncode == 1 and "Giving up" in failed.stderr
    assert failed.records["order_dtl"]  # pages before the failure were written
    assert len(failed.records["order_dtl"]) < len(clean.records["order_dtl"])
    assert not [m for m in failed.messages if m["type"] == "ACTIVATE_VERSION"]
