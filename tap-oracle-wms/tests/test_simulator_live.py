"""The simulator's live profile plays every fact in wms-lgf-api.md "Observed on a live instance"."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from wms_simulator import WMSSimulator

ALLOCATION_FIELDS = {
    "id",
    "url",
    "create_user",
    "create_ts",
    "mod_user",
    "mod_ts",
    "status_id",
    "alloc_qty",
    "packed_qty",
    "task_seq_nbr",
    "pick_user",
    "picked_ts",
    "pick_locn_str",
    "final_oblpn_nbr",
    "is_picking_flg",
    "order_dtl_id",
    "from_inventory_id",
    "to_inventory_id",
    "type_id",
    "alloc_uom_id",
    "cartonize_uom_id",
    "wave_id",
    "task_id",
    "ob_lpn_type_id",
    "mhe_system_id",
}
CUST = {
    *(f"cust_field_{n}" for n in range(1, 6)),
    *(f"cust_date_{n}" for n in range(1, 6)),
    *(f"cust_decimal_{n}" for n in range(1, 6)),
    *(f"cust_number_{n}" for n in range(1, 6)),
    *(f"cust_short_text_{n}" for n in range(1, 13)),
    *(f"cust_long_text_{n}" for n in range(1, 4)),
}


@pytest.fixture(scope="module")
def live():
    with WMSSimulator(orders=60, seed=2, profile="live") as simulator:
        yield simulator


@pytest.fixture(scope="module")
def get(live):
    session = requests.Session()
    session.auth = (live.username, live.password)

    def fetch(path: str, **params):
        return session.get(live.api_url + path, params=params, timeout=10)

    return fetch


def all_records(get, entity: str) -> list[dict]:
    return get(f"{entity}/", page_size=1250).json()["results"]


def test_allocation_has_the_live_25_fields_and_no_company_facility_or_item(get):
    records = all_records(get, "allocation")
    assert all(set(r) == ALLOCATION_FIELDS for r in records)
    assert get("allocation/", facility_id__code="DC01").status_code == 400


def test_order_dtl_and_order_hdr_carry_the_live_field_sets(get):
    line = all_records(get, "order_dtl")[0]
    assert set(line) >= CUST and {"sale_price", "cost", "voucher_exp_date"} <= set(line)
    assert not {"company_id", "facility_id", "unit_sale_price"} & set(line)
    hdr = all_records(get, "order_hdr")[0]
    assert set(hdr) >= CUST and {"company_id", "facility_id", "order_lock_set"} <= set(hdr)
    assert set(hdr["order_type_id"]) == set(hdr["status_id"]) == {"id", "key", "url"}
    assert len(hdr) > 90


def test_relation_paths_reach_the_facility(live, get):
    for entity, path in (
        ("order_dtl", "order_id__facility_id__code"),
        ("allocation", "order_dtl_id__order_id__facility_id__code"),
        ("allocation", "order_dtl_id__order_id__company_id__code"),
    ):
        code = "GNOS" if "company" in path else "DC01"
        body = get(f"{entity}/", page_mode="paged", page_size=1, **{path: code}).json()
        scope = {"company": code} if "company" in path else {"facility": code}
        assert body["result_count"] == live.count(entity, **scope) > 0, path


def test_keys_blank_composite_urls_443_or_blank_and_integer_like_decimals(get):
    allocations = all_records(get, "allocation")
    lines = {r["id"]: r for r in all_records(get, "order_dtl")}
    hdrs = {r["id"]: r for r in all_records(get, "order_hdr")}
    sample = next(a for a in allocations if a["from_inventory_id"])
    assert sample["from_inventory_id"]["key"] == ""
    line = lines[sample["order_dtl_id"]["id"]]
    order_nbr = hdrs[line["order_id"]["id"]]["order_nbr"]
    assert sample["order_dtl_id"]["key"] == f"{order_nbr},{line['seq_nbr']}"
    assert re.fullmatch(r"https://[^/]+:443/.+/entity/order_dtl/\d+", sample["order_dtl_id"]["url"])
    assert sample["url"].endswith(f"/allocation/{sample['id']}") and ":443/" in sample["url"]
    assert {a["type_id"]["url"] for a in allocations if a["type_id"]} == {""}
    assert any(a["type_id"]["key"] == "LPN Reapro" and a["type_id"]["id"] == 8 for a in allocations)
    assert all(re.fullmatch(r"\d+", a["alloc_qty"]) for a in allocations)
    assert {a["packed_qty"] for a in allocations} == {"0"}
    assert all(isinstance(a["status_id"], int) for a in allocations)
    assert {a["pick_user"] for a in allocations} == {""} and {
        a["picked_ts"] for a in allocations
    } == {None}
    # A relation null in one record and an object in the next; blank strings and nulls.
    assert {a["cartonize_uom_id"] is None for a in allocations} == {True, False}
    assert {"", None} <= {line["cust_short_text_2"] for line in lines.values()}


def test_describe_uses_unknown_type_words_and_omits_order_hdr_scope_fields(get):
    hdr = get("order_hdr/describe/").json()
    assert not {"company_id", "facility_id"} & set(hdr["fields"])
    common = {"integer", "number", "object", "relation", "related", "foreign", "fk", "int"}
    assert hdr["fields"]["id"]["type"].lower() not in common
    assert hdr["fields"]["order_type_id"]["type"].lower() not in common
    assert hdr["fields"]["order_nbr"]["max_length"] == 50
    alloc = get("allocation/describe/").json()
    assert set(alloc["fields"]) == ALLOCATION_FIELDS - {"url"}


def test_cli_serves_the_live_profile():
    exe = Path(sys.executable).parent / "wms-simulator"
    proc = subprocess.Popen(
        [str(exe), "--orders", "5", "--profile", "live", "--cursor-ignores-ordering"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = proc.stdout.readline().split()[-1]
        url = f"{base_url}/wms/lgfapi/v10/entity/allocation/"
        record = requests.get(url, auth=("demo", "demo-password"), timeout=10).json()["results"][0]
        assert set(record) == ALLOCATION_FIELDS
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
