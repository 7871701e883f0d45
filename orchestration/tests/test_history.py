"""The run-history table on real SQLite and PostgreSQL, its Oracle DDL, and waiting rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from gruponos_meltano_native.cli.history_commands import show_history
from gruponos_meltano_native.config import GruponosMeltanoSettings
from gruponos_meltano_native.observe.history import (
    COLUMN_NAMES,
    HistoryRow,
    HistoryTableError,
    PendingRows,
    RunHistory,
    history_table,
    render_runs,
    write_with_pending,
)
from sqlalchemy.dialects import oracle
from sqlalchemy.schema import CreateTable

T0 = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)


def _row(run_id: str, entity: str, minutes: int = 0, **extra) -> HistoryRow:
    started = T0 + timedelta(minutes=minutes)
    values = {
        "run_id": run_id,
        "job": "full-sync-job",
        "company": "GNOS",
        "facility": "DC01",
        "entity": entity,
        "started_at": started,
        "ended_at": started + timedelta(seconds=90),
        "duration_seconds": 90.0,
        "status": "succeeded",
        "extracted": 811,
        "loaded": 811,
        "wms_count": 811,
        "db_rows": 811,
        "quality_score": 100.0,
        "newest_mod_ts": started - timedelta(minutes=5),
        **extra,
    }
    return HistoryRow(**values)


@pytest.fixture(params=["sqlite", "postgresql"])
def target_config(request, tmp_path):
    if request.param == "sqlite":
        return {"sqlalchemy_url": f"sqlite:///{tmp_path / 'wms.db'}"}
    return request.getfixturevalue("pg_config")


def test_table_is_created_on_first_use_and_keeps_runs_newest_first(target_config):
    history = RunHistory(target_config, "GrupoNOS Run-History")
    assert history.runs() == []  # reading creates nothing
    first = [_row("r1", "order_hdr"), _row("r1", "allocation", loaded=None)]
    failed = _row(
        "r2",
        "order_hdr",
        minutes=120,
        status="failed",
        failure_kind="load",
        error_message="x" * 5000,
        quality_score=None,
    )
    assert history.append(first) == 2
    assert history.append([failed]) == 1
    assert history.append(first) == 0  # the same run again is not duplicated

    rows = history.runs()
    assert [(r.run_id, r.entity) for r in rows] == [
        ("r2", "order_hdr"),
        ("r1", "allocation"),
        ("r1", "order_hdr"),
    ]
    newest = rows[0]
    assert newest.status == "failed" and newest.failure_kind == "load"
    assert newest.started_at == T0 + timedelta(minutes=120)
    assert newest.started_at.tzinfo is not None
    assert len(newest.error_message.encode()) <= 4000
    assert rows[1].loaded is None and rows[2].loaded == 811
    assert rows[2].newest_mod_ts == T0 - timedelta(minutes=5)
    assert [r.run_id for r in history.runs(last=1)] == ["r2"]
    assert history.runs(job="incremental-sync-job") == []
    assert [r.run_id for r in history.runs(since=T0 + timedelta(minutes=60))] == ["r2"]

    # The table follows the target's naming rules and has the documented columns.
    engine = sa.create_engine(target_config["sqlalchemy_url"])
    inspector = sa.inspect(engine)
    schema = target_config.get("default_target_schema")
    assert inspector.get_table_names(schema=schema) == ["gruponos_run_history"]
    columns = [c["name"] for c in inspector.get_columns("gruponos_run_history", schema=schema)]
    assert columns == list(COLUMN_NAMES)
    engine.dispose()


def test_a_table_with_other_columns_is_refused_naming_the_missing_ones(tmp_path):
    url = f"sqlite:///{tmp_path / 'wms.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TABLE gruponos_run_history (run_id TEXT, job TEXT, started TEXT)"
        )
    engine.dispose()
    history = RunHistory({"sqlalchemy_url": url}, "gruponos_run_history")
    with pytest.raises(HistoryTableError) as caught:
        history.append([_row("r1", "order_hdr")])
    message = str(caught.value)
    assert "run-history table gruponos_run_history" in message
    assert "missing: company, facility, entity, started_at" in message
    assert "job," not in message.split("missing:")[1]
    with pytest.raises(HistoryTableError):
        history.runs()


def test_oracle_ddl_is_what_oracle_accepts():
    table = history_table("gruponos_run_history", "oracle", {"default_target_schema": "WMS_ETL"})
    ddl = str(CreateTable(table).compile(dialect=oracle.dialect()))
    # The table's name is unquoted (stored upper case); the schema is used as configured.
    assert 'CREATE TABLE "WMS_ETL".gruponos_run_history' in ddl
    assert "started_at TIMESTAMP WITH TIME ZONE" in ddl
    assert "newest_mod_ts TIMESTAMP WITH TIME ZONE" in ddl
    assert "extracted NUMBER(19)" in ddl
    assert "error_message VARCHAR2(4000" in ddl
    assert "PRIMARY KEY (run_id, entity)" in ddl
    # Every identifier fits Oracle's 30-byte floor, so any Oracle version accepts them.
    assert all(len(name) <= 30 for name in COLUMN_NAMES)
    long = history_table("x" * 200, "oracle", {"max_identifier_length": 30})
    assert len(long.name) == 30


def test_rows_wait_in_the_state_folder_when_the_database_fails(tmp_path):
    missing_dir = tmp_path / "not-yet"
    config = {"sqlalchemy_url": f"sqlite:///{missing_dir / 'wms.db'}"}
    pending = PendingRows(tmp_path / "state")
    history = RunHistory(config, "gruponos_run_history")

    (warning,) = write_with_pending(history, pending, "r1", [_row("r1", "order_hdr")])
    assert "run history not written (OperationalError" in warning
    assert str(pending.folder) in warning
    assert pending.count() == 1

    (warning,) = write_with_pending(history, pending, "r2", [_row("r2", "order_hdr", minutes=5)])
    assert "2 run(s) wait" in warning
    assert pending.count() == 2

    missing_dir.mkdir()  # the database is back
    assert write_with_pending(history, pending, "r3", [_row("r3", "order_hdr", minutes=9)]) == []
    assert pending.count() == 0
    assert [r.run_id for r in history.runs()] == ["r3", "r2", "r1"]


def test_unknown_status_is_refused():
    with pytest.raises(ValueError, match="unknown run status 'done'"):
        _row("r1", "order_hdr", status="done")


def test_history_rows_round_trip_through_the_pending_json(tmp_path: Path):
    pending = PendingRows(tmp_path)
    row = _row("r1", "order_hdr", failed_checks="freshness")
    pending.save("r1", [row])
    ((_, (back,)),), warnings = pending.batches()
    assert warnings == []
    assert back == row


def test_oracle_gets_naive_utc_values():
    from gruponos_meltano_native.observe.history import _row_values

    local = timezone(timedelta(hours=-3))
    row = _row_values(
        _row("r1", "order_hdr", started_at=datetime(2026, 11, 26, 1, 0, tzinfo=local)), True
    )
    assert row["started_at"] == datetime(2026, 11, 26, 4, 0)  # UTC, no tzinfo for the driver
    assert row["started_at"].tzinfo is None


def test_history_by_entity_shows_one_line_per_entity_of_each_run():
    rows = [
        _row("r2", "order_hdr", minutes=120, extracted=36, loaded=36, marked_deleted=2),
        _row("r2", "allocation", minutes=120, extracted=44, loaded=None, quality_score=None),
        _row("r1", "order_hdr"),
    ]
    lines = render_runs(rows, by_entity=True).splitlines()
    assert lines[0].split() == [
        *("run", "id", "job", "company", "facility", "started", "(UTC)", "secs", "status"),
        *("entity", "extracted", "loaded", "deleted", "quality", "%", "error"),
    ]
    assert [line.split()[-6:] for line in lines[2:]] == [
        ["order_hdr", "36", "36", "2", "100.0", "-"],
        ["allocation", "44", "-", "0", "-", "-"],
        ["order_hdr", "811", "811", "0", "100.0", "-"],
    ]
    per_run = render_runs(rows).splitlines()
    assert [line.split()[-6:] for line in per_run[2:]] == [
        ["2", "80", "36", "2", "100.0", "-"],  # two entities; a missing figure counts as none
        ["1", "811", "811", "0", "100.0", "-"],
    ]


def test_history_says_whether_the_table_is_empty_or_the_filters_exclude_everything(tmp_path):
    settings = GruponosMeltanoSettings(
        state_dir=tmp_path / "state",
        oracle_db={"sqlalchemy_url": f"sqlite:///{tmp_path / 'wms.db'}"},
    )
    table = settings.history.table
    assert show_history(settings, None, "DC01", None, 20) == f"no runs recorded in {table} yet"
    RunHistory(settings.target_config(), table).append([_row("r1", "order_hdr")])
    assert show_history(settings, "GNOS", "DC99", None, 20) == (
        f"no runs match company GNOS, facility DC99 in {table}; "
        "without filters, `history` shows them all"
    )
    assert "r1" in show_history(settings, "GNOS", "DC01", None, 20)
