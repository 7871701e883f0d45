"""The simulator's filters by field kind, and the 400 answers a WMS gives to bad queries.

Whoever reuses the simulator relies on it filtering booleans, decimals and dates as the
lgfapi does, and on refusing what the lgfapi refuses (wms-lgf-api.md: 400 VALIDATION_ERROR
naming the parameter), so a tap's bad request fails in tests as it would live.
"""

from __future__ import annotations

import email.utils

import pytest
import requests


@pytest.fixture
def api(default_sim):
    session = requests.Session()
    session.auth = (default_sim.username, default_sim.password)

    def get(path: str, **params):
        params = {"page_size": 1250, "empty_response_http_code": 200, **params}
        return session.get(default_sim.api_url + path, params=params, timeout=10)

    return get


def check(response, rows: dict, wanted) -> None:
    """The response holds exactly the rows `wanted` keeps: some, not all."""
    assert response.status_code == 200, response.text
    expected = {i for i, row in rows.items() if wanted(row)}
    assert 0 < len(expected) < len(rows)
    assert {row["id"] for row in response.json()["results"]} == expected


def test_booleans_decimals_and_dates_filter_by_value(default_sim, api):
    items = default_sim.rows("item")
    check(api("item/", hazmat_flg="true"), items, lambda r: r["hazmat_flg"] is True)
    check(api("item/", hazmat_flg="N"), items, lambda r: r["hazmat_flg"] is False)
    costs = sorted(r["unit_cost"] for r in items.values() if r["unit_cost"] is not None)
    median = costs[len(costs) // 2]
    check(
        api("item/", unit_cost__gte=str(median)),
        items,
        lambda r: r["unit_cost"] is not None and r["unit_cost"] >= median,
    )
    stock = default_sim.rows("inventory")
    day = next(r["expiry_date"] for r in stock.values() if r["expiry_date"] is not None)
    check(api("inventory/", expiry_date=day.isoformat()), stock, lambda r: r["expiry_date"] == day)
    check(
        api("inventory/", expiry_date__month=str(day.month)),
        stock,
        lambda r: r["expiry_date"] is not None and r["expiry_date"].month == day.month,
    )


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("item/", {"hazmat_flg": "maybe"}, "Invalid value 'maybe' for field 'hazmat_flg'"),
        ("item/", {"unit_cost__gt": "cheap"}, "Invalid value 'cheap' for field 'unit_cost'"),
        ("inventory/", {"expiry_date": "31/12/2026"}, "Invalid value '31/12/2026'"),
        ("order_hdr/", {"id__range": "1,5,9"}, "range on 'id' needs two comma-separated values"),
        ("item/", {"code__year": "2026"}, "Lookup 'year' needs a date field, not 'code'"),
        ("item/", {"code__name": "X"}, "Field 'code' of entity 'item' is not a relation"),
        ("item/", {"ordering": "-colour"}, "Invalid ordering field 'colour' for entity 'item'"),
    ],
)
def test_a_bad_query_is_400_validation_error_naming_it(api, path, params, named):
    response = api(path, **params)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert named in body["message"]


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"page_size": "0"}, "page_size must be positive"),
        ({"page_size": "many"}, "Invalid page_size 'many'"),
        ({"page_mode": "scroll"}, "Invalid page_mode 'scroll'"),
        ({"empty_response_http_code": "500"}, "empty_response_http_code: 200, 204 or 404"),
        ({"format": "xml"}, "Only format=json is simulated"),
        ({"values_list": "id"}, "values_list is not simulated"),
        ({"fields": "id,colour"}, "Invalid field 'colour' in fields"),
    ],
)
def test_bad_paging_and_shape_parameters_are_400_naming_them(api, params, named):
    response = api("order_hdr/", **params)
    assert response.status_code == 400
    assert named in response.json()["message"]


def test_unknown_resources_and_methods_get_the_wms_answers(default_sim, api):
    assert api("order_hdr/", page="999").json()["message"] == "Invalid page '999'"
    assert api("colour/").status_code == 404
    assert "Entity 'colour' does not exist" in api("colour/").json()["message"]
    assert api("order_hdr/1/extra/").status_code == 404
    versioned = default_sim.api_url.replace("/v10/", "/v99/")
    answer = requests.get(versioned, auth=(default_sim.username, default_sim.password), timeout=10)
    assert answer.status_code == 404 and "Unsupported API version 'v99'" in answer.text
    posted = requests.post(
        default_sim.api_url + "order_hdr/",
        auth=(default_sim.username, default_sim.password),
        timeout=10,
    )
    assert posted.status_code == 405


def test_one_row_by_id_carries_last_modified_and_a_missing_id_is_404(default_sim, api):
    row_id, row = next(iter(default_sim.rows("order_hdr").items()))
    one = api(f"order_hdr/{row_id}/")
    assert one.status_code == 200 and one.json()["id"] == row_id
    modified = email.utils.parsedate_to_datetime(one.headers["Last-Modified"])
    assert modified == row["mod_ts"].replace(microsecond=0)
    missing = api("order_hdr/999999999/")
    assert missing.status_code == 404
    assert missing.json()["message"] == "No order_hdr with id 999999999"
