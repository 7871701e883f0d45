"""Partition planning: id ranges that cover every id exactly once, learned cheaply."""

from __future__ import annotations

import itertools
import random
from urllib.parse import parse_qsl, urlsplit

import pytest
from tap_oracle_wms.client import WMSClient
from tap_oracle_wms.discovery import resolve_schema
from tap_oracle_wms.partitions import (
    RANGES_PER_SLOT,
    WHOLE,
    IdRange,
    cut,
    plan,
    refine,
    split,
)
from tap_oracle_wms.records import RecordCodec
from wms_simulator import WMSSimulator


def holders(ranges: list[IdRange], value: int) -> int:
    """How many ranges contain `value`."""
    return sum(
        (r.lower is None or value >= r.lower) and (r.upper is None or value < r.upper)
        for r in ranges
    )


@pytest.mark.parametrize("seed", range(25))
def test_ranges_cover_every_id_exactly_once(seed):
    rng = random.Random(seed)
    low = rng.randint(-50, 10_000)
    high = low + rng.randint(1, 100_000)
    slots = rng.randint(2, 16)
    count = rng.choice([None, rng.randint(0, 200_000)])
    page_size = rng.choice([1, 10, 1250])
    ranges = split(low, high, count, page_size, slots)
    probes = {low - 1000, low - 1, low, high, high + 1, high + 1000, 0, -7}
    probes |= {rng.randint(low, high) for _ in range(300)}
    probes |= {r.lower for r in ranges if r.lower is not None}
    probes |= {r.upper - 1 for r in ranges if r.upper is not None}
    for value in probes:
        assert holders(ranges, value) == 1, (value, ranges)
    assert ranges[0].lower is None and ranges[-1].upper is None  # open at both ends
    assert len(ranges) <= slots * RANGES_PER_SLOT


def test_ranges_are_even_and_several_per_slot():
    ranges = split(1, 40_000, 40_000, 1250, 8)
    assert len(ranges) == 32  # 8 slots x 4, and a page per range on average
    inner = [r.upper - r.lower for r in ranges[1:-1]]
    assert set(inner) == {1250}
    assert ranges[0] == IdRange(None, 1251) and ranges[-1] == IdRange(38751, None)


@pytest.mark.parametrize(
    ("low", "high", "count", "slots"),
    [
        (1, 10_000, 10_000, 1),  # one request at a time: nothing to gain
        (1, 10_000, 2_500, 4),  # two pages at most
        (1, 10_000, 0, 4),
        (5, 5, 1, 4),  # a single id
    ],
)
def test_small_entities_and_one_slot_are_read_whole(low, high, count, slots):
    assert split(low, high, count, 1250, slots) == [WHOLE]


def test_a_run_s_own_id_filters_are_intersected_not_replaced():
    base = {"id__gte": "100", "id__lt": "5000", "status_id": "10"}
    assert IdRange(50, 200).params(base) == {
        "id__gte": "100",
        "id__lt": "200",
        "status_id": "10",
    }
    assert IdRange(300, None).params(base)["id__gte"] == "300"
    assert IdRange(None, 9000).params(base)["id__lt"] == "5000"
    assert WHOLE.params(base) == base
    assert IdRange(1, 2).params({"id__gte": "x"})["id__gte"] == "x"  # the WMS judges it
    assert str(IdRange(None, 7)) == "[-inf, 7)"


def client_for(sim, **overrides) -> WMSClient:
    config = {
        "base_url": sim.base_url,
        "username": sim.username,
        "password": sim.password,
        "page_size": 20,
        **overrides,
    }
    return WMSClient(config)


def read_ids(client: WMSClient, entity: str, params: dict, ranges: list[IdRange]) -> list[int]:
    schema = resolve_schema(client, entity)
    codec = RecordCodec(entity, schema, ["id"])
    ids: list[int] = []
    for part in ranges:
        for page in client.pages(entity, part.params(params), codec.decoder):
            ids += [r.f0 for r in page.results]
    return ids


def test_planned_ranges_read_the_filtered_entity_exactly_once(sim):
    client = client_for(sim)
    # Uneven density: one facility's lines are scattered over the whole id span.
    params = {"order_id__facility_id__code": "DC02", "id__gte": "30", "ordering": "id"}
    before = sim.api_requests
    ranges = plan(client, "order_dtl", params, slots=4)
    assert sim.api_requests - before == 2  # smallest and largest id, one row each
    assert len(ranges) > 4
    ids = read_ids(client, "order_dtl", params, ranges)
    rows = sim.rows("order_dtl")
    expected = {
        i
        for i, row in rows.items()
        if i >= 30 and sim.rows("order_hdr")[row["order_id"]]["facility_id"] == 2
    }
    assert sorted(ids) == sorted(expected) and len(ids) == len(set(ids))


def test_probes_ask_for_one_row_and_only_the_id(fresh_sim):
    start = len(fresh_sim.request_log)
    plan(client_for(fresh_sim), "order_dtl", {"ordering": "mod_ts,id"}, slots=4)
    probes = [dict(parse_qsl(urlsplit(t).query)) for t in fresh_sim.request_log[start:]]
    one_id = {"page_size": "1", "page_mode": "paged", "fields": "id"}
    assert probes[:2] == [{"ordering": ordering, **one_id} for ordering in ("id", "-id")]
    # 12 pages are worth 12 ranges: more than the 8 coarse buckets, which are counted.
    counts = probes[2:]
    assert len(counts) == 8
    assert all(
        {k: v for k, v in q.items() if not k.startswith("id__")} == {"ordering": "id", **one_id}
        for q in counts
    )
    assert sum("id__gte" not in q for q in counts) == 1  # open below
    assert sum("id__lt" not in q for q in counts) == 1  # open above


@pytest.mark.parametrize("seed", range(20))
def test_cutting_a_range_keeps_an_exact_cover(seed):
    rng = random.Random(seed)
    low, high = sorted(rng.sample(range(-100, 5000), 2))
    a, b = sorted(rng.sample(range(low, high + 2), 2))
    part = rng.choice([IdRange(None, b), IdRange(a, b), IdRange(a, None), WHOLE])
    pieces = cut(part, rng.randint(1, 70), low, high)
    assert pieces[0].lower == part.lower and pieces[-1].upper == part.upper
    for first, second in itertools.pairwise(pieces):
        assert first.upper is not None and first.upper == second.lower  # no gap, no overlap
    assert all(p.lower < p.upper for p in pieces if None not in (p.lower, p.upper))


def test_dense_buckets_get_more_ranges_and_empty_ones_merge():
    buckets = cut(WHOLE, 8, 1, 8000)  # ids 1-8000 in buckets of 1000
    counts = [0, 0, 0, 10, 10, 10, 20, 3950]  # new rows at the top: the usual skew
    ranges = refine(buckets, counts, 16, 1, 8000)
    assert ranges[0] == IdRange(None, 7001)  # seven sparse buckets: one range
    assert ranges[-1].upper is None
    top = [r for r in ranges if r.lower is not None and r.lower >= 7001]
    assert len(top) == 16  # the bucket with 98 % of the records: read by many slots
    assert len(ranges) == 17


def test_a_dense_stretch_of_ids_is_spread_over_many_ranges():
    # An incremental run's usual shape: a few old rows changed, many new rows at the top.
    with WMSSimulator(orders=300, seed=4) as sim:
        sim.advance(60)
        since = sim.now().isoformat()
        sim.touch("order_dtl", 12)
        sim.insert("order_hdr", 30)  # 120 new lines above 1,200 old ones
        client = client_for(sim, page_size=10)
        params = {"mod_ts__gte": since, "ordering": "mod_ts,id"}
        ranges = plan(client, "order_dtl", params, slots=4)
        sizes = [len(read_ids(client, "order_dtl", params, [r])) for r in ranges]
    assert sum(sizes) == 132 and len(ranges) >= 12
    # Ranges of equal width would leave about 80 records in one range.
    assert max(sizes) <= 2 * 132 / 14  # 14 pages: 14 ranges wanted


def test_small_or_empty_entities_cost_one_probe_and_one_slot_none(sim):
    client = client_for(sim, page_size=1250)
    before = sim.api_requests
    assert plan(client, "order_dtl", {}, slots=4) == [WHOLE]  # 480 rows: one page
    assert sim.api_requests - before == 1
    assert plan(client, "order_hdr", {"order_nbr": "NONE"}, slots=4) == [WHOLE]  # 404
    before = sim.api_requests
    assert plan(client_for(sim), "order_dtl", {}, slots=1) == [WHOLE]
    assert sim.api_requests == before


def test_a_refused_probe_leaves_the_plain_read(sim, caplog):
    client = client_for(sim)
    with caplog.at_level("WARNING", logger="tap_oracle_wms.partitions"):
        assert plan(client, "order_dtl", {"no_such_field": "1"}, slots=4) == [WHOLE]
    assert "Entity 'order_dtl': read as one range (ids not learned:" in caplog.text
    assert "VALIDATION_ERROR" in caplog.text
