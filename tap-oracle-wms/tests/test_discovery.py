"""Schemas from describe (both layouts), built-in files, or a sample page."""

from __future__ import annotations

import pytest
from tap_oracle_wms.discovery import (
    builtin_schema,
    merge_sample,
    resolve_schema,
    schema_from_describe,
    schema_from_sample,
)


def test_describe_with_fields_as_a_mapping():
    schema = schema_from_describe(
        {
            "parameters": ["id", "facility_id"],
            "fields": {
                "id": {"type": "AutoField"},
                "facility_id": {"type": "ForeignKey"},
                "status_id": {"type": "IntegerField"},
                "code": {"type": "CharField", "max_length": 25},
                "qty": {"type": "DecimalField"},
                "mod_ts": {"type": "DateTimeField"},
                "ship_date": {"type": "DateField"},
                "active_flg": {"type": "BooleanField"},
                "order_dtl_set": {"type": "set"},
                "url": {"type": "string"},
            },
        }
    )
    props = schema["properties"]
    assert props["id"] == {"type": "integer"}
    assert props["facility_id"]["type"] == ["integer", "null"]
    assert "facility_id_key" in props and "status_id_key" not in props
    assert props["code"]["maxLength"] == 25
    assert props["qty"]["type"] == ["number", "null"]
    assert props["mod_ts"]["format"] == "date-time" and props["ship_date"]["format"] == "date"
    assert props["active_flg"]["type"] == ["boolean", "null"]
    assert "order_dtl_set" not in props and "url" not in props


def test_describe_with_fields_as_a_list_of_objects():
    schema = schema_from_describe(
        {
            "fields": [
                {"name": "id", "type": "integer"},
                {"name": "item_id", "type": "relation"},
                {"name": "curr_qty", "type": "decimal"},
            ],
        }
    )
    assert set(schema["properties"]) == {"id", "item_id", "item_id_key", "curr_qty"}


@pytest.mark.parametrize(
    "answer", [None, [], {"fields": []}, {"detail": "oops"}, {"fields": {"x": {}}}]
)
def test_unusable_describe_gives_none(answer):
    assert schema_from_describe(answer) is None


@pytest.mark.parametrize(
    "entity",
    [
        "allocation",
        "order_hdr",
        "order_dtl",
        "item",
        "location",
        "inventory",
        "company",
        "facility",
        "container",
    ],
)
def test_builtin_schemas_ship_for_the_common_entities(entity):
    schema = builtin_schema(entity)
    assert schema["properties"]["id"] == {"type": "integer"}
    assert "mod_ts" in schema["properties"]


def test_sample_inference_recognises_related_objects():
    schema = schema_from_sample(
        [
            {
                "id": 1,
                "facility_id": {"id": 2, "key": "DC01", "url": ""},
                "qty": "1.5",
                "mod_ts": "2026-01-01T00:00:00-03:00",
                "note": None,
                "order_dtl_set": None,
                "url": "u",
            },
            {"id": 2, "facility_id": None, "qty": "2", "mod_ts": None, "note": "n"},
        ]
    )
    props = schema["properties"]
    assert "facility_id_key" in props and props["mod_ts"]["format"] == "date-time"
    assert props["note"]["type"] == ["string", "null"]
    assert "url" not in props and "order_dtl_set" not in props


def test_sample_corrects_describe_with_unknown_type_words():
    # A live-like describe: unknown words for id and relations, company/facility omitted.
    schema = schema_from_describe(
        {
            "fields": {
                "id": {"type": "PrimaryKey"},
                "order_type_id": {"type": "ModelRef"},
                "wave_id": {"type": "ModelRef"},
                "status_id": {"type": "ModelRef"},
                "order_nbr": {"type": "string", "max_length": 50},
                "qty": {"type": "decimal"},
                "note": {"type": "WeirdWord"},
            }
        }
    )
    added = merge_sample(
        schema,
        [
            {
                "id": 1,
                "order_type_id": {"id": 1, "key": "STD", "url": ""},
                "wave_id": None,
                "status_id": 10,
                "facility_id": {"id": 2, "key": "DC01", "url": "https://h:443/x/facility/2"},
                "company_id": None,
                "order_nbr": "A",
                "qty": "540",
                "note": "n",
                "cust_number_1": 3,
                "order_dtl_set": {"result_count": 1, "url": ""},
                "url": "",
            },
            {"id": 2, "company_id": {"id": 1, "key": "GNOS", "url": ""}},
        ],
    )
    props = schema["properties"]
    assert props["order_type_id"]["type"] == ["integer", "null"] and "order_type_id_key" in props
    assert "wave_id_key" in props  # null throughout the sample: the key column stays
    assert "status_id_key" not in props  # a bare integer
    assert {"facility_id", "facility_id_key", "company_id", "company_id_key"} <= set(props)
    assert props["order_nbr"]["maxLength"] == 50 and props["qty"]["type"] == ["number", "null"]
    assert props["note"]["type"] == ["string", "null"]  # an unknown word never drops a field
    assert props["cust_number_1"]["type"] == ["integer", "null"]
    assert "order_dtl_set" not in props and "url" not in props
    assert set(added) >= {"facility_id", "company_id", "cust_number_1", "order_type_id_key"}


def test_builtin_schemas_have_the_live_field_sets():
    allocation = builtin_schema("allocation")["properties"]
    assert "facility_id" not in allocation and "order_dtl_id_key" in allocation
    order_dtl = builtin_schema("order_dtl")["properties"]
    assert order_dtl["sale_price"]["type"] == ["number", "null"]
    assert {f"cust_short_text_{n}" for n in range(1, 13)} <= set(order_dtl)
    order_hdr = builtin_schema("order_hdr")["properties"]
    assert {"order_type_id", "order_type_id_key", "company_id_key", "facility_id_key"} <= set(
        order_hdr
    )


def test_discovery_needs_only_describe_and_sample():
    """Any source with `describe` and `sample` will do: the HTTP client is one."""

    class Canned:
        def describe(self, entity: str) -> dict:
            return {"fields": {"id": {"type": "PrimaryKey"}, "qty": {"type": "decimal"}}}

        def sample(self, entity: str) -> list[dict]:
            return [{"id": 1, "qty": "5", "order_id": {"id": 7, "key": "O-7", "url": ""}}]

    schema = resolve_schema(Canned(), "order_dtl")
    assert set(schema["properties"]) == {"id", "qty", "order_id", "order_id_key"}
