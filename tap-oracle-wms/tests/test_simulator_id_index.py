"""The simulator narrows rows by the id range before filtering (as a primary key index would)."""

from __future__ import annotations

import pytest
from wms_simulator.query import Query
from wms_simulator.store import Store


@pytest.fixture(scope="module")
def store() -> Store:
    return Store(orders=40, seed=2)


@pytest.mark.parametrize(
    "params",
    [
        {"id__gte": "17", "id__lt": "90"},
        {"id__gt": "17", "id__lte": "90", "ordering": "-mod_ts,id"},
        {"id": "33"},
        {"id__gte": "150", "id__lt": "170", "id__lte": "160", "status_id__in!": "0"},
        {"id__gte": "500"},
        {"id__lt": "-4"},
        {"id__gte!": "50"},  # negated: not a bound, the filter alone decides
        {"id__range": "10,20", "id__gte": "15"},
        {"ordering": "-id"},
        {"id__lte": "120", "ordering": "status_id,-id"},
        {"id__gte": "-3", "id__lt": "+40", "ordering": "-mod_ts,id"},
    ],
)
def test_id_bounds_give_the_same_rows_as_filtering_every_row(store, params):
    query = Query(store, "order_dtl", params)
    rows = store.rows["order_dtl"]
    expected = [i for i, row in rows.items() if all(p(row) for p in query.predicates)]
    for name, descending in reversed(query.ordering):
        expected.sort(
            key=lambda i: (rows[i].get(name) is not None, rows[i].get(name)), reverse=descending
        )
    assert query.run() == expected


def test_a_bad_id_value_is_still_refused(store):
    with pytest.raises(ValueError, match="Invalid value 'x'"):
        Query(store, "order_dtl", {"id__gte": "x"})
