"""Several facilities in one database's tables: exact per facility, deletions per facility.

These need the tap's scope columns (`scope_company_code` / `scope_facility_code`, issue 7)
and the target's `activate_version_scope` (issue 9/10): both are other branches' work.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import sqlalchemy as sa
from gruponos_meltano_native import create_gruponos_meltano_platform

ENTITIES = ("allocation", "order_hdr", "order_dtl")
FACILITIES = ("DC01", "DC02")


def _live_rows_per_facility(query, entity: str) -> dict[str, int]:
    return dict(
        query(
            f"select scope_facility_code, count(*) from {entity}"
            " where sdc_deleted_at is null group by scope_facility_code"
        )
    )


def _full(cli, *facilities: str, env=None):
    result = cli(
        "run", "full", "--company", "GNOS", "--facility", ",".join(facilities), "--json", env=env
    )
    output = json.loads(result.stdout) if result.stdout.strip() else {}
    runs = output.get("runs", [output]) if output else []
    return result, {run["facility"]: run for run in runs}


def test_two_facilities_share_sqlite_tables_exactly(cli, simulator, db):
    result, runs = _full(cli, *FACILITIES)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for entity in ENTITIES:
        expected = {f: simulator.count(entity, "GNOS", f) for f in FACILITIES}
        # Each row says which facility it was extracted for, without joins.
        assert _live_rows_per_facility(db, entity) == expected, entity
        for facility in FACILITIES:
            figures = runs[facility]["validation"]["entities"][entity]
            assert figures["wms_count"] == figures["db_rows"] == expected[facility], entity
    assert all(run["validation"]["passed"] for run in runs.values())


def test_a_full_sync_marks_its_own_facilitys_deletions_only_and_only_when_it_succeeds(
    cli, simulator, db, tmp_path
):
    result, _ = _full(cli, *FACILITIES)
    assert result.returncode == 0, result.stderr[-3000:]
    purged = simulator.delete("allocation", 5, "GNOS", "DC01")

    # An incremental sync mirrors no deletion; it starts from the full sync's start (the full
    # sync, read FULL_TABLE, left no bookmarks), not from the beginning.
    incremental = cli("run", "incremental", "--company", "GNOS", "--facility", "DC01", "--json")
    assert incremental.returncode == 0, incremental.stderr[-3000:]
    read = json.loads(incremental.stdout)["entities"]["allocation"]["extracted"]
    assert read < simulator.count("allocation", "GNOS", "DC01") / 3
    assert db("select count(*) from allocation where sdc_deleted_at is not null") == [(0,)]

    # A full sync whose extraction fails after the allocations were read in full (the WMS
    # refuses the next entity's filter) marks nothing either: the run as a whole failed.
    bad_filter = {"GRUPONOS_MELTANO_ORACLE_WMS__ENTITY_FILTERS": '{"order_hdr": {"no_such": 1}}'}
    failed, runs = _full(cli, "DC01", env=bad_filter)
    assert failed.returncode == 5, failed.stdout[-2000:] + failed.stderr[-2000:]
    assert runs["DC01"]["entities"]["allocation"]["extracted"] == simulator.count(
        "allocation", "GNOS", "DC01"
    )
    assert db("select count(*) from allocation where sdc_deleted_at is not null") == [(0,)]

    # The next full sync of DC01 marks exactly the purged allocations, none of DC02's.
    result, runs = _full(cli, "DC01")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    marked = db("select id, scope_facility_code from allocation where sdc_deleted_at is not null")
    assert sorted(marked) == [(i, "DC01") for i in purged]
    validation = runs["DC01"]["validation"]
    assert validation["entities"]["allocation"]["marked_deleted"] == 5
    assert validation["entities"]["allocation"]["db_rows"] == simulator.count(
        "allocation", "GNOS", "DC01"
    )
    assert validation["passed"] and runs["DC01"]["deletions"]["streams"]["allocation"] == (
        "activated"
    )
    assert (
        "reconciliation PASSED"
        in cli("run", "full", "--company", "GNOS", "--facility", "DC02").stdout
    )

    # DELETIONS=remove deletes them instead (marked rows of the scope included).
    removed, _ = _full(cli, "DC01", env={"GRUPONOS_MELTANO_DELETIONS": "remove"})
    assert removed.returncode == 0, removed.stderr[-3000:]
    assert db("select count(*) from allocation where sdc_deleted_at is not null") == [(0,)]
    assert db(f"select count(*) from allocation where id in ({','.join(map(str, purged))})") == [
        (0,)
    ]


def test_live_shapes_two_facilities_and_purged_allocations(cli, db):
    """On the live profile allocation and order_dtl have no company/facility fields at all."""
    from wms_simulator import WMSSimulator

    with WMSSimulator(orders=120, seed=5, profile="live") as live:
        env = {
            "GRUPONOS_MELTANO_ORACLE_WMS__BASE_URL": live.base_url,
            "GRUPONOS_MELTANO_ORACLE_WMS__USERNAME": live.username,
            "GRUPONOS_MELTANO_ORACLE_WMS__PASSWORD": live.password,
        }
        first, _ = _full(cli, *FACILITIES, env=env)
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        purged = live.delete("allocation", 4, "GNOS", "DC02")
        second, runs = _full(cli, *FACILITIES, env=env)
        assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
        for entity in ENTITIES:
            expected = {f: live.count(entity, "GNOS", f) for f in FACILITIES}
            assert _live_rows_per_facility(db, entity) == expected, entity
    marked = db("select id, scope_facility_code from allocation where sdc_deleted_at is not null")
    assert sorted(marked) == [(i, "DC02") for i in purged]
    assert runs["DC02"]["validation"]["entities"]["allocation"]["marked_deleted"] == 4
    assert runs["DC01"]["validation"]["entities"]["allocation"]["marked_deleted"] == 0


def test_two_facilities_share_postgresql_tables_and_mirror_deletions(
    simulator, settings_for, postgres_url
):
    settings = settings_for(
        GRUPONOS_MELTANO_ORACLE_DB__SQLALCHEMY_URL=postgres_url,
        GRUPONOS_MELTANO_ORACLE_DB__SCHEMA="shared",
        GRUPONOS_MELTANO_FACILITIES="DC01,DC02",
    )
    platform = create_gruponos_meltano_platform(settings)
    first = asyncio.run(platform.execute_facilities("full", "GNOS", parallel=2))
    assert first.success, first.summary
    purged = simulator.delete("allocation", 4, "GNOS", "DC02")
    second = asyncio.run(platform.execute_facilities("full", "GNOS", parallel=2))
    assert second.success, second.summary
    dc02 = second.results["DC02"].data["validation"]["entities"]["allocation"]
    assert dc02["marked_deleted"] == 4
    assert (
        second.results["DC01"].data["validation"]["entities"]["allocation"]["marked_deleted"] == 0
    )
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            marked = conn.exec_driver_sql(
                "select id, scope_facility_code from shared.allocation"
                " where sdc_deleted_at is not null"
            ).fetchall()
            live = dict(
                conn.exec_driver_sql(
                    "select scope_facility_code, count(*) from shared.order_dtl"
                    " where sdc_deleted_at is null group by 1"
                ).fetchall()
            )
    finally:
        engine.dispose()
    assert sorted(marked) == [(i, "DC02") for i in purged]
    assert live == {f: simulator.count("order_dtl", "GNOS", f) for f in FACILITIES}


@pytest.fixture(autouse=True)
def _needs_scope_columns(simulator):
    """Fail with the reason, not a confusing SQL error, while the tap lacks scope columns."""
    from tap_oracle_wms.tap import TapOracleWMS
    from target_gruponos_oracle.target import TargetGruponosOracle

    if "scope_paths" not in TapOracleWMS.config_jsonschema["properties"]:
        pytest.fail("needs tap-oracle-wms with scope columns and scope_paths (issue 7 merge)")
    if "activate_version_scope" not in TargetGruponosOracle.config_jsonschema["properties"]:
        pytest.fail("needs target-gruponos-oracle with activate_version_scope (issue 9/10 merge)")
