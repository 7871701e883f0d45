"""Identifier rules (`target_gruponos_oracle.naming`), which the orchestrator also uses."""

from __future__ import annotations

import pytest
from gruponos_testing import postgres as postgres_testing
from target_gruponos_oracle import naming
from target_gruponos_oracle.dialects import strategy_class
from target_gruponos_oracle.naming import column_name, table_name

ORACLE, POSTGRESQL, SQLITE = (strategy_class(name) for name in ("oracle", "postgresql", "sqlite"))


@pytest.mark.parametrize(
    ("name", "oracle", "postgresql"),
    [
        ("order_id", "ORDER_ID", "order_id"),
        ("SELECT", "SELECT", "select"),  # reserved words stay; the target always quotes
        ("agent:os:version", "AGENT_OS_VERSION", "agent_os_version"),
        ("Año fiscal", "ANO_FISCAL", "ano_fiscal"),
        ("_sdc_deleted_at", "SDC_DELETED_AT", "sdc_deleted_at"),
        ("9lives", "C_9LIVES", "c_9lives"),
        ("___", "C_", "c_"),
    ],
)
def test_column_names_per_dialect(name, oracle, postgresql):
    assert column_name({}, name, ORACLE) == oracle
    assert column_name({}, name, POSTGRESQL) == postgresql
    assert column_name({}, name, SQLITE) == postgresql


def test_table_prefix_applies_to_tables_only():
    config = {"table_prefix": "WMS_"}
    assert table_name(config, "order_hdr", ORACLE) == "WMS_ORDER_HDR"
    assert table_name(config, "order_hdr", POSTGRESQL) == "wms_order_hdr"
    assert column_name(config, "order_hdr", ORACLE) == "ORDER_HDR"
    assert table_name({}, "2024_orders", SQLITE) == "t_2024_orders"


@pytest.mark.parametrize(("dialect", "limit"), [("oracle", 128), ("postgresql", 63)])
def test_long_names_are_cut_to_the_byte_limit_with_a_stable_distinct_hash(dialect, limit):
    base = "quantity_allocated_to_the_outbound_wave_for_this_order_line_" * 3
    first = column_name({}, base + "first", strategy_class(dialect))
    second = column_name({}, base + "second", strategy_class(dialect))
    assert len(first.encode()) == len(second.encode()) == limit
    assert first != second
    assert first[:-9] == second[:-9]  # same readable head, different hash
    assert column_name({}, base + "first", strategy_class(dialect)) == first  # stable across runs


def test_pre_12_2_oracle_limit_of_30_bytes():
    config = {"max_identifier_length": 30, "table_prefix": "WMS_"}
    name = table_name(config, "inventory_history_by_location", ORACLE)
    assert len(name) == 30
    assert name.startswith("WMS_INVENTORY_HISTOR")
    assert column_name(config, "short", ORACLE) == "SHORT"


def test_unknown_dialect_is_refused():
    # One registry: the naming rules take the dialect's strategy, found by its name there.
    with pytest.raises(ValueError, match="Unsupported database 'mysql'"):
        strategy_class("mysql")


def test_missing_postgres_binaries_give_a_clear_error(monkeypatch):
    monkeypatch.setattr(postgres_testing.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(postgres_testing.shutil, "which", lambda name: None)
    server = postgres_testing.ephemeral_postgres()
    with pytest.raises(postgres_testing.PostgresUnavailableError, match="initdb, pg_ctl"):
        server.__enter__()


@pytest.mark.parametrize(
    ("ci", "outcome", "said"),
    [
        ("true", pytest.fail.Exception, "PostgreSQL is required in CI: PostgreSQL server"),
        ("", pytest.skip.Exception, "PostgreSQL unavailable: PostgreSQL server"),
    ],
)
def test_a_missing_server_skips_a_test_but_fails_it_in_ci(monkeypatch, ci, outcome, said):
    monkeypatch.setattr(postgres_testing.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(postgres_testing.shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match=said), postgres_testing.postgres_for_tests():
        pass


def test_identifier_keeps_names_that_need_no_change():
    assert naming.identifier("ORDER_DTL", ORACLE, 128) == "ORDER_DTL"


def test_oracle_url_is_built_from_the_settings():
    from target_gruponos_oracle.connector import GruponosConnector

    settings = {
        "host": "db.example",
        "service_name": "GNOSPDB",
        "username": "loader",
        "password": "p@ss",
    }
    url = GruponosConnector(settings).sqlalchemy_url
    assert url == "oracle+oracledb://loader:p%40ss@db.example:1521?service_name=GNOSPDB"
    by_sid = GruponosConnector({"host": "h", "port": 1522, "sid": "ORCL", "username": "u"})
    assert by_sid.sqlalchemy_url == "oracle+oracledb://u@h:1522/ORCL"
    explicit = GruponosConnector({**settings, "sqlalchemy_url": "sqlite:///x.db"})
    assert explicit.sqlalchemy_url == "sqlite:///x.db"
    assert "p@ss" not in GruponosConnector.scrub(f"could not connect with {url} and p@ss")


def test_tcps_spells_out_a_tls_address_for_oracle():
    from target_gruponos_oracle.connector import GruponosConnector

    config = {"host": "db.example", "port": 2484, "service_name": "GNOS", "protocol": "tcps"}
    assert GruponosConnector(config).connect_args("oracle") == {
        "dsn": "(DESCRIPTION=(ADDRESS=(PROTOCOL=TCPS)(HOST=db.example)(PORT=2484))"
        "(CONNECT_DATA=(SERVICE_NAME=GNOS)))"
    }
    assert GruponosConnector({**config, "protocol": "tcp"}).connect_args("oracle") == {}


def test_python_3_11_is_required_since_iso_date_times_end_in_z():
    # Issue 9, defect 9: Python 3.10's fromisoformat rejects "Z"; the target relies on it.
    import datetime as dt
    import tomllib
    from pathlib import Path

    pyproject = Path(__file__).parents[1] / "pyproject.toml"
    project = tomllib.loads(pyproject.read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    parsed = dt.datetime.fromisoformat("2026-01-05T10:00:00Z")
    assert parsed.utcoffset() == dt.timedelta(0)


def test_database_rules_is_the_public_way_to_the_naming_and_connection_rules(tmp_path):
    from target_gruponos_oracle import database_rules

    config = {
        "host": "db.example",
        "port": 2484,
        "service_name": "GNOS",
        "protocol": "tcps",
        "username": "loader",
        "password": "pw",
        "table_prefix": "WMS_",
        "default_target_schema": "wms",
    }
    rules = database_rules(config)
    assert rules.dialect == "oracle"
    assert rules.url == "oracle+oracledb://loader:pw@db.example:2484?service_name=GNOS"
    assert rules.connect_args["dsn"].startswith("(DESCRIPTION=(ADDRESS=(PROTOCOL=TCPS)")
    assert rules.schema == "WMS"
    assert (rules.table_name("order_dtl"), rules.column_name("rowid")) == (
        "WMS_ORDER_DTL",
        "C_ROWID",
    )
    assert rules.identifier("gnos_run_history") == "GNOS_RUN_HISTORY"  # no table_prefix
    # Naming needs no URL when the dialect is given.
    assert database_rules({"table_prefix": "WMS_"}, "postgresql").table_name("x") == "wms_x"
    # An engine set up as the target's sessions are (SQLite: WAL).
    engine = database_rules({"sqlalchemy_url": f"sqlite:///{tmp_path / 'x.db'}"}).create_engine()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()
    with pytest.raises(ValueError, match="Unsupported database 'mysql'"):
        database_rules({"sqlalchemy_url": "mysql://u@h/db"})
