"""Reconciliation through real runs: a planted mismatch fails the run and alerts."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from gruponos_meltano_native import create_gruponos_meltano_platform
from gruponos_testing.receivers import http_receiver


def test_planted_row_fails_the_full_sync_and_alerts(cli, simulator, db, tmp_path):
    assert cli("run", "full", "--company", "GNOS", "--facility", "DC01").returncode == 0
    # A row the WMS does not have, in DC01's scope: the database no longer matches. (With
    # deletions mirrored the full sync would mark it deleted: switched off here.)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'wms.db'}")
    with engine.begin() as conn:
        columns = {row[1] for row in conn.exec_driver_sql("pragma table_info(order_hdr)")}
        planted = {"id": 999999, "facility_id_key": "DC01", "company_id_key": "GNOS"}
        if "scope_facility_code" in columns:
            planted.update(scope_company_code="GNOS", scope_facility_code="DC01")
        conn.exec_driver_sql(
            f"insert into order_hdr ({', '.join(planted)}) values"
            f" ({', '.join(repr(v) for v in planted.values())})"
        )
    engine.dispose()
    wms = simulator.count("order_hdr", "GNOS", "DC01")

    with http_receiver() as hook:
        env = {
            "GRUPONOS_MELTANO_ALERTS__WEBHOOK_URL": hook.url,
            "GRUPONOS_MELTANO_ALERTS__COOLDOWN_MINUTES": "0",
            "GRUPONOS_MELTANO_DELETIONS": "off",
        }
        failed = cli("run", "full", "--company", "GNOS", "--facility", "DC01", env=env)
        assert failed.returncode == 7, failed.stdout + failed.stderr
        assert (
            f"order_hdr wms_count_equals_db_rows: WMS {wms:,}, database {wms + 1:,}"
            in failed.stdout
        )
        assert "reconciliation FAILED" in failed.stdout

        tolerated = cli(
            "run",
            "full",
            "--company",
            "GNOS",
            "--facility",
            "DC01",
            env={**env, "GRUPONOS_MELTANO_VALIDATION__FAIL_RUN_ON_CHECK_FAILURE": "false"},
        )
        assert tolerated.returncode == 0, tolerated.stderr

    kinds = [(p["kind"], p["severity"]) for _, p in hook.requests]
    assert kinds == [("check_failed", "error"), ("check_failed", "error")]
    alert = hook.requests[0][1]
    assert alert["facility"] == "DC01" and "wms_count_equals_db_rows" in alert["error"]


def test_full_sync_into_postgresql_reconciles(simulator, settings_for, postgres_url):
    settings = settings_for(
        GRUPONOS_MELTANO_ORACLE_DB__SQLALCHEMY_URL=postgres_url,
        GRUPONOS_MELTANO_ORACLE_DB__SCHEMA="wms",
        GRUPONOS_MELTANO_ORACLE_DB__TABLE_PREFIX="WMS_",
    )
    result = asyncio.run(
        create_gruponos_meltano_platform(settings).execute_full_sync("GNOS", "DC01")
    )
    assert result.success, result.error
    validation = result.data["validation"]
    assert validation["passed"] and validation["quality_score"] == 100.0
    figures = validation["entities"]["order_hdr"]
    assert (
        figures["wms_count"] == figures["db_rows"] == simulator.count("order_hdr", "GNOS", "DC01")
    )
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("select count(*) from wms.wms_order_hdr").scalar_one()
    engine.dispose()
    assert rows == figures["db_rows"]


def test_wms_counts_take_one_request_each_and_no_discovery(simulator):
    """The counting request is the partition planner's: one row, only `id`, the run's scope
    and the properties from the run's SCHEMA; no `describe/` nor sample page again."""
    from gruponos_meltano_native.checks.wms_checks import wms_counter
    from gruponos_meltano_native.runners.runner import StreamInfo

    config = {
        "base_url": simulator.base_url,
        "username": simulator.username,
        "password": simulator.password,
        "company_code": "GNOS",
        "facility_code": "DC01",
    }
    schema = {"id", "order_id", "order_id_key", "mod_ts", "scope_company_code"}
    count = wms_counter(config, {"order_dtl": StreamInfo(["id"], schema)})
    before = len(simulator.request_log)
    assert count("order_dtl") == simulator.count("order_dtl", "GNOS", "DC01") > 0
    [sent] = simulator.request_log[before:]
    assert "/entity/order_dtl/?" in sent and "describe" not in sent
    assert "page_size=1" in sent and "fields=id" in sent and "page_mode=paged" in sent
    assert "order_id__facility_id__code=DC01" in sent
