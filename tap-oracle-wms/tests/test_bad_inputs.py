"""What the user hands the tap, or the WMS sends it, that cannot work: one clear error.

Each case runs the tap as a process: exit 1, one ERROR line naming the place (setting, state,
stream, record, field, host) and the fix, no traceback, and no record that should not be sent.
"""

from __future__ import annotations

import datetime as dt
import json
import socket

import pytest
import responses
from tap_oracle_wms.client import WMSClient
from tap_oracle_wms.errors import WMSRequestError
from tap_oracle_wms.horizon import ALLOWED_SKEW

ORDERS = {"entities": ["order_hdr"]}


def _failed(run, *expected: str) -> None:
    assert run.returncode == 1, run.stderr[-2000:]
    errors = [line for line in run.stderr.splitlines() if "| ERROR" in line]
    for text in expected:
        assert any(text in line for line in errors), (text, errors)
    assert "Traceback" not in run.stderr


# -- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("facility_cod", "facility_code"),
        ("company_cod", "company_code"),
        ("company", "company_code"),
        ("FACILITY_CODE", "facility_code"),
    ],
)
def test_a_near_miss_of_a_scoping_setting_is_refused(default_sim, config_for, run_tap, typo, meant):
    run = run_tap(config_for(default_sim, **ORDERS, **{typo: "DC01"}))
    _failed(run, f"Unknown setting '{typo}': did you mean '{meant}'?")
    assert not run.records


def test_other_unknown_settings_are_warned_about(default_sim, config_for, run_tap):
    run = run_tap(config_for(default_sim, **ORDERS, page_sise=10, facility_code="DC01"))
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Unknown settings, ignored: page_sise (did you mean page_size?)" in run.stderr


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        (
            {"company_code": "GNOS", "facility_code": "DC09"},
            "Unknown facility 'DC09' (setting 'facility_code'): the WMS's 'facility' entity "
            "has no such code in company 'GNOS'; it has: DC01, DC02",
        ),
        (
            {"company_code": "GNOZ"},
            "Unknown company 'GNOZ' (setting 'company_code'): the WMS's 'company' entity "
            "has no such code; it has: GNOS, OTHR",
        ),
    ],
)
def test_a_code_the_wms_lacks_is_refused_listing_what_exists(
    default_sim, config_for, run_tap, codes, expected
):
    run = run_tap(config_for(default_sim, **ORDERS, **codes))
    _failed(run, expected)
    assert not run.records


def test_a_catalog_selecting_an_entity_the_wms_lacks_is_refused(default_sim, config_for, run_tap):
    config = config_for(default_sim, **ORDERS)
    catalog = run_tap(config, None, "--discover").stdout
    document = json.loads(catalog)
    ghost = json.loads(json.dumps(document["streams"][0]))
    ghost["tap_stream_id"] = ghost["stream"] = "order_hdrr"
    for entry in [*document["streams"], ghost]:
        entry["metadata"][0]["metadata"]["selected"] = True
    document["streams"].append(ghost)
    run = run_tap(config, catalog=document)
    _failed(run, "The catalog selects entity 'order_hdrr', which the WMS instance at")
    assert not run.records


def test_a_start_date_that_is_no_date_names_the_setting(default_sim, config_for, run_tap):
    run = run_tap(config_for(default_sim, **ORDERS, start_date="yesterday"))
    _failed(run, "Setting 'start_date' is 'yesterday', not an ISO 8601 date or time")


# -- state ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({"bookmarks": "x"}, "The state (--state file): 'bookmarks' is str 'x', not an object"),
        (
            {"bookmarks": {"order_hdr": {"replication_key_value": "not-a-date"}}},
            "The state (--state file): the bookmark of stream 'order_hdr' is 'not-a-date', "
            "not an ISO 8601 time",
        ),
        (
            {"bookmarks": {"order_hdr": 7}},
            "The state (--state file): the bookmark of stream 'order_hdr' is 7, not an object",
        ),
    ],
)
def test_a_state_the_tap_cannot_use_names_the_stream(
    default_sim, config_for, run_tap, state, expected
):
    run = run_tap(config_for(default_sim, **ORDERS), state)
    _failed(run, expected)
    assert not run.records


# -- data ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity"])
def test_a_decimal_that_is_no_number_names_stream_record_and_field(
    fresh_sim, config_for, run_tap, bad
):
    fresh_sim.set_value("order_dtl", 7, "ord_qty", bad)
    run = run_tap(config_for(fresh_sim, entities=["order_dtl"]))
    _failed(run, f"Stream 'order_dtl', record id 7: field 'ord_qty' = {bad} is not a finite")
    assert 7 not in {r["id"] for r in run.records.get("order_dtl", [])}
    # Nothing half-written: every line the tap wrote is a whole message.
    assert all(line.endswith("}") for line in run.stdout.splitlines())


def test_a_record_without_id_is_not_sent(fresh_sim, config_for, run_tap):
    fresh_sim.set_value("order_hdr", 9, "id", None)
    run = run_tap(config_for(fresh_sim, **ORDERS, page_size=1000))
    _failed(run, "stream 'order_hdr', record id None (record ", "field 'id': Expected `int`")
    assert all(r["id"] is not None for r in run.records.get("order_hdr", []))


# -- the WMS's clock -----------------------------------------------------------------------


@pytest.mark.parametrize("year", [2099, 9999])
def test_a_future_mod_ts_is_extracted_but_the_bookmark_stops_at_the_wms_clock(
    fresh_sim, config_for, run_tap, year
):
    future = dt.datetime(year, 1, 1, tzinfo=fresh_sim.now().tzinfo)
    fresh_sim.set_value("order_hdr", 4, "mod_ts", future)
    run = run_tap(config_for(fresh_sim, **ORDERS))
    assert run.returncode == 0, run.stderr[-2000:]
    assert 4 in {r["id"] for r in run.records["order_hdr"]}
    assert f"id 4 ({future.isoformat()})" in run.stderr
    bookmark = run.last_state["bookmarks"]["order_hdr"]
    horizon = fresh_sim.now().replace(microsecond=0) + ALLOWED_SKEW  # the Date header's clock
    assert dt.datetime.fromisoformat(bookmark["horizon"]) == horizon
    assert dt.datetime.fromisoformat(bookmark["replication_key_value"]) <= fresh_sim.now()


@pytest.mark.parametrize("skew", [-120, 120])
def test_the_horizon_follows_the_wms_clock_not_the_hosts(config_for, run_tap, skew):
    from wms_simulator import WMSSimulator

    with WMSSimulator(orders=20, seed=2, clock_skew_minutes=skew) as sim:
        sim.advance(1)
        touched = sim.touch("order_hdr", 2)
        run = run_tap(config_for(sim, **ORDERS))
    assert run.returncode == 0, run.stderr[-2000:]
    assert "beyond the WMS's clock" not in run.stderr
    bookmark = run.last_state["bookmarks"]["order_hdr"]["replication_key_value"]
    assert dt.datetime.fromisoformat(bookmark) == sim.now()  # the records touched just now
    assert touched


@pytest.mark.parametrize("year", [2099, 9999])
def test_a_saved_bookmark_in_the_future_goes_back_to_start_date(
    fresh_sim, config_for, run_tap, year
):
    state = {
        "bookmarks": {
            "order_hdr": {"replication_key": "mod_ts", "replication_key_value": f"{year}-01-01"}
        }
    }
    start = (fresh_sim.now() - dt.timedelta(days=3)).isoformat()
    run = run_tap(config_for(fresh_sim, **ORDERS, start_date=start), state)
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"its saved bookmark {year}-01-01 lies beyond the WMS's clock" in run.stderr
    assert f"brought back to setting 'start_date' ({start})" in run.stderr
    expected = [
        i for i, row in fresh_sim.rows("order_hdr").items() if row["mod_ts"].isoformat() >= start
    ]
    assert sorted(r["id"] for r in run.records["order_hdr"]) == sorted(expected)
    assert run.last_state["bookmarks"]["order_hdr"]["replication_key_value"] < f"{year}"


# -- the network ---------------------------------------------------------------------------


def test_an_unreachable_wms_says_connection_refused_and_names_the_host(config_for, run_tap):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = {"base_url": f"http://127.0.0.1:{port}/env", "username": "u", "password": "p"}
    run = run_tap({**config, "max_retries": 2})
    _failed(
        run,
        "Giving up after 3 attempts (setting 'max_retries' is 2): connection refused by "
        f"127.0.0.1:{port}",
    )
    retries = [line for line in run.stderr.splitlines() if "Retrying" in line]
    assert [("attempt 1 of 3" in retries[0]), ("attempt 2 of 3" in retries[1])] == [True, True]
    assert len(retries) == 2


def test_a_wms_that_never_answers_says_timed_out_and_names_the_host(run_tap):
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        config = {
            "base_url": f"http://127.0.0.1:{port}/env",
            "username": "u",
            "password": "p",
            "max_retries": 0,
            "request_timeout": 0.5,
        }
        run = run_tap(config)
    _failed(
        run, f"Giving up after 1 attempt (setting 'max_retries' is 0): 127.0.0.1:{port} timed out"
    )


@responses.activate
def test_wms_error_texts_are_printed_without_control_characters():
    api = "https://wms.example.com/env/wms/lgfapi/v10/entity/"
    body = {"code": "BAD\x1b[2J", "message": "no\x1b]0;owned\x07 such \x00filter\r\nFAKE"}
    responses.get(api, status=400, json=body)
    client = WMSClient(
        {"base_url": "https://wms.example.com/env", "username": "u", "password": "p"}
    )
    with pytest.raises(WMSRequestError) as failure:
        client.list_entities()
    assert str(failure.value).endswith(f"WMS BAD[2J: no]0;owned such filterFAKE | URL {api}")
