"""Oracle-only behaviour, against a real Oracle (``TARGET_ORACLE_TEST_URL``).

No Oracle server can run on the machines this project is built on, so these tests skip
there; the rules they check are also covered by compiled statements in
`test_oracle_sql.py` and, as behaviour, by `test_database_rules.py` on every database.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest
import sqlalchemy as sa

ORACLE_URL = os.environ.get("TARGET_ORACLE_TEST_URL")
pytestmark = pytest.mark.skipif(
    not ORACLE_URL,
    reason="TARGET_ORACLE_TEST_URL is not set: no Oracle server runs here; these run against "
    "a real Oracle (README: Oracle Database Free in a container)",
)


def _scalar_list(db, sql: str, **params) -> list:
    from target_gruponos_oracle import database_rules

    engine = database_rules(db.config()).create_engine()
    try:
        with engine.connect() as conn:
            return list(conn.exec_driver_sql(sql, params).scalars())
    finally:
        engine.dispose()


def _execute(*statements: str) -> None:
    """Run `statements` in one transaction, as another program would (a table not ours)."""
    engine = sa.create_engine(str(ORACLE_URL))
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def test_date_times_read_back_in_thin_mode_with_an_offset_zone(oracle_db, h):
    # Defect 3: with TIME_ZONE = 'UTC' values carried a region id: DPY-3022 in thin mode.
    h.run_target(
        oracle_db.config(),
        [
            h.schema(
                "ev", {"id": {"type": "integer"}, "ts": {"type": "string", "format": "date-time"}}
            ),
            h.record("ev", {"id": 1, "ts": "2024-03-10T10:15:30.123456-03:00"}),
        ],
    )
    table = oracle_db.table("ev")
    assert _scalar_list(oracle_db, "SELECT SESSIONTIMEZONE FROM DUAL") == ["+00:00"]
    assert _scalar_list(oracle_db, f'SELECT TO_CHAR("TS", \'TZR\') FROM "{table}"') == ["+00:00"]
    (value,) = [row["ts"] for row in oracle_db.rows("ev")]  # a plain engine, thin mode
    instant = dt.datetime(2024, 3, 10, 13, 15, 30, 123456)
    assert value.replace(tzinfo=None) == instant


def test_upserts_leave_no_staging_table_and_keys_get_what_oracle_can_index(oracle_db, h):
    # Defects 1 and 2: nothing named *_STG is created; a TIMESTAMP WITH TIME ZONE key gets
    # a unique index; two unbounded string keys (ORA-01450) no constraint at all.
    h.run_target(
        oracle_db.config(),
        [
            h.schema("zoned", {"ts": {"type": "string", "format": "date-time"}}, keys=["ts"]),
            h.record("zoned", {"ts": "2026-01-05T10:00:00Z"}),
            h.schema("wide", {"a": {"type": "string"}, "b": {"type": "string"}}, keys=["a", "b"]),
            h.record("wide", {"a": "x", "b": "y"}),
        ],
    )
    prefix = oracle_db.extra_config["table_prefix"]
    tables = _scalar_list(
        oracle_db, "SELECT table_name FROM user_tables WHERE table_name LIKE :p", p=prefix + "%"
    )
    assert sorted(tables) == sorted([oracle_db.table("zoned"), oracle_db.table("wide")])
    assert _scalar_list(
        oracle_db,
        "SELECT uniqueness FROM user_indexes WHERE index_name = :n",
        n=oracle_db.table("zoned") + "_KEY",
    ) == ["UNIQUE"]
    assert (
        _scalar_list(
            oracle_db,
            "SELECT constraint_type FROM user_constraints WHERE table_name = :t "
            "AND constraint_type IN ('P', 'U')",
            t=oracle_db.table("wide"),
        )
        == []
    )


def test_a_clob_key_is_refused_before_any_table_is_made(oracle_db, h, tmp_path):
    # Review finding 5: CLOB keys could only be matched LOB by LOB (DBMS_LOB.COMPARE).
    schema = h.schema("docs", {"doc": {"type": "object"}}, keys=["doc"])
    result = h.run_cli(oracle_db.config(), [schema, h.record("docs", {"doc": {"a": 1}})], tmp_path)
    assert result.returncode != 0
    assert "stream 'docs': key properties ['doc']" in result.stderr
    prefix = oracle_db.extra_config["table_prefix"]
    assert (
        _scalar_list(
            oracle_db, "SELECT table_name FROM user_tables WHERE table_name LIKE :p", p=prefix + "%"
        )
        == []
    )


def test_deletion_by_a_timestamp_with_time_zone_key_keeps_the_fractions(oracle_db, h):
    # Review finding 3: the key bound as DB_TYPE_DATE lost its fractions: never matched.
    schema = h.schema(
        "ev", {"ts": {"type": "string", "format": "date-time"}, "v": {"type": "string"}}, ["ts"]
    )
    config = oracle_db.config(hard_delete=True)
    when = "2026-01-05T10:00:00.123456Z"
    h.run_target(config, [schema, h.record("ev", {"ts": when, "v": "a"})])
    h.run_target(config, [schema, h.record("ev", {"ts": when, "_sdc_deleted_at": when})])
    assert oracle_db.rows("ev", order_by=None) == []


def test_a_column_declared_date_time_over_text_is_not_converted_with_nls_formats(oracle_db, h):
    # Defect 6, on Oracle's own session formats: NLS_DATE_FORMAT would give 05-JAN-26.
    engine = sa.create_engine(str(ORACLE_URL))
    with engine.connect() as conn:
        fmt = conn.exec_driver_sql(
            "SELECT value FROM nls_session_parameters WHERE parameter = 'NLS_DATE_FORMAT'"
        ).scalar_one()
    engine.dispose()
    assert fmt  # whatever it is, the stored text must not follow it
    h.run_target(
        oracle_db.config(),
        [
            h.schema("t", {"id": {"type": "integer"}, "d": {"type": "string"}}),
            h.record("t", {"id": 1, "d": "x"}),
        ],
    )
    h.run_target(
        oracle_db.config(),
        [
            h.schema("t", {"id": {"type": "integer"}, "d": {"type": "string", "format": "date"}}),
            h.record("t", {"id": 2, "d": "2026-01-05"}),
        ],
    )
    assert [r["d"] for r in oracle_db.rows("t")] == ["x", "2026-01-05"]


def test_a_column_is_added_while_another_session_holds_an_uncommitted_insert(oracle_db, h):
    # Review finding 1: DDL_LOCK_TIMEOUT defaults to 0 (NOWAIT), so ALTER TABLE beside
    # another session's uncommitted DML failed at once with ORA-00054. Now the session
    # waits (ddl_lock_timeout) and the sink retries with backoff.
    import threading
    import time

    items = {"id": {"type": "integer"}, "qty": {"type": "integer"}}
    h.run_target(oracle_db.config(), [h.schema("items", items), h.record("items", {"id": 1})])
    table = oracle_db.table("items")
    engine = sa.create_engine(str(ORACLE_URL))
    conn = engine.connect()
    transaction = conn.begin()
    conn.exec_driver_sql(f'INSERT INTO "{table}" ("ID", "QTY") VALUES (2, 2)')  # row lock + TM
    holder = threading.Timer(3.0, transaction.commit)
    started = time.monotonic()
    holder.start()
    try:
        wider = {**items, "note": {"type": ["null", "string"]}}
        h.run_target(
            oracle_db.config(ddl_lock_timeout=10),
            [h.schema("items", wider), h.record("items", {"id": 3, "note": "n"})],
        )
    finally:
        holder.join()
        conn.close()
        engine.dispose()
    assert time.monotonic() - started >= 3.0  # the ALTER waited for the other session
    assert [(r["id"], r["note"]) for r in oracle_db.rows("items")] == [
        (1, None),
        (2, None),
        (3, "n"),
    ]


def test_the_private_staging_table_does_not_commit_the_load_transaction(oracle_db, h):
    # Review finding 7: CREATE PRIVATE TEMPORARY TABLE ... ON COMMIT DROP DEFINITION must
    # not commit (other DDL does): a row written earlier in the same transaction is
    # rolled back with the upsert, and the staging table is gone.
    from target_gruponos_oracle import database_rules
    from target_gruponos_oracle.columns import schema_columns
    from target_gruponos_oracle.dialects import strategy_class
    from target_gruponos_oracle.dialects.oracle import OracleStrategy

    items = {"id": {"type": "integer"}, "v": {"type": "string"}}
    h.run_target(oracle_db.config(), [h.schema("items", items), h.record("items", {"id": 1})])
    config = oracle_db.config()
    engine = database_rules(config).create_engine()
    strategy = OracleStrategy(engine.dialect, config)
    spec = strategy.table_spec(
        "items",
        schema_columns(config, "items", {"properties": items}, strategy_class("oracle")),
        ["id"],
    )
    table = oracle_db.table("items")
    try:
        with engine.connect() as conn:
            transaction = conn.begin()
            conn.exec_driver_sql(f'INSERT INTO "{table}" ("ID", "V") VALUES (2, \'before\')')
            strategy.upsert_rows(conn, spec, [(3, "staged")])
            transaction.rollback()
    finally:
        engine.dispose()
    assert [row["id"] for row in oracle_db.rows("items")] == [1]


def test_the_string_limit_is_read_from_the_server_and_unknown_length_keys_load(oracle_db, h):
    # Issue 16, point 2: under MAX_STRING_SIZE = EXTENDED a VARCHAR2(4000 CHAR) key takes
    # up to 16,000 bytes (ORA-01450 at CREATE TABLE); the limit is read at connect.
    from target_gruponos_oracle import database_rules
    from target_gruponos_oracle.dialects.oracle import OracleStrategy

    engine = database_rules(oracle_db.config()).create_engine()
    strategy = OracleStrategy(engine.dialect, oracle_db.config())
    try:
        with engine.connect() as conn:
            strategy.prepare(conn)
            try:
                conn.exec_driver_sql("SELECT CAST(NULL AS VARCHAR2(4001)) FROM DUAL")
                extended = True
            except sa.exc.DatabaseError as exc:
                assert "ORA-00910" in str(exc)
                extended = False
    finally:
        engine.dispose()
    assert strategy.string_max_bytes == (32767 if extended else 4000)
    h.run_target(
        oracle_db.config(),
        [
            h.schema("codes", {"code": {"type": "string"}}, keys=["code"]),
            h.record("codes", {"code": "a"}),
        ],
    )
    assert oracle_db.rows("codes", order_by="code") == [{"code": "a"}]


def test_a_byte_semantics_column_takes_accented_text_longer_than_its_bytes(oracle_db, h):
    # Issue 16, point 6: VARCHAR2(10 BYTE) cannot hold "Conceição": 9 characters, 11 bytes
    # in AL32UTF8 (read as 10 characters, it failed with ORA-12899).
    table = oracle_db.table("cities")
    _execute(f'CREATE TABLE "{table}" ("ID" NUMBER(38) PRIMARY KEY, "CITY" VARCHAR2(10 BYTE))')
    cities = {"id": {"type": "integer"}, "city": {"type": ["null", "string"]}}
    h.run_target(
        oracle_db.config(),
        [h.schema("cities", cities), h.record("cities", {"id": 1, "city": "Conceição"})],
    )
    assert [row["city"] for row in oracle_db.rows("cities")] == ["Conceição"]
    used = _scalar_list(
        oracle_db,
        "SELECT char_used FROM user_tab_columns WHERE table_name = :t AND column_name = 'CITY'",
        t=table,
    )
    assert used == ["C"]


def test_a_column_of_a_compressed_table_is_replaced(oracle_db, h):
    # Issue 16, point 3: basic compression refuses DROP COLUMN (ORA-39726: "DROP column is
    # only supported in the form of SET UNUSED column"); the replacement uses SET UNUSED.
    table = oracle_db.table("packed")
    _execute(
        f'CREATE TABLE "{table}" ("ID" NUMBER(38) PRIMARY KEY, "N" NUMBER(38)) COMPRESS BASIC',
        f'INSERT INTO "{table}" VALUES (1, 41)',
    )
    packed = {"id": {"type": "integer"}, "n": {"type": ["null", "string"]}}
    h.run_target(
        oracle_db.config(), [h.schema("packed", packed), h.record("packed", {"id": 2, "n": "x"})]
    )
    assert [row["n"] for row in oracle_db.rows("packed")] == ["41", "x"]
