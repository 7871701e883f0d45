"""The tap as users run it: a real `tap-oracle-wms` process against the live simulator."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from tap_oracle_wms.client import WMSClient
from tap_oracle_wms.discovery import resolve_schema
from tap_oracle_wms.records import RecordCodec

GRUPONOS = ("allocation", "order_hdr", "order_dtl")


def ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def test_discovery_builds_sql_shaped_streams(sim, config_for, run_tap):
    result = run_tap(config_for(sim, entities=["*"]), None, "--discover")
    assert result.returncode == 0, result.stderr
    catalog = {s["tap_stream_id"]: s for s in json.loads(result.stdout)["streams"]}
    assert set(catalog) == set(WMSClient(config_for(sim)).list_entities())
    dtl = catalog["order_dtl"]
    props = dtl["schema"]["properties"]
    assert props["order_id"]["type"] == ["integer", "null"] and "order_id_key" in props
    assert props["ord_qty"]["type"] == ["number", "null"]
    assert props["mod_ts"]["format"] == "date-time"
    assert props["cust_field_1"]["maxLength"] == 50
    assert "url" not in props and "allocation_set" not in props
    assert "status_id_key" not in props  # status_id is a bare integer
    assert dtl["key_properties"] == ["id"] and dtl["replication_key"] == "mod_ts"
    assert dtl["replication_method"] == "INCREMENTAL"
    assert catalog["order_status"]["replication_method"] == "FULL_TABLE"
    assert catalog["inventory"]["schema"]["properties"]["expiry_date"]["format"] == "date"
    assert catalog["item"]["schema"]["properties"]["hazmat_flg"]["type"] == ["boolean", "null"]


@pytest.mark.parametrize("page_mode", ["sequenced", "paged"])
def test_full_run_extracts_exactly_every_record(sim, config_for, run_tap, page_mode):
    # One request at a time: one range, so the whole stream is in (mod_ts, id) order.
    result = run_tap(config_for(sim, page_mode=page_mode, page_size=37, max_parallel_requests=1))
    assert result.returncode == 0, result.stderr
    kinds = [m["type"] for m in result.messages]
    assert kinds[0] == "STATE" or kinds[0] == "SCHEMA"
    for entity in GRUPONOS:
        ids = [r["id"] for r in result.records[entity]]
        assert sorted(ids) == sorted(sim.rows(entity)), entity
        assert len(ids) == len(set(ids))
        stamps = [ts(r["mod_ts"]) for r in result.records[entity]]
        assert stamps == sorted(stamps)  # ordered by mod_ts, id
        bookmark = result.last_state["bookmarks"][entity]
        assert ts(bookmark["replication_key_value"]) == max(stamps)
    line = next(r for r in result.records["order_dtl"] if r["id"] == 1)
    row = sim.rows("order_dtl")[1]
    hdr = sim.rows("order_hdr")[row["order_id"]]
    assert line["order_id"] == row["order_id"] and line["order_id_key"] == hdr["order_nbr"]
    price = "sale_price" if sim.profile == "live" else "unit_sale_price"
    assert line[price] == float(row[price])
    assert ts(line["mod_ts"]) == row["mod_ts"] and line["mod_ts"].endswith("-03:00")
    assert "url" not in line and "allocation_set" not in line


def test_incremental_run_returns_only_changes_and_the_lookback_window(
    fresh_sim, config_for, run_tap
):
    config = config_for(fresh_sim, entities=["order_dtl"], lookback_minutes=5)
    first = run_tap(config)
    assert first.returncode == 0, first.stderr
    bookmark = ts(first.last_state["bookmarks"]["order_dtl"]["replication_key_value"])
    fresh_sim.advance(60)
    touched = fresh_sim.touch("order_dtl", 4)
    before = set(fresh_sim.rows("order_dtl"))
    fresh_sim.insert("order_hdr", 2)
    inserted = set(fresh_sim.rows("order_dtl")) - before
    second = run_tap(config, first.last_state)
    assert second.returncode == 0, second.stderr
    window = {
        r["id"]
        for r in first.records["order_dtl"]
        if ts(r["mod_ts"]) >= bookmark - dt.timedelta(minutes=5)
    }
    got = [r["id"] for r in second.records["order_dtl"]]
    assert len(inserted) == 8 and window
    assert set(got) == set(touched) | inserted | window and len(got) == len(set(got))
    new_bookmark = second.last_state["bookmarks"]["order_dtl"]["replication_key_value"]
    assert ts(new_bookmark) == fresh_sim.now()
    # Nothing changed since: a third run re-reads only the lookback window.
    third = run_tap(config, second.last_state)
    assert {r["id"] for r in third.records.get("order_dtl", [])} == set(touched) | inserted
    assert third.last_state["bookmarks"]["order_dtl"]["replication_key_value"] == new_bookmark


def test_start_date_bounds_the_first_run(sim, config_for, run_tap):
    stamps = sorted(r["mod_ts"] for r in sim.rows("order_hdr").values())
    cutoff = stamps[len(stamps) // 2].astimezone(dt.UTC)
    result = run_tap(config_for(sim, entities=["order_hdr"], start_date=cutoff.isoformat()))
    assert result.returncode == 0, result.stderr
    assert {r["id"] for r in result.records["order_hdr"]} == {
        i for i, r in sim.rows("order_hdr").items() if r["mod_ts"] >= cutoff
    }


def test_entity_filters_narrow_by_relation(sim, config_for, run_tap):
    config = config_for(
        sim,
        entities=["order_dtl"],
        entity_filters={"order_dtl": {"order_id__facility_id__code": "DC02"}},
    )
    result = run_tap(config)
    assert result.returncode == 0, result.stderr
    assert len(result.records["order_dtl"]) == sim.count("order_dtl", facility="DC02") > 0
    properties = _schema_properties(result, "order_dtl")  # the run's SCHEMA, as reconciliation
    assert WMSClient(config).count("order_dtl", properties) == sim.count(
        "order_dtl", facility="DC02"
    )


def _schema_properties(result, stream: str) -> dict:
    schema = next(m for m in result.messages if m["type"] == "SCHEMA" and m["stream"] == stream)
    return schema["schema"]["properties"]


def test_empty_list_404_is_an_empty_stream(sim, config_for, run_tap):
    config = config_for(
        sim, entities=["order_hdr"], entity_filters={"order_hdr": {"order_nbr": "NO-SUCH-ORDER"}}
    )
    result = run_tap(config)
    assert result.returncode == 0, result.stderr
    assert [m["stream"] for m in result.messages if m["type"] == "SCHEMA"] == ["order_hdr"]
    assert "order_hdr" not in result.records
    assert WMSClient(config).count("order_hdr", _schema_properties(result, "order_hdr")) == 0


def test_oauth2_client_credentials_run(fresh_sim, config_for, run_tap):
    config = config_for(
        fresh_sim,
        auth_method="oauth2",
        username=None,
        password=None,
        oauth_token_url=fresh_sim.oauth_token_url,
        oauth_client_id=fresh_sim.oauth_client_id,
        oauth_client_secret=fresh_sim.oauth_client_secret,
        entities=["order_hdr"],
    )
    result = run_tap({k: v for k, v in config.items() if v is not None})
    assert result.returncode == 0, result.stderr
    assert len(result.records["order_hdr"]) == fresh_sim.count("order_hdr")
    assert fresh_sim.token_requests == 1  # one token for discovery and every page


@pytest.mark.parametrize("fail_status", [429, 503])
def test_faults_are_survived_with_the_exact_record_set(fresh_sim, config_for, run_tap, fail_status):
    fresh_sim.set_faults(fail_every=4, fail_status=fail_status, retry_after=0.01, drop_every=7)
    result = run_tap(config_for(fresh_sim, entities=["order_dtl"], page_size=20, max_retries=6))
    assert result.returncode == 0, result.stderr
    ids = [r["id"] for r in result.records["order_dtl"]]
    assert sorted(ids) == sorted(fresh_sim.rows("order_dtl"))
    assert "Retrying" in result.stderr


def test_catalog_selection_drops_deselected_streams_and_fields(sim, config_for, run_tap):
    config = config_for(sim)
    catalog = json.loads(run_tap(config, None, "--discover").stdout)
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"] == "order_dtl"
            elif entry["breadcrumb"] == ["properties", "cust_field_1"]:
                entry["metadata"]["selected"] = False
    result = run_tap(config, catalog=catalog)
    assert result.returncode == 0, result.stderr
    assert set(result.records) == {"order_dtl"}
    assert all("cust_field_1" not in r and "ord_qty" in r for r in result.records["order_dtl"])
    schema = next(m for m in result.messages if m["type"] == "SCHEMA")["schema"]
    assert "cust_field_1" not in schema["properties"]


def test_bad_credentials_fail_clearly_without_the_secret(default_sim, config_for, run_tap):
    result = run_tap(config_for(default_sim, password="Wr0ng-Pa55word"))
    assert result.returncode != 0
    assert "AUTHENTICATION_FAILED" in result.stderr and "HTTP 401" in result.stderr
    assert "Wr0ng-Pa55word" not in result.stderr + result.stdout
    assert not result.records


def test_missing_permission_names_it(default_sim, config_for, run_tap):
    result = run_tap(config_for(default_sim, username="noaccess", password="noaccess-password"))
    assert result.returncode != 0 and "lgfapi_read_access" in result.stderr


def test_unknown_entity_is_named(default_sim, config_for, run_tap):
    result = run_tap(config_for(default_sim, entities=["order_hdr", "no_such_entity"]))
    assert result.returncode != 0
    assert "'no_such_entity'" in result.stderr and "entities" in result.stderr
    assert not result.records


def test_refused_filter_names_code_and_url(default_sim, config_for, run_tap):
    result = run_tap(
        config_for(default_sim, entities=["item"], entity_filters={"item": {"nope": 1}})
    )
    assert result.returncode != 0
    assert "VALIDATION_ERROR" in result.stderr and "/entity/item/" in result.stderr


def test_page_size_above_the_wms_maximum_is_refused(default_sim, config_for, run_tap):
    result = run_tap(config_for(default_sim, page_size=5000))
    assert result.returncode != 0 and "page_size" in result.stderr and "1250" in result.stderr


def test_catalog_forcing_full_table_ignores_the_bookmark(default_sim, config_for, run_tap):
    config = config_for(default_sim, entities=["order_hdr"])
    first = run_tap(config)
    catalog = json.loads(run_tap(config, None, "--discover").stdout)
    catalog["streams"][0]["replication_method"] = "FULL_TABLE"  # as Meltano's metadata rule sets
    for entry in catalog["streams"][0]["metadata"]:
        if entry["breadcrumb"] == []:
            entry["metadata"]["forced-replication-method"] = "FULL_TABLE"
            entry["metadata"]["selected"] = True
    again = run_tap(config, first.last_state, catalog=catalog)
    assert again.returncode == 0, again.stderr
    assert sorted(r["id"] for r in again.records["order_hdr"]) == sorted(
        default_sim.rows("order_hdr")
    )


def test_oauth2_token_refreshed_after_the_wms_expires_it(fresh_sim):
    client = WMSClient(
        {
            "base_url": fresh_sim.base_url,
            "auth_method": "oauth2",
            "oauth_token_url": fresh_sim.oauth_token_url,
            "oauth_client_id": fresh_sim.oauth_client_id,
            "oauth_client_secret": fresh_sim.oauth_client_secret,
        }
    )
    assert client.count("order_hdr", ("id",)) == fresh_sim.count("order_hdr")  # unscoped
    fresh_sim.expire_tokens()
    assert client.count("order_dtl", ("id",)) == fresh_sim.count("order_dtl")
    assert fresh_sim.token_requests == 2


def test_stream_maps_take_the_sdk_path_and_still_work(sim, config_for, run_tap):
    config = config_for(
        sim,
        entities=["order_hdr"],
        stream_maps={"order_hdr": {"cust_name": "__NULL__", "__alias__": "orders"}},
    )
    result = run_tap(config)
    assert result.returncode == 0, result.stderr
    assert set(result.records) == {"orders"}
    records = result.records["orders"]
    assert len(records) == sim.count("order_hdr")
    assert all(
        "cust_name" not in r and isinstance(r["total_orig_ord_qty"], int | float) for r in records
    )


def test_bookmark_without_offset_is_read_as_utc(default_sim, config_for, run_tap):
    stamps = sorted(r["mod_ts"] for r in default_sim.rows("order_hdr").values())
    cutoff = stamps[len(stamps) // 3].astimezone(dt.UTC)
    state = {
        "bookmarks": {
            "order_hdr": {
                "replication_key": "mod_ts",
                "replication_key_value": cutoff.replace(tzinfo=None).isoformat(),
            }
        }
    }
    result = run_tap(config_for(default_sim, entities=["order_hdr"], lookback_minutes=0), state)
    assert result.returncode == 0, result.stderr
    assert {r["id"] for r in result.records["order_hdr"]} == {
        i for i, r in default_sim.rows("order_hdr").items() if r["mod_ts"] >= cutoff
    }


def test_pages_reuse_one_kept_alive_connection(fresh_sim):
    client = WMSClient(
        {
            "base_url": fresh_sim.base_url,
            "username": fresh_sim.username,
            "password": fresh_sim.password,
            "page_size": 25,
        }
    )
    schema = resolve_schema(client, "order_dtl")
    assert client.count("order_dtl", schema["properties"]) == fresh_sim.count("order_dtl")
    before = fresh_sim.api_requests
    codec = RecordCodec("order_dtl", schema, list(schema["properties"]))
    pages = list(client.pages("order_dtl", {}, codec.decoder))
    assert sum(len(p.results) for p in pages) == fresh_sim.count("order_dtl")
    assert fresh_sim.api_requests - before == len(pages) > 5
    assert fresh_sim.connections == 1


def test_live_shapes_are_discovered_and_extracted_whole(live_sim, config_for, run_tap):
    config = config_for(live_sim, facility_code="DC01")
    discovered = run_tap(config, None, "--discover")
    assert discovered.returncode == 0, discovered.stderr
    catalog = {
        s["tap_stream_id"]: s["schema"]["properties"]
        for s in json.loads(discovered.stdout)["streams"]
    }
    # Relations found by their values, whatever describe's type words.
    assert {"order_dtl_id_key", "from_inventory_id_key", "type_id_key"} <= set(
        catalog["allocation"]
    )
    assert "wave_id_key" in catalog["allocation"] and "status_id_key" not in catalog["allocation"]
    # Fields the live describe omits, added from the sample.
    assert {"company_id", "company_id_key", "facility_id_key"} <= set(catalog["order_hdr"])
    assert "added from the sample: " in discovered.stderr and "company_id" in discovered.stderr
    result = run_tap(config)
    assert result.returncode == 0, result.stderr
    allocations = {r["id"]: r for r in result.records["allocation"]}
    rows = live_sim.rows("allocation")
    lines, orders = live_sim.rows("order_dtl"), live_sim.rows("order_hdr")
    assert len(allocations) == live_sim.count("allocation", facility="DC01") > 0
    some = next(a for a in allocations.values() if a["from_inventory_id"] is not None)
    line = lines[rows[some["id"]]["order_dtl_id"]]
    assert some["order_dtl_id_key"] == f"{orders[line['order_id']]['order_nbr']},{line['seq_nbr']}"
    assert some["from_inventory_id_key"] == ""  # a blank key stays blank, not null
    assert some["alloc_qty"] == int(rows[some["id"]]["alloc_qty"])  # "540" arrives as 540
    hdr = result.records["order_hdr"][0]
    assert hdr["facility_id_key"] == "DC01" and hdr["order_type_id_key"] in (
        "STD",
        "RUSH",
        "XFER",
        "ECOM",
    )
    assert "cust_short_text_12" in hdr
