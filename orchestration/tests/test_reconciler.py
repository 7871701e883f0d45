"""Reconciliation checks on a real SQLite database with planted faults."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from gruponos_meltano_native.checks.reconciliation import Reconciler
from gruponos_meltano_native.config import ValidationSettings
from gruponos_meltano_native.jobs import RunScope
from gruponos_meltano_native.runners.runner import StreamInfo

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SCOPE = RunScope.of("full", "GNOS", "DC01")
SCOPED = StreamInfo(["id"], {"id", "scope_company_code", "scope_facility_code", "mod_ts"})
INFO = StreamInfo(["id"], {"id", "facility_id", "facility_id_key", "mod_ts"})


def _db(tmp_path, rows):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'v.db'}")
    with engine.begin() as conn:
        # No primary key on purpose: the checks must catch what a constraint would have stopped.
        conn.exec_driver_sql(
            "CREATE TABLE wms_order_hdr"
            " (id INTEGER, facility_id INTEGER, facility_id_key TEXT, mod_ts TEXT)"
        )
        if not rows:
            return engine
        conn.execute(
            sa.text("INSERT INTO wms_order_hdr VALUES (:id, 1, :fac, :ts)"),
            [{"id": i, "fac": fac, "ts": ts} for i, fac, ts in rows],
        )
    return engine


def _reconcile(engine, extracted, loaded, wms_count=None, resumed=False, **settings):
    with engine.connect() as conn:
        reconciler = Reconciler(
            ValidationSettings(**settings),
            conn,
            "sqlite",
            {"table_prefix": "WMS_"},
            wms_count,
            now=NOW,
            resumed=resumed,
        )
        return reconciler.reconcile(extracted, loaded, {"order_hdr": INFO}, SCOPE)


def test_clean_table_passes_every_check(tmp_path):
    engine = _db(
        tmp_path,
        [
            (1, "DC01", "2026-11-26T08:50:00-03:00"),
            (2, "DC01", "2026-11-26T08:55:00-03:00"),
            (3, "DC02", "2026-11-26T08:59:00-03:00"),
        ],
    )
    report = _reconcile(engine, {"order_hdr": 2}, {"order_hdr": 2}, wms_count=lambda e: 2)
    figures = report.entities["order_hdr"]
    assert (figures.wms_count, figures.db_rows) == (2, 2)  # DC02's row is outside the scope
    assert figures.staleness_minutes == 5.0
    assert report.failed == [] and report.quality_score == 100.0
    assert "reconciliation PASSED" in report.render()


def test_a_resumed_full_sync_passes_with_rows_deleted_after_its_first_attempt_named(tmp_path):
    rows = [(i, "DC01", "2026-11-26T08:50:00-03:00") for i in (1, 2, 3)]
    engine = _db(tmp_path, rows)
    # Row 3 was deleted in the WMS after the first attempt had read its id range.
    report = _reconcile(engine, {"order_hdr": 1}, {"order_hdr": 1}, lambda e: 2, resumed=True)
    [check] = [c for c in report.checks if c.name == "wms_count_equals_db_rows"]
    assert check.passed
    assert check.detail == (
        "WMS 2, database 3; a resumed full sync: 1 rows deleted in the WMS after its first "
        "attempt read them stay until the next full sync"
    )
    # Fewer rows than the WMS counts still fail, resumed or not.
    fewer = _reconcile(engine, {"order_hdr": 1}, {"order_hdr": 1}, lambda e: 4, resumed=True)
    assert [c.name for c in fewer.failed] == ["wms_count_equals_db_rows"]
    # A run that resumed nothing: the extra row is a failure.
    plain = _reconcile(engine, {"order_hdr": 3}, {"order_hdr": 3}, lambda e: 2)
    assert [c.name for c in plain.failed] == ["wms_count_equals_db_rows"]


def test_planted_faults_are_each_caught(tmp_path):
    engine = _db(
        tmp_path,
        [
            (1, "DC01", "2026-11-20T08:50:00-03:00"),
            (1, "DC01", "2026-11-20T08:50:00-03:00"),
            (None, "DC01", "2026-11-20T08:50:00-03:00"),
        ],
    )
    report = _reconcile(engine, {"order_hdr": 3}, {"order_hdr": 2}, wms_count=lambda e: 2)
    failed = {c.name: c for c in report.failed}
    assert set(failed) == {
        "extracted_equals_loaded",
        "wms_count_equals_db_rows",
        "keys_unique_non_null",
        "freshness",
    }
    assert failed["keys_unique_non_null"].detail == "1 duplicated key(s), 1 null key(s)"
    assert failed["freshness"].severity == "warning"
    assert report.quality_score == 0.0
    text = report.render()
    assert "reconciliation FAILED" in text and "WMS 2, database 3" in text


def test_a_check_that_cannot_run_fails(tmp_path):
    engine = _db(tmp_path, [])

    def unreachable(entity):
        raise ConnectionError("WMS unreachable")

    report = _reconcile(engine, {"order_hdr": 0}, {}, wms_count=unreachable)
    (failed,) = report.failed
    assert failed.name == "wms_count_equals_db_rows" and "WMS unreachable" in failed.detail


class _OracleCompiler:
    """Stands in for an Oracle connection: compiles each query with the Oracle dialect."""

    def __init__(self):
        from sqlalchemy.dialects import oracle

        self.dialect = oracle.dialect()
        self.sql: list[str] = []

    def execute(self, statement):
        self.sql.append(str(statement.compile(dialect=self.dialect)))
        return self

    def scalar_one(self):
        return None if "max(" in self.sql[-1] else 0  # an empty table


def test_queries_compile_for_oracle_with_the_targets_names(monkeypatch):
    connection = _OracleCompiler()
    config = {"table_prefix": "WMS_", "default_target_schema": "WMS"}
    # The table has the target's soft-delete column (asked of the database otherwise).
    monkeypatch.setattr(Reconciler, "_columns_of", lambda self, name, schema: {"sdc_deleted_at"})
    reconciler = Reconciler(
        ValidationSettings(), connection, "oracle", config, lambda e: 0, now=NOW, marked_since=NOW
    )
    report = reconciler.reconcile({"order": 0}, {}, {"order": SCOPED}, SCOPE)
    assert [c.name for c in report.failed] == []
    joined = " ".join(" ".join(connection.sql).split())
    assert 'FROM "WMS"."WMS_ORDER"' in joined
    assert '"WMS"."WMS_ORDER"."SCOPE_FACILITY_CODE" = :SCOPE_FACILITY_CODE_1' in joined
    assert '"WMS"."WMS_ORDER"."SDC_DELETED_AT" IS NULL' in joined
    assert '"WMS"."WMS_ORDER"."SDC_DELETED_AT" >= :param_1' in joined
    assert 'GROUP BY "WMS"."WMS_ORDER"."ID" HAVING count(*) > :count_2) anon_1' in joined
    assert 'max("WMS"."WMS_ORDER"."MOD_TS")' in joined
    assert "LIMIT" not in joined and " AS anon" not in joined  # Oracle has no AS for aliases


def _shared_table(tmp_path):
    """Two facilities in one table, with the scope columns and the target's deletion mark."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'shared.db'}")
    rows = [
        (1, "DC01", None),
        (2, "DC01", None),
        (3, "DC01", None),
        (4, "DC01", "2026-11-26T12:00:01.000000+00:00"),  # marked by this run
        (5, "DC01", "2026-11-20T08:00:00.000000+00:00"),  # marked by an earlier run
        (6, "DC02", None),
        (7, "DC02", "2026-11-26T12:00:02.000000+00:00"),  # DC02's, not this run's scope
    ]
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE order_hdr (id INTEGER PRIMARY KEY, scope_company_code TEXT,"
            " scope_facility_code TEXT, mod_ts TEXT, sdc_deleted_at TEXT)"
        )
        conn.execute(
            sa.text("INSERT INTO order_hdr VALUES (:id, 'GNOS', :fac, :ts, :deleted)"),
            [
                {"id": i, "fac": fac, "ts": "2026-11-26T08:55:00-03:00", "deleted": deleted}
                for i, fac, deleted in rows
            ],
        )
    return engine


def test_shared_table_counts_only_the_runs_scope_and_rows_not_marked_deleted(tmp_path):
    engine = _shared_table(tmp_path)
    with engine.connect() as conn:
        report = Reconciler(
            ValidationSettings(), conn, "sqlite", {}, lambda e: 3, now=NOW, marked_since=NOW
        ).reconcile({"order_hdr": 3}, {"order_hdr": 3}, {"order_hdr": SCOPED}, SCOPE)
    figures = report.entities["order_hdr"]
    assert (figures.wms_count, figures.db_rows, figures.marked_deleted) == (3, 3, 1)
    assert report.failed == []
    assert "marked deleted" in report.render()

    with engine.connect() as conn:  # extracted unscoped on purpose: the whole table counts
        whole = Reconciler(
            ValidationSettings(), conn, "sqlite", {}, lambda e: 4, now=NOW, unscoped={"order_hdr"}
        ).reconcile({"order_hdr": 4}, {"order_hdr": 4}, {"order_hdr": SCOPED}, SCOPE)
    assert whole.entities["order_hdr"].db_rows == 4 and whole.failed == []


FUTURE_ROWS = [
    (1, "DC01", "2026-11-26T08:50:00-03:00"),
    (2, "DC01", "2026-11-26T08:55:00-03:00"),  # the newest change up to the WMS's clock
    (3, "DC01", "2099-01-01T00:00:00-03:00"),  # data-entry errors, loaded as the WMS has them
    (4, "DC01", "9999-01-01T00:00:00-03:00"),
    (5, "DC02", "2026-11-26T08:59:00-03:00"),
]


def _assert_future_rows_ignored(report):
    figures = report.entities["order_hdr"]
    assert datetime.fromisoformat(figures.newest_mod_ts) == datetime(
        2026, 11, 26, 11, 55, tzinfo=UTC
    )
    assert figures.staleness_minutes == 5.0 and figures.future_mod_ts == 2
    (freshness,) = [c for c in report.checks if c.name == "freshness"]
    assert freshness.passed
    assert "2 row(s) with mod_ts beyond the WMS's clock" in freshness.detail
    assert "newest 9999-01-01" in freshness.detail


def test_freshness_ignores_mod_ts_beyond_the_wms_clock_on_sqlite(tmp_path):
    engine = _db(tmp_path, FUTURE_ROWS)  # ISO text with the WMS's offset, as the target stores
    _assert_future_rows_ignored(_reconcile(engine, {"order_hdr": 4}, {"order_hdr": 4}))


def test_freshness_ignores_mod_ts_beyond_the_wms_clock_on_postgresql():
    from gruponos_testing.postgres import postgres_for_tests

    with postgres_for_tests() as url:
        engine = sa.create_engine(url)
        with engine.begin() as conn:  # TIMESTAMPTZ: the target's type for date-times here
            conn.exec_driver_sql("DROP TABLE IF EXISTS wms_order_hdr")
            conn.exec_driver_sql(
                "CREATE TABLE wms_order_hdr (id INTEGER, facility_id INTEGER,"
                " facility_id_key TEXT, mod_ts TIMESTAMPTZ)"
            )
            conn.execute(
                sa.text(
                    "INSERT INTO wms_order_hdr VALUES (:id, 1, :fac, CAST(:ts AS TIMESTAMPTZ))"
                ),
                [{"id": i, "fac": fac, "ts": ts} for i, fac, ts in FUTURE_ROWS],
            )
        try:
            with engine.connect() as conn:
                reconciler = Reconciler(
                    ValidationSettings(),
                    conn,
                    "postgresql",
                    {"table_prefix": "WMS_"},
                    None,
                    now=NOW,
                )
                report = reconciler.reconcile(
                    {"order_hdr": 4}, {"order_hdr": 4}, {"order_hdr": INFO}, SCOPE
                )
            _assert_future_rows_ignored(report)
        finally:
            engine.dispose()


class _OracleRows(_OracleCompiler):
    """An Oracle stand-in whose table holds one row stamped 2099 (values as oracledb gives them)."""

    def __init__(self):
        super().__init__()
        self.params: list[dict] = []

    def execute(self, statement):
        self.params.append(statement.compile(dialect=self.dialect).params)
        return super().execute(statement)

    def scalar_one(self):
        sql = self.sql[-1]
        if "max(" not in sql:
            return 1  # the row beyond the horizon
        # TIMESTAMP WITH TIME ZONE read in the target's UTC session: naive UTC datetimes.
        return datetime(2026, 11, 26, 11, 55) if '"MOD_TS" <=' in sql else datetime(2099, 1, 1)


def test_freshness_compares_with_oracles_naive_utc_values(monkeypatch):
    # The target binds date-times to Oracle as naive UTC (its sessions run in UTC, see the
    # target's dialects/oracle.py): the horizon is bound the same way.
    connection = _OracleRows()
    monkeypatch.setattr(Reconciler, "_columns_of", lambda self, name, schema: set())
    reconciler = Reconciler(ValidationSettings(), connection, "oracle", {}, None, now=NOW)
    report = reconciler.reconcile({"order": 0}, {}, {"order": SCOPED}, SCOPE)
    figures = report.entities["order"]
    assert figures.future_mod_ts == 1 and figures.staleness_minutes == 5.0
    bound = [v for p in connection.params for v in p.values() if isinstance(v, datetime)]
    assert bound == [reconciler.horizon.replace(tzinfo=None)] * 2
