"""The simulator's filters by field kind, and the 400 answers a WMS gives to bad queries.

Whoever reuses the simulator relies on it filtering booleans, decimals and dates as the
lgfapi does, and on refusing what the lgfapi refuses (wms-lgf-api.md: 400 VALIDATION_ERROR
naming the parameter), so a tap's bad request fails in tests as it would live.
"""

from __future__ import annotations

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
