"""Company/facility scoping: every entity scoped (own field or relation path) or refused."""

from __future__ import annotations

import json

import pytest
from tap_oracle_wms.client import WMSClient
from tap_oracle_wms.discovery import resolve_schema
from tap_oracle_wms.errors import WMSConfigError, WMSRequestError
from tap_oracle_wms.scope import refused_path_hint, resolve_scope

SCOPED = ("order_hdr", "order_dtl", "allocation", "facility")


def _count(client: WMSClient, entity: str) -> int:
    """The WMS's count for a run of `entity`, with its discovered schema's properties."""
    return client.count(entity, resolve_schema(client, entity)["properties"])


def test_every_entity_is_scoped_and_records_carry_the_scope(sim, config_for, run_tap):
    config = config_for(
        sim,
        company_code="GNOS",
        facility_code="DC01",
        entities=[*SCOPED, "item"],
        unscoped_entities=["item"],  # company-level: no facility to narrow it by
    )
    result = run_tap(config)
    assert result.returncode == 0, result.stderr
    client = WMSClient(config)
    for entity in SCOPED:
        records = result.records[entity]
        assert len(records) == sim.count(entity, "GNOS", "DC01") > 0, entity
        assert _count(client, entity) == len(records), entity
        assert {(r["scope_company_code"], r["scope_facility_code"]) for r in records} == {
            ("GNOS", "DC01")
        }
    assert len(result.records["item"]) == sim.count("item", company="GNOS")
    assert _count(client, "item") == len(result.records["item"])
    assert "extracted without facility scope" in result.stderr
    for message in result.messages:
        if message["type"] == "SCHEMA":
            props = message["schema"]["properties"]
            assert props["scope_facility_code"]["type"] == ["string", "null"]
            assert "scope_company_code" in props


def test_lines_and_allocations_reach_their_facility_through_relations(sim, config_for, run_tap):
    config = config_for(sim, facility_code="DC02", entities=["order_dtl", "allocation"])
    result = run_tap(config)
    assert result.returncode == 0, result.stderr
    orders = sim.rows("order_hdr")
    facility = next(i for i, f in sim.rows("facility").items() if f["code"] == "DC02")
    lines = sim.rows("order_dtl")
    want = {i for i, line in lines.items() if orders[line["order_id"]]["facility_id"] == facility}
    assert {r["id"] for r in result.records["order_dtl"]} == want
    allocations = {r["id"] for r in result.records["allocation"]}
    assert allocations == {
        i for i, a in sim.rows("allocation").items() if a["order_dtl_id"] in want
    }
    assert all("scope_company_code" not in r for r in result.records["order_dtl"])


def test_an_entity_that_cannot_be_scoped_stops_the_run_before_extraction(sim, config_for, run_tap):
    config = config_for(sim, facility_code="DC01", entities=["order_hdr", "order_status"])
    result = run_tap(config)
    assert result.returncode == 1
    assert not result.messages  # not even the scopable entity's SCHEMA
    for words in ("'order_status'", "facility_code='DC01'", "scope_paths", "unscoped_entities"):
        assert words in result.stderr
    with pytest.raises(WMSConfigError):
        _count(WMSClient(config), "order_status")


def test_unscoped_entities_opt_in(sim, config_for, run_tap):
    config = config_for(
        sim, facility_code="DC01", entities=["order_status"], unscoped_entities=["order_status"]
    )
    result = run_tap(config)
    assert result.returncode == 0, result.stderr
    assert len(result.records["order_status"]) == sim.count("order_status")
    assert {r["scope_facility_code"] for r in result.records["order_status"]} == {"DC01"}


def test_scope_paths_setting_overrides_and_a_refused_path_is_named(sim, config_for, run_tap):
    good = config_for(
        sim,
        facility_code="DC01",
        entities=["order_dtl"],
        scope_paths={"order_dtl": {"facility": "order_id__facility_id__code"}},
    )
    assert _count(WMSClient(good), "order_dtl") == sim.count("order_dtl", facility="DC01")
    bad = config_for(
        sim,
        facility_code="DC01",
        entities=["order_dtl"],
        scope_paths={"order_dtl": {"facility": "order_id__warehouse_id__code"}},
    )
    result = run_tap(bad)
    assert result.returncode == 1
    for words in ("'order_dtl'", "order_id__warehouse_id__code", "scope_paths", "HTTP 400"):
        assert words in result.stderr
    with pytest.raises(Exception, match="order_id__warehouse_id__code"):
        _count(WMSClient(bad), "order_dtl")


def test_entity_filters_cannot_contradict_the_scope(default_sim, config_for):
    config = config_for(
        default_sim,
        facility_code="DC02",
        entity_filters={"order_dtl": {"order_id__facility_id__code": "DC01"}},
    )
    with pytest.raises(WMSConfigError, match=r"entity_filters.*contradicts the run's scope"):
        _count(WMSClient(config), "order_dtl")
    same = config_for(
        default_sim,
        facility_code="DC02",
        entity_filters={"order_dtl": {"order_id__facility_id__code": "DC02"}},
    )
    assert _count(WMSClient(same), "order_dtl") == default_sim.count("order_dtl", facility="DC02")


def test_a_catalog_discovered_without_scope_still_gets_the_scope_properties(
    default_sim, config_for, run_tap
):
    plain = config_for(default_sim, entities=["order_hdr"])
    catalog = json.loads(run_tap(plain, None, "--discover").stdout)
    assert "scope_facility_code" not in catalog["streams"][0]["schema"]["properties"]
    result = run_tap({**plain, "facility_code": "DC01"}, catalog=catalog)
    assert result.returncode == 0, result.stderr
    assert {r["scope_facility_code"] for r in result.records["order_hdr"]} == {"DC01"}
    schema = next(m for m in result.messages if m["type"] == "SCHEMA")["schema"]
    assert "scope_facility_code" in schema["properties"]


@pytest.mark.parametrize(
    ("config", "properties", "params"),
    [
        # Own fields first; the setting overrides both own fields and built-in paths.
        ({"facility_code": "DC01"}, {"facility_id"}, {"facility_id__code": "DC01"}),
        (
            {"facility_code": "DC01", "scope_paths": {"order_hdr": {"facility": "x__code"}}},
            {"facility_id"},
            {"x__code": "DC01"},
        ),
        # Built-in paths when the live describe (and an empty sample) left the fields out.
        ({"company_code": "GNOS"}, set(), {"company_id__code": "GNOS"}),
        ({}, set(), {}),
    ],
)
def test_resolve_scope_order_of_sources(config, properties, params):
    assert resolve_scope(config, "order_hdr", properties).params == params


def test_resolve_scope_unscoped_keeps_what_it_can_and_rejects_bad_settings():
    config = {"company_code": "GNOS", "facility_code": "DC01", "unscoped_entities": ["item"]}
    scope = resolve_scope(config, "item", {"company_id"})
    assert scope.params == {"company_id__code": "GNOS"} and scope.unscoped == ("facility",)
    with pytest.raises(WMSConfigError, match=r"'scope_paths'.*'item'.*object"):
        resolve_scope({**config, "scope_paths": {"item": "company_id__code"}}, "item", set())
    built_in = resolve_scope({"facility_code": "DC01"}, "allocation", set())
    assert built_in.paths == ["order_dtl_id__order_id__facility_id__code"]
    path = "order_dtl_id__order_id__facility_id__code"
    assert "scope_paths" in refused_path_hint(built_in, f"Invalid filter field '{path}'")
    assert refused_path_hint(built_in, "Invalid filter field 'no_such_field'") == ""
    assert refused_path_hint(built_in, None) == ""


def test_a_400_about_another_filter_does_not_blame_the_scope_path(sim, config_for, run_tap):
    """order_dtl is scoped through a relation path; the 400 is about an entity filter."""
    config = config_for(
        sim,
        facility_code="DC01",
        entities=["order_dtl"],
        entity_filters={"order_dtl": {"no_such_field": "1"}},
    )
    result = run_tap(config)
    assert result.returncode == 1
    assert "no_such_field" in result.stderr and "HTTP 400" in result.stderr
    assert "scope_paths" not in result.stderr
    with pytest.raises(WMSRequestError) as refused:
        _count(WMSClient(config), "order_dtl")
    assert "no_such_field" in str(refused.value) and "scope_paths" not in str(refused.value)
