"""Each facility partition materialized in-process by the real engine against the simulator."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from dagster import DagsterEventType
from gruponos_dagster.defs import FULL_JOB, INCREMENTAL_JOB, build_definitions
from gruponos_dagster.partitions import register_configured
from gruponos_dagster.settings import DagsterSettings

ENTITIES = ("allocation", "order_dtl", "order_hdr")


def _materializations(result):
    return {
        event.asset_key.path[-1]: event.materialization.metadata
        for event in result.get_asset_materialization_events()
    }


def _checks(result):
    return {
        evaluation.asset_key.path[-1]: evaluation
        for evaluation in (
            event.event_specific_data
            for event in result.all_events
            if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
        )
    }


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_each_facility_partition_syncs_and_reconciles(
    database, settings_for, instance, simulator, request
):
    extra = {}
    if database == "postgresql":
        extra["GRUPONOS_MELTANO_ORACLE_DB__SQLALCHEMY_URL"] = request.getfixturevalue(
            "postgres_url"
        )
    settings = settings_for(**extra)
    defs = build_definitions(settings, DagsterSettings())
    assert register_configured(instance, settings) == ["GNOS/DC01", "GNOS/DC02"]
    full = defs.resolve_job_def(FULL_JOB)

    for facility in ("DC01", "DC02"):
        result = full.execute_in_process(instance=instance, partition_key=f"GNOS/{facility}")
        assert result.success
        shown = _materializations(result)
        assert sorted(shown) == list(ENTITIES)
        for entity in ENTITIES:
            figures = {name: value.value for name, value in shown[entity].items()}
            wms = simulator.count(entity, "GNOS", facility)
            assert figures["extracted"] == figures["loaded"] == figures["wms_count"] == wms > 0
            assert figures["marked_deleted"] == 0
            assert figures["quality_score"] == 100.0 and figures["records_per_second"] > 0
            assert figures["mode"] == "full"
        checks = _checks(result)
        assert sorted(checks) == list(ENTITIES) and all(c.passed for c in checks.values())

    engine = sa.create_engine(settings.oracle_db.sqlalchemy_url.get_secret_value())
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "select scope_facility_code, count(*) from order_hdr group by 1 order by 1"
        ).fetchall()
    engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("DC01", simulator.count("order_hdr", "GNOS", "DC01")),
        ("DC02", simulator.count("order_hdr", "GNOS", "DC02")),
    ]

    # The incremental job starts from the full sync's state: nothing changed, nothing read.
    simulator.advance(5)
    again = defs.resolve_job_def(INCREMENTAL_JOB).execute_in_process(
        instance=instance, partition_key="GNOS/DC01"
    )
    assert again.success
    assert {k: m["extracted"].value for k, m in _materializations(again).items()} == dict.fromkeys(
        ENTITIES, 0
    )
