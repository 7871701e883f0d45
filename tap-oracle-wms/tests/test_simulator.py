"""The simulator follows the documented lgfapi facts (wms-lgf-api.md)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from wms_simulator import FaultSettings, WMSSimulator


@pytest.fixture
def sim(default_sim):
    """These tests check the default profile's shapes (test_simulator_live.py: live ones)."""
    return default_sim


@pytest.fixture
def api(sim):
    session = requests.Session()
    session.auth = (sim.username, sim.password)

    def get(path: str = "", **params):
        return session.get(sim.api_url + path, params=params, timeout=10)

    return get


def test_entity_list_maps_names_to_urls(sim, api):
    body = api().json()
    assert list(body) == sorted(body)
    assert {"allocation", "order_hdr", "order_dtl", "company", "facility"} <= set(body)
    assert body["order_dtl"] == sim.api_url + "order_dtl/"


def test_paged_envelope_counts_and_follows_pages(sim, api):
    first = api("order_hdr/", page_size=50, page_mode="paged").json()
    assert first["result_count"] == sim.count("order_hdr") == 120
    assert (first["page_count"], first["page_nbr"], first["previous_page"]) == (3, 1, None)
    assert "page=2" in first["next_page"] and "page_size=50" in first["next_page"]
    last = requests.get(
        first["next_page"].replace("page=2", "page=3"),
        auth=(sim.username, sim.password),
        timeout=10,
    ).json()
    assert last["next_page"] is None and len(last["results"]) == 20


def test_sequenced_envelope_has_opaque_cursor_and_no_counts(sim, api):
    body = api("order_dtl/", page_size=100, page_mode="sequenced").json()
    assert set(body) == {"next_page", "previous_page", "results"}
    assert "cursor=" in body["next_page"] and "page=" not in body["next_page"]
    session = requests.Session()
    session.auth = (sim.username, sim.password)
    ids = [r["id"] for r in body["results"]]
    url = body["next_page"]
    while url:
        page = session.get(url, timeout=10).json()
        ids += [r["id"] for r in page["results"]]
        url = page["next_page"]
    assert sorted(ids) == sorted(sim.rows("order_dtl")) and len(ids) == len(set(ids))


def test_record_shape_related_objects_sets_decimals_and_offsets(sim, api):
    record = api("order_dtl/", page_size=1).json()["results"][0]
    assert set(record["order_id"]) == {"id", "key", "url"}
    assert record["order_id"]["url"].endswith(f"/order_hdr/{record['order_id']['id']}/")
    assert isinstance(record["status_id"], int)
    assert set(record["allocation_set"]) == {"result_count", "url"}
    assert isinstance(record["ord_qty"], str)
    assert record["mod_ts"].endswith("-03:00")
    assert record["url"].endswith(f"/order_dtl/{record['id']}/")


def test_empty_list_is_404_with_wms_body_unless_asked_otherwise(api):
    response = api("order_hdr/", order_nbr="NOPE")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND" and "reference" in response.json()
    ok = api("order_hdr/", order_nbr="NOPE", empty_response_http_code=200)
    assert ok.status_code == 200 and ok.json()["results"] == []
    assert api("order_hdr/", order_nbr="NOPE", empty_response_http_code=204).status_code == 204


def test_filters_lookups_negation_and_traversal(sim, api):
    hdrs = sim.rows("order_hdr")
    facilities = {f["code"]: i for i, f in sim.rows("facility").items()}

    def ids(path: str, **params):
        response = api(path, page_size=1250, empty_response_http_code=200, **params)
        assert response.status_code == 200, response.text
        return {r["id"] for r in response.json()["results"]}

    assert ids("order_hdr/", facility_id__code="DC01") == {
        i for i, h in hdrs.items() if h["facility_id"] == facilities["DC01"]
    }
    assert ids("order_hdr/", **{"status_id__in!": "90,0"}) == {
        i for i, h in hdrs.items() if h["status_id"] not in (90, 0)
    }
    assert ids("order_hdr/", id__range="5,9") == {5, 6, 7, 8, 9}
    assert ids("order_hdr/", order_nbr__istartswith="ord0000001") == {
        i for i, h in hdrs.items() if h["order_nbr"].startswith("ORD0000001")
    }
    lines = sim.rows("order_dtl")
    assert ids("order_dtl/", order_id__facility_id__code="DC02") == {
        i
        for i, line in lines.items()
        if hdrs[line["order_id"]]["facility_id"] == facilities["DC02"]
    }
    assert ids("order_dtl/", cust_field_1__isnull="true") == {
        i for i, line in lines.items() if line["cust_field_1"] is None
    }
    cutoff = max(h["mod_ts"] for h in hdrs.values()) - dt.timedelta(days=2)
    assert ids("order_hdr/", mod_ts__gte=cutoff.astimezone(dt.UTC).isoformat()) == {
        i for i, h in hdrs.items() if h["mod_ts"] >= cutoff
    }
    # A repeated parameter: only the last one counts.
    session = requests.Session()
    session.auth = (sim.username, sim.password)
    last = session.get(sim.api_url + "order_hdr/?id=1&id=2", timeout=10).json()["results"]
    assert [r["id"] for r in last] == [2]


def test_filter_on_missing_field_is_400_validation_error(api):
    response = api("item/", facility_id__code="DC01")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR" and "facility_id__code" in body["message"]


def test_ordering_fields_and_page_size_cap(sim, api):
    body = api("order_hdr/", ordering="-mod_ts,id", page_size=5000, fields="id,mod_ts").json()
    stamps = [r["mod_ts"] for r in body["results"]]
    assert len(body["results"]) == 120  # all of them in one (capped at 1250) page
    assert [dt.datetime.fromisoformat(s) for s in stamps] == sorted(
        (dt.datetime.fromisoformat(s) for s in stamps), reverse=True
    )
    assert set(body["results"][0]) == {"id", "mod_ts"}
    big = api("order_dtl/", page_size=5000).json()
    assert len(big["results"]) == min(1250, sim.count("order_dtl"))


def test_describe_lists_parameters_and_field_metadata(api):
    body = api("order_hdr/describe/").json()
    assert "facility_id" in body["parameters"]
    assert body["fields"]["order_nbr"]["max_length"] == 50
    assert body["fields"]["facility_id"]["type"] == "relation"


def test_auth_errors_have_wms_bodies(sim):
    bad = requests.get(sim.api_url, auth=("demo", "wrong"), timeout=10)
    assert bad.status_code == 401 and bad.json()["code"] == "AUTHENTICATION_FAILED"
    denied = requests.get(sim.api_url, auth=("noaccess", "noaccess-password"), timeout=10)
    assert denied.status_code == 403


def test_oauth2_client_credentials_token(sim):
    token = requests.post(
        sim.oauth_token_url,
        data={"grant_type": "client_credentials", "scope": sim.oauth_scope},
        auth=(sim.oauth_client_id, sim.oauth_client_secret),
        timeout=10,
    ).json()
    assert token["token_type"] == "Bearer" and token["expires_in"] > 0
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert requests.get(sim.api_url, headers=headers, timeout=10).status_code == 200
    refused = requests.post(
        sim.oauth_token_url,
        data={"grant_type": "client_credentials"},
        auth=(sim.oauth_client_id, "nope"),
        timeout=10,
    )
    assert refused.status_code == 401


def test_fail_every_answers_retry_after(fresh_sim):
    fresh_sim.set_faults(fail_every=2, fail_status=429, retry_after=3)
    auth = (fresh_sim.username, fresh_sim.password)
    first = requests.get(fresh_sim.api_url, auth=auth, timeout=10)
    second = requests.get(fresh_sim.api_url, auth=auth, timeout=10)
    assert first.status_code == 200
    assert second.status_code == 429 and second.headers["Retry-After"] == "3"


def test_fault_settings_are_one_list_for_python_and_the_admin_endpoint(fresh_sim):
    auth = (fresh_sim.username, fresh_sim.password)
    set_over_http = requests.post(
        fresh_sim.root_url + "/__simulator__/faults",
        params={"fail_every": 1, "fail_status": 503, "retry_after": 0.5},
        timeout=10,
    )
    assert set_over_http.ok
    refused = requests.get(fresh_sim.api_url, auth=auth, timeout=10)
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "0.5"
    fresh_sim.set_faults(FaultSettings(fail_every=1, fail_status=429))
    assert requests.get(fresh_sim.api_url, auth=auth, timeout=10).status_code == 429
    fresh_sim.set_faults()  # all off
    assert requests.get(fresh_sim.api_url, auth=auth, timeout=10).status_code == 200
    # A name that is not a fault (latency belongs to the capacity model) is refused.
    unknown = requests.post(
        fresh_sim.root_url + "/__simulator__/faults", params={"latency_ms": 40}, timeout=10
    )
    assert unknown.status_code == 400 and "latency_ms" in unknown.text
    with pytest.raises(TypeError, match="latency_ms"):
        fresh_sim.set_faults(latency_ms=40)


def test_drop_every_drops_connections(fresh_sim):
    fresh_sim.set_faults(drop_every=1)
    auth = (fresh_sim.username, fresh_sim.password)
    for _ in range(2):  # alternately reset and truncated
        with pytest.raises(requests.exceptions.RequestException):
            requests.get(fresh_sim.api_url + "order_dtl/", auth=auth, timeout=10)


def test_clock_touch_insert_and_admin_endpoints(fresh_sim):
    before = fresh_sim.now()
    fresh_sim.advance(30)
    assert fresh_sim.now() - before == dt.timedelta(minutes=30)
    touched = fresh_sim.touch("order_dtl", 3, facility="DC01")
    assert len(touched) == 3
    assert all(fresh_sim.rows("order_dtl")[i]["mod_ts"] == fresh_sim.now() for i in touched)
    total = fresh_sim.count("order_hdr")
    response = requests.post(
        fresh_sim.root_url + "/__simulator__/insert",
        params={"entity": "order_hdr", "count": 2, "company": "GNOS"},
        timeout=10,
    )
    assert response.status_code == 200 and len(response.json()["ids"]) == 2
    assert fresh_sim.count("order_hdr") == total + 2
    assert requests.get(fresh_sim.root_url + "/__simulator__/health", timeout=10).ok
    advanced = requests.post(
        fresh_sim.base_url + "/__simulator__/advance", params={"minutes": 5}, timeout=10
    )
    assert advanced.ok and fresh_sim.now() - before == dt.timedelta(minutes=35)


def test_same_seed_same_data():
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    one = WMSSimulator(orders=10, seed=3, start=start)
    two = WMSSimulator(orders=10, seed=3, start=start)
    assert dict(one.rows("order_dtl")) == dict(two.rows("order_dtl"))


def test_cli_prints_base_url_first_and_serves():
    exe = Path(sys.executable).parent / "wms-simulator"
    proc = subprocess.Popen([str(exe), "--orders", "5"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("WMS simulator listening on http://127.0.0.1:")
        base_url = line.split()[-1]
        root = base_url.rsplit("/", 1)[0]
        assert requests.get(root + "/__simulator__/health", timeout=10).status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_delete_purges_unreferenced_rows_of_a_scope(fresh_sim):
    dc01 = fresh_sim.count("allocation", "GNOS", "DC01")
    dc02 = fresh_sim.count("allocation", "GNOS", "DC02")
    response = requests.post(
        fresh_sim.root_url + "/__simulator__/delete",
        params={"entity": "allocation", "count": 3, "facility": "DC01"},
        timeout=10,
    )
    assert response.status_code == 200
    ids = response.json()["ids"]
    assert len(ids) == 3 and not set(ids) & set(fresh_sim.rows("allocation"))
    assert fresh_sim.count("allocation", "GNOS", "DC01") == dc01 - 3
    assert fresh_sim.count("allocation", "GNOS", "DC02") == dc02
    auth = (fresh_sim.username, fresh_sim.password)
    gone = requests.get(f"{fresh_sim.api_url}allocation/{ids[0]}/", auth=auth, timeout=10)
    assert gone.status_code == 404
    # An order still has lines pointing at it: the WMS would not purge it, nor does this.
    assert fresh_sim.delete("order_hdr", 10**6) == []


def test_cursor_ignores_ordering_option_plays_an_unordered_sequenced_cursor():
    with WMSSimulator(orders=30, seed=2, cursor_ignores_ordering=True) as sim:
        session = requests.Session()
        session.auth = (sim.username, sim.password)

        def ids(mode: str) -> list[int]:
            params = {"ordering": "-id", "page_mode": mode, "page_size": 1250}
            body = session.get(sim.api_url + "order_hdr/", params=params, timeout=10).json()
            return [r["id"] for r in body["results"]]

        assert ids("sequenced") == sorted(sim.rows("order_hdr"))
        assert ids("paged") == sorted(sim.rows("order_hdr"), reverse=True)
