"""Every Oracle statement the target issues, compiled with SQLAlchemy's Oracle dialect and
checked against what Oracle accepts (no Oracle server runs here).

All SQL the sinks execute comes from `OracleStrategy`; these tests drive it the way the
sink does (create, evolve, stage, merge, delete versions) and check each statement.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import oracle
from target_gruponos_oracle.columns import Column, Kind, schema_columns
from target_gruponos_oracle.dialects.oracle import OracleStrategy
from target_gruponos_oracle.dialects.tables import ExistingColumn

ORACLE_TYPES = re.compile(
    r"^(NUMBER\(38\)|NUMBER|NUMBER\(1\)|CLOB|DATE|TIMESTAMP\(6\) WITH TIME ZONE"
    r"|VARCHAR2\((\d+) CHAR\))$"
)
QUOTED = re.compile(r'"([^"]*)"')
PROPERTIES = {
    "id": {"type": "integer"},
    "order": {"type": "string", "maxLength": 20},
    "select": {"type": "string"},
    "date": {"type": "string", "format": "date-time"},
    "ship_date": {"type": "string", "format": "date"},
    "amount": {"type": "number"},
    "is_active": {"type": "boolean"},
    "attributes": {"type": "object"},
    "notes": {"type": "string", "maxLength": 10_000},
    "agent:os:version": {"type": ["null", "string"]},
    "a_property_name_that_goes_on_and_on_well_past_thirty_characters": {"type": "integer"},
    "_sdc_table_version": {"type": ["null", "integer"]},
    "_sdc_deleted_at": {"type": ["null", "string"], "format": "date-time"},
}


def check_oracle_statement(
    statement: str, max_identifier_length: int = 128, *, bound: bool = False
) -> str:
    """Check identifiers and syntax rules of one statement as Oracle receives it.

    DDL comes out of SQLAlchemy's Oracle DDL compiler already; statements the sink runs
    with bound parameters (`bound=True`) go through `sa.text(...)`, so they are compiled
    with the Oracle dialect here exactly as the sink does. The rest is sent to the
    driver verbatim.
    """
    compiled = str(sa.text(statement).compile(dialect=oracle.dialect())) if bound else statement
    assert not compiled.rstrip().endswith(";"), "oracledb refuses a trailing semicolon"
    for name in QUOTED.findall(compiled):
        assert re.fullmatch(r"[A-Z][A-Z0-9_$#]*", name), f"not an unquoted-typable name: {name}"
        assert len(name.encode()) <= max_identifier_length, f"too long: {name}"
    return compiled


def column_types(create_table: str) -> list[str]:
    """The type text of each column line in a CREATE TABLE."""
    types = []
    for line in create_table.splitlines()[1:]:
        line = line.strip().rstrip(",")
        if line.startswith('"'):
            types.append(re.sub(r" NOT NULL$", "", line.split('" ', 1)[1]))
    return types


@pytest.fixture(params=[128, 30], ids=["12.2+", "pre-12.2"])
def strategy(request) -> OracleStrategy:
    config = {"table_prefix": "WMS_", "max_identifier_length": request.param}
    return OracleStrategy(oracle.dialect(max_identifier_length=request.param), config)


@pytest.fixture
def spec(strategy):
    columns = schema_columns(strategy.config, "order_dtl", {"properties": PROPERTIES}, strategy)
    return strategy.table_spec("order_dtl", columns, ["id"])


def test_create_table_uses_oracle_types_and_quoted_uppercase_names(strategy, spec):
    limit = strategy.config["max_identifier_length"]
    [create] = strategy.create_table(spec, enforce_key=True)
    compiled = check_oracle_statement(create, limit)
    assert compiled.startswith('CREATE TABLE "WMS_ORDER_DTL" (')
    types = dict(zip(spec.column_names, column_types(compiled), strict=True))
    assert types == {
        "ID": "NUMBER(38)",
        "ORDER": "VARCHAR2(20 CHAR)",
        "SELECT": "VARCHAR2(4000 CHAR)",
        "DATE": "TIMESTAMP(6) WITH TIME ZONE",
        "SHIP_DATE": "DATE",
        "AMOUNT": "NUMBER",
        "IS_ACTIVE": "NUMBER(1)",
        "ATTRIBUTES": "CLOB",
        "NOTES": "CLOB",
        "AGENT_OS_VERSION": "VARCHAR2(4000 CHAR)",
        spec.column_names[10]: "NUMBER(38)",
        "SDC_TABLE_VERSION": "NUMBER(38)",
        "SDC_DELETED_AT": "TIMESTAMP(6) WITH TIME ZONE",
    }
    for column_type in types.values():
        match = ORACLE_TYPES.match(column_type)
        assert match, column_type
        assert match.group(2) is None or int(match.group(2)) <= 4000
    assert 'PRIMARY KEY ("ID")' in compiled
    long_property = list(PROPERTIES)[10]
    long_name = spec.column_names[10]
    if limit == 30:
        assert len(long_name) == 30
        assert re.search(r"_[0-9A-F]{8}$", long_name)
    else:
        assert long_name == long_property.upper()


def test_staging_is_a_private_temporary_table_dropped_at_the_end_of_the_load(strategy, spec):
    limit = strategy.config["max_identifier_length"]
    create = strategy.create_staging(spec)
    compiled = check_oracle_statement(create, limit)
    # Private temporary tables (18c+): names start with PRIVATE_TEMP_TABLE_PREFIX
    # (ORA$PTT_); ON COMMIT DROP DEFINITION ends them with the load's transaction.
    assert compiled.startswith('CREATE PRIVATE TEMPORARY TABLE "ORA$PTT_WMS_ORDER_DTL" (')
    assert compiled.endswith("ON COMMIT DROP DEFINITION")
    # No constraint: the sink sends one row per key; PTTs cannot have indexes anyway.
    assert "PRIMARY KEY" not in compiled and "NOT NULL" not in compiled

    staging = strategy.quote(strategy.staging_name(spec))
    merge = check_oracle_statement(strategy.merge(spec, staging), limit)
    assert merge.startswith(
        'MERGE INTO "WMS_ORDER_DTL" t USING "ORA$PTT_WMS_ORDER_DTL" s ON (t."ID" = s."ID")'
    )
    update = merge.split("WHEN MATCHED THEN UPDATE SET ", 1)[1].split(" WHEN NOT MATCHED", 1)[0]
    assert '"ID" =' not in update, "ORA-38104: columns in the ON clause cannot be updated"
    assert "t." not in update  # Oracle's SET names the target columns unqualified
    for name in spec.column_names[1:]:
        assert f'"{name}" = s."{name}"' in update
    insert = merge.split("WHEN NOT MATCHED THEN INSERT ", 1)[1]
    assert all(f's."{name}"' in insert for name in spec.column_names)


def test_merge_with_only_key_columns_has_no_update_clause(strategy):
    spec = strategy.table_spec("links", [Column("id", "ID", Kind.INTEGER)], ["id"])
    merge = check_oracle_statement(strategy.merge(spec, '"LINKS_STG"'))
    assert "WHEN MATCHED" not in merge


def test_bulk_insert_binds_every_column_positionally_with_explicit_sizes(strategy, spec):
    staging = strategy.quote(strategy.staging_name(spec))
    insert = check_oracle_statement(strategy.array_insert_sql(staging, spec))
    assert insert.endswith(f"VALUES ({', '.join(f':{i}' for i in range(1, 14))})")
    import oracledb

    sizes = strategy.input_sizes(spec)
    assert len(sizes) == len(spec.columns)
    by_name = dict(zip(spec.column_names, sizes, strict=True))
    assert by_name["ID"] is oracledb.DB_TYPE_NUMBER
    assert by_name["DATE"] is oracledb.DB_TYPE_TIMESTAMP
    assert by_name["NOTES"] is oracledb.DB_TYPE_LONG  # CLOB
    assert by_name["ORDER"] == 4000


def test_schema_changes_add_and_widen_without_dropping_data(strategy, spec):
    limit = strategy.config["max_identifier_length"]
    by_name = {column.name: column for column in spec.columns}

    [add] = strategy.add_column(spec, by_name["AMOUNT"])
    assert check_oracle_statement(add, limit) == 'ALTER TABLE "WMS_ORDER_DTL" ADD ("AMOUNT" NUMBER)'

    # integer → number: raising a NUMBER's precision is a MODIFY
    [modify] = strategy.widen(spec, by_name["AMOUNT"], ExistingColumn(Kind.INTEGER))
    assert check_oracle_statement(modify, limit) == (
        'ALTER TABLE "WMS_ORDER_DTL" MODIFY ("AMOUNT" NUMBER)'
    )

    # a longer string: VARCHAR2(20) → VARCHAR2(300) in place
    spec.widths["ORDER"] = 300
    [longer] = strategy.widen(spec, by_name["ORDER"], ExistingColumn(Kind.STRING, 20))
    assert check_oracle_statement(longer, limit).endswith('MODIFY ("ORDER" VARCHAR2(300 CHAR))')

    # past 4000 bytes: VARCHAR2 cannot be MODIFYed to CLOB (ORA-22858): copy through a new column
    spec.widths["SELECT"] = float("inf")
    steps = [
        check_oracle_statement(s, limit)
        for s in strategy.widen(spec, by_name["SELECT"], ExistingColumn(Kind.STRING, 4000))
    ]
    assert [s.split(" ")[0:3] for s in steps] == [
        ["ALTER", "TABLE", '"WMS_ORDER_DTL"'],
        ["UPDATE", '"WMS_ORDER_DTL"', "SET"],
        ["ALTER", "TABLE", '"WMS_ORDER_DTL"'],
        ["ALTER", "TABLE", '"WMS_ORDER_DTL"'],
    ]
    assert " ADD " in steps[0] and steps[0].endswith(" CLOB")
    assert 'TO_CLOB("SELECT")' in steps[1]
    assert steps[2].endswith('SET UNUSED ("SELECT")')
    assert 'RENAME COLUMN "' in steps[3] and steps[3].endswith('TO "SELECT"')

    # same kind and already wide enough: nothing to do
    assert strategy.widen(spec, by_name["ID"], ExistingColumn(Kind.INTEGER)) == []
    assert strategy.widen(spec, by_name["ID"], ExistingColumn(Kind.NUMBER)) == []


def test_a_key_column_is_never_rebuilt(strategy, spec):
    key = next(column for column in spec.columns if column.name == "ID")
    widened = Column(key.prop, key.name, Kind.STRING)
    with pytest.raises(ValueError, match="key column ID"):
        strategy.widen(spec, widened, ExistingColumn(Kind.INTEGER))


def test_activate_version_and_overwrite_statements(strategy, spec):
    limit = strategy.config["max_identifier_length"]
    hard = check_oracle_statement(
        str(strategy.delete_old_versions(spec, "SDC_TABLE_VERSION")), limit, bound=True
    )
    assert hard == (
        'DELETE FROM "WMS_ORDER_DTL" WHERE ("SDC_TABLE_VERSION" IS NULL OR '
        '"SDC_TABLE_VERSION" < :version)'
    )
    soft = check_oracle_statement(
        str(strategy.soft_delete_old_versions(spec, "SDC_TABLE_VERSION", "SDC_DELETED_AT")),
        limit,
        bound=True,
    )
    assert soft.startswith('UPDATE "WMS_ORDER_DTL" SET "SDC_DELETED_AT" = :deleted_at WHERE')
    assert check_oracle_statement(strategy.delete_all(spec), limit) == 'DELETE FROM "WMS_ORDER_DTL"'
    assert strategy.create_schema("WMS") == []  # Oracle schemas are users


def test_default_target_schema_qualifies_every_statement(strategy):
    strategy.config["default_target_schema"] = "wms_stage"
    columns = schema_columns(strategy.config, "items", {"properties": PROPERTIES}, strategy)
    spec = strategy.table_spec("items", columns, ["id"])
    [create] = strategy.create_table(spec, enforce_key=True)
    assert check_oracle_statement(create).startswith('CREATE TABLE "WMS_STAGE"."WMS_ITEMS" (')
    merge = strategy.merge(spec, '"WMS_ITEMS_STG"')
    assert check_oracle_statement(merge).startswith('MERGE INTO "WMS_STAGE"."WMS_ITEMS" t')


def test_observed_long_strings_widen_to_clob_by_bytes_not_characters(strategy, spec):
    rows = [tuple("x" if c.kind == Kind.STRING else None for c in spec.columns)]
    assert strategy.observe_widths(spec, rows) is True
    assert spec.widths["SELECT"] == 1
    position = spec.column_names.index("SELECT")
    multibyte = ["é" * 2500 if i == position else None for i in range(len(spec.columns))]
    assert strategy.observe_widths(spec, [tuple(multibyte)]) is True
    assert spec.widths["SELECT"] == float("inf")  # 2,500 characters but 5,000 bytes
    assert strategy.column_type(spec.columns[position], spec.widths["SELECT"]) == "CLOB"


@pytest.mark.parametrize(
    ("reflected", "kind", "width"),
    [
        (oracle.NUMBER(38, 0), Kind.INTEGER, None),
        (oracle.NUMBER(1, 0), Kind.BOOLEAN, None),  # what the target creates for booleans
        (oracle.NUMBER(), Kind.NUMBER, None),
        (oracle.VARCHAR2(20), Kind.STRING, 20),
        (sa.CLOB(), Kind.STRING, float("inf")),
        (oracle.TIMESTAMP(timezone=True), Kind.DATETIME, None),
    ],
)
def test_reflected_oracle_types_are_read_back_as_what_the_target_created(reflected, kind, width):
    found = OracleStrategy(oracle.dialect(), {}).existing_kind(reflected)
    assert (found.kind, found.width) == (kind, width)


# Issue 9 defects: each Oracle rule, checked on the statements the target sends -------------


class RecordingCursor:
    """A DB-API cursor that records what the target sends (no server runs here)."""

    def __init__(self, calls: list) -> None:
        self.calls = calls

    def execute(self, sql, parameters=None):
        self.calls.append(("execute", sql))

    def setinputsizes(self, *sizes):
        self.calls.append(("setinputsizes", sizes))

    def executemany(self, sql, rows):
        self.calls.append(("executemany", sql, len(rows)))

    def close(self):
        self.calls.append(("close",))


class RecordingConnection:
    """Stands where the strategy reaches the driver: ``conn.connection.dbapi_connection``."""

    def __init__(self, version: str = "19.3.0.0.0") -> None:
        self.calls: list = []
        self.version = version
        self.connection = self
        self.dbapi_connection = self

    def cursor(self) -> RecordingCursor:
        return RecordingCursor(self.calls)

    def commit(self) -> None:
        self.calls.append(("commit",))

    def rollback(self) -> None:
        self.calls.append(("rollback",))


def test_upsert_sends_create_private_temporary_table_insert_merge_and_never_commits(strategy, spec):
    # Defect 1: a fresh private temporary table per load; nothing is dropped. What this
    # checks is the statement sequence the strategy sends and that it never commits or
    # rolls back itself (the sink's `with conn.begin()` owns the transaction). That the
    # CREATE PRIVATE TEMPORARY TABLE ... ON COMMIT DROP DEFINITION does not commit the
    # load's transaction is Oracle's documented rule, not something a recording cursor can
    # show: it is checked against a real Oracle in test_oracle_live.py.
    import oracledb

    conn = RecordingConnection()
    rows = [tuple(range(len(spec.columns)))] * 3
    strategy.upsert_rows(conn, spec, rows)
    kinds = [call[0] for call in conn.calls]
    assert kinds == ["execute", "setinputsizes", "executemany", "execute"]
    create, sizes, insert, merge = conn.calls
    assert create[1].startswith('CREATE PRIVATE TEMPORARY TABLE "ORA$PTT_WMS_ORDER_DTL"')
    assert create[1].endswith("ON COMMIT DROP DEFINITION")
    assert insert[1].startswith('INSERT INTO "ORA$PTT_WMS_ORDER_DTL" (') and insert[2] == 3
    assert merge[1].startswith('MERGE INTO "WMS_ORDER_DTL" t USING "ORA$PTT_WMS_ORDER_DTL" s')
    assert sizes[1][0] is oracledb.DB_TYPE_NUMBER
    assert not any("DROP TABLE" in str(call) for call in conn.calls)
    assert ("commit",) not in conn.calls and ("rollback",) not in conn.calls
    # Nothing at all for an empty batch (no CREATE outside a load).
    empty = RecordingConnection()
    strategy.upsert_rows(empty, spec, [])
    assert empty.calls == []


def test_staging_of_a_stream_named_like_a_staging_table_cannot_touch_that_table(strategy):
    # Defect 1: the old `<T>_STG` name could be another stream's table; ORA$PTT_ names
    # can only be private temporary tables (a permanent table cannot take the prefix:
    # ORA-32463; Oracle Database Reference, PRIVATE_TEMP_TABLE_PREFIX).
    columns = schema_columns(
        strategy.config, "x", {"properties": {"id": PROPERTIES["id"]}}, strategy
    )
    x = strategy.table_spec("x", columns, ["id"])
    x_stg = strategy.table_spec("x_stg", columns, ["id"])
    assert strategy.staging_name(x) != x_stg.name
    assert strategy.staging_name(x).startswith("ORA$PTT_")
    assert len(strategy.staging_name(x_stg).encode()) <= strategy.config["max_identifier_length"]


def test_session_time_zone_is_an_offset_and_old_servers_are_refused():
    # Defect 3: a region name ('UTC') stores region ids thin mode cannot read (DPY-3022).
    conn = RecordingConnection("19.3.0.0.0")
    OracleStrategy.setup_session(conn)
    assert conn.calls[0] == ("execute", "ALTER SESSION SET TIME_ZONE = '+00:00'")
    assert conn.calls[-1] == ("close",)
    with pytest.raises(ValueError, match=r"needs Oracle 18c or later"):
        OracleStrategy.setup_session(RecordingConnection("12.2.0.1.0"))


def test_ddl_waits_for_other_sessions_locks_instead_of_failing_with_ora_00054():
    # DDL_LOCK_TIMEOUT defaults to 0 = NOWAIT (Oracle Database Reference): an ALTER TABLE
    # beside another load's uncommitted MERGE failed at once. Range 0 to 1,000,000 s.
    from target_gruponos_oracle.connector import create_engine

    conn = RecordingConnection()
    OracleStrategy.setup_session(conn)
    assert ("execute", "ALTER SESSION SET DDL_LOCK_TIMEOUT = 60") in conn.calls
    configured = RecordingConnection()
    OracleStrategy.setup_session(configured, None, {"ddl_lock_timeout": 5})
    assert [call[1] for call in configured.calls if call[0] == "execute"] == [
        "ALTER SESSION SET TIME_ZONE = '+00:00'",
        "ALTER SESSION SET DDL_LOCK_TIMEOUT = 5",
    ]
    for wrong in (-1, 1_000_001, "60", 1.5):
        with pytest.raises(ValueError, match="ddl_lock_timeout"):
            OracleStrategy.session_statements({"ddl_lock_timeout": wrong})
    # The engine's connect hook passes the target's settings to the session setup.
    engine = create_engine({"ddl_lock_timeout": 7}, "oracle+oracledb://u:p@h/x")
    hooked = RecordingConnection()
    # The pool calls these on a new connection (the dialect's own hooks query the server).
    (setup,) = [f for f in engine.pool.dispatch.connect if f.__name__ == "setup_session"]
    setup(hooked, None)
    assert ("execute", "ALTER SESSION SET DDL_LOCK_TIMEOUT = 7") in hooked.calls
    engine.dispose()


@pytest.mark.parametrize(
    ("message", "busy"),
    [
        ("ORA-00054: resource busy and acquire with NOWAIT specified or timeout expired", True),
        ("ORA-00955: name is already used by an existing object", False),
    ],
)
def test_only_ora_00054_is_retried_as_a_lock_held_by_another_load(message, busy):
    import oracledb

    error = sa.exc.DatabaseError("ALTER TABLE", {}, oracledb.DatabaseError(message))
    assert OracleStrategy.lock_timed_out(error) is busy


def _spec_for(strategy, properties: dict, keys: list[str]):
    columns = schema_columns(strategy.config, "t", {"properties": properties}, strategy)
    return strategy.table_spec("t", columns, keys)


@pytest.mark.parametrize(
    ("key_schemas", "plan", "in_log"),
    [
        pytest.param({"id": {"type": "integer"}}, "primary key", "", id="number"),
        pytest.param(
            {"ts": {"type": "string", "format": "date-time"}},
            "unique index",
            "ORA-02329",
            id="timestamp-with-time-zone",
        ),
        pytest.param({"doc": {"type": "object"}}, "none", "CLOB", id="clob"),
        pytest.param(
            {"a": {"type": "string"}, "b": {"type": "string"}}, "none", "ORA-01450", id="2-long"
        ),
        pytest.param(
            {"a": {"type": "string", "maxLength": 100}, "b": {"type": "string"}},
            "primary key",
            "",
            id="fits",
        ),
    ],
)
def test_keys_oracle_cannot_constrain_get_a_unique_index_or_none(
    strategy, key_schemas, plan, in_log
):
    # Defect 2: primary key only where Oracle can index it.
    spec = _spec_for(strategy, {**key_schemas, "v": {"type": "string"}}, list(key_schemas))
    found = strategy.key_plan(spec)
    assert found.kind == plan
    assert in_log in found.reason
    statements = [check_oracle_statement(s) for s in strategy.create_table(spec, enforce_key=True)]
    assert ("PRIMARY KEY" in statements[0]) == (plan == "primary key")
    if plan == "unique index":
        assert statements[1] == 'CREATE UNIQUE INDEX "WMS_T_KEY" ON "WMS_T" ("TS")'
    else:
        assert len(statements) == 1
    # The staging table never carries a constraint.
    assert "PRIMARY KEY" not in strategy.create_staging(spec)


def test_an_interrupted_table_creation_gets_its_unique_index_next_time(strategy):
    from target_gruponos_oracle.dialects.tables import ExistingKey

    spec = _spec_for(strategy, {"ts": {"type": "string", "format": "date-time"}}, ["ts"])
    missing = ExistingKey(primary=[], unique=[], index_names=set())
    assert strategy.key_changes(spec, missing) == [strategy.unique_key_index(spec)]
    # Oracle indexes TIMESTAMP WITH TIME ZONE by an expression: found by its name.
    present = ExistingKey(primary=[], unique=[[]], index_names={"WMS_T_KEY"})
    assert strategy.key_changes(spec, present) == []


@pytest.mark.parametrize(
    "key",
    [{"type": "object"}, {"type": "array"}, {"type": "string", "maxLength": 4001}],
    ids=["object", "array", "long string"],
)
def test_clob_keys_are_refused_for_upserts_never_matched_lob_by_lob(strategy, key):
    # Review finding 5: a LOB cannot be compared with = (ORA-00932) nor indexed; matching
    # with DBMS_LOB.COMPARE compares every staged row with every row of the table.
    spec = _spec_for(strategy, {"doc": key, "v": {"type": "string"}}, ["doc"])
    assert strategy.unmatchable_keys(spec) == ["DOC"]
    bounded = _spec_for(strategy, {"doc": {"type": "string"}, "v": {"type": "string"}}, ["doc"])
    assert strategy.unmatchable_keys(bounded) == []  # VARCHAR2(4000 CHAR)


def test_deletion_by_key_matches_like_the_merge_with_typed_binds(strategy):
    # Review finding 3: sa.text binds were the driver's guess: a datetime went in as
    # DB_TYPE_DATE (fractions lost, the TIMESTAMP WITH TIME ZONE key never matched).
    import oracledb

    properties = {
        "ts": {"type": "string", "format": "date-time"},
        "day": {"type": "string", "format": "date"},
        "code": {"type": "string", "maxLength": 20},
        "n": {"type": "integer"},
        "v": {"type": "string"},
    }
    spec = _spec_for(strategy, properties, ["ts", "day", "code", "n"])
    dialect = sa.create_engine("oracle+oracledb://u:p@h/x").dialect
    compiled = strategy.delete_keys(spec).compile(dialect=dialect)
    where = 'WHERE "TS" = :key_0 AND "DAY" = :key_1 AND "CODE" = :key_2 AND "N" = :key_3'
    assert str(compiled) == f'DELETE FROM "WMS_T" {where}'
    check_oracle_statement(str(compiled), strategy.config["max_identifier_length"])
    merge = strategy.merge(spec, '"ORA$PTT_WMS_T"')
    assert 'ON (t."TS" = s."TS" AND t."DAY" = s."DAY" AND t."CODE" = s."CODE"' in merge

    def dbapi_type(name: str):
        return compiled.binds[name].type.dialect_impl(dialect).get_dbapi_type(oracledb)

    assert dbapi_type("key_0") is oracledb.DB_TYPE_TIMESTAMP
    assert dbapi_type("key_0") in dialect.include_set_input_sizes  # setinputsizes is called
    assert compiled.binds["key_2"].type._type_affinity is sa.String
    # Numbers keep the driver's exact NUMBER bind (int / Decimal).
    assert compiled.binds["key_3"].type._isnull
    # The sink converts a date-time key to naive UTC, as the session zone (+00:00) takes it.
    ts_column = spec.columns[0]
    value = strategy.converter(ts_column)("2026-01-05T10:00:00.123456-03:00")
    assert value == dt.datetime(2026, 1, 5, 13, 0, 0, 123456)


def test_oracle_date_is_reflected_as_a_date_and_widened_without_ff(strategy):
    # Defect 4: SQLAlchemy reflects Oracle DATE as a DateTime subclass; FF fails on DATE.
    found = strategy.existing_kind(oracle.DATE())
    assert found.kind == Kind.DATE
    spec = _spec_for(strategy, {"id": {"type": "integer"}, "day": {"type": "string"}}, ["id"])
    statements = strategy.column_changes(spec, {"ID": ExistingColumn(Kind.INTEGER), "DAY": found})
    fill = next(s for s in statements if s.startswith("UPDATE"))
    assert fill == 'UPDATE "WMS_T" SET "DAY$NEW" = TO_CHAR("DAY", \'YYYY-MM-DD\')'
    assert "FF" not in fill


def test_column_replacement_is_finished_by_the_next_run_wherever_it_stopped(strategy):
    # Defect 5: ADD, UPDATE, DROP, RENAME commit separately (DDL commits implicitly).
    spec = _spec_for(strategy, {"id": {"type": "integer"}, "ts": {"type": "string"}}, ["id"])
    key = ExistingColumn(Kind.INTEGER)
    zoned = ExistingColumn(Kind.DATETIME)
    text = ExistingColumn(Kind.STRING, 4000)
    fresh = strategy.column_changes(spec, {"ID": key, "TS": zoned})
    assert [s.split(" ")[0] + " " + s.split(" ")[3] for s in fresh] == [
        "ALTER ADD",
        'UPDATE "TS$NEW"',
        "ALTER SET",  # SET UNUSED (compressed tables refuse DROP COLUMN: ORA-39726)
        "ALTER RENAME",
    ]
    iso = 'TO_CHAR("TS", \'YYYY-MM-DD"T"HH24:MI:SS.FF6TZH:TZM\')'
    assert iso in fresh[1]
    # Stopped after ADD (or after the UPDATE): copy again, drop, rename. Never ADD twice.
    after_add = strategy.column_changes(spec, {"ID": key, "TS": zoned, "TS$NEW": text})
    assert after_add == fresh[1:]
    # Stopped after SET UNUSED: only the rename is left; the data is in TS$NEW.
    after_drop = strategy.column_changes(spec, {"ID": key, "TS$NEW": text})
    assert after_drop == ['ALTER TABLE "WMS_T" RENAME COLUMN "TS$NEW" TO "TS"']
    for statement in fresh:
        check_oracle_statement(statement, strategy.config["max_identifier_length"])


def test_replacement_names_cannot_be_a_propertys_column_and_fit_the_limit(strategy):
    limit = strategy.config["max_identifier_length"]
    long_name = "A" * limit
    name = strategy.replacement_name(long_name)
    assert name.endswith("$NEW") and len(name) <= limit
    assert strategy.replacement_name("B" + long_name[1:]) != name
    # Property names never keep a `$`, so no property can own a `$NEW` column.
    assert "$" not in column_name_for(strategy, "ts$new")


def column_name_for(strategy, prop: str) -> str:
    from target_gruponos_oracle.naming import column_name

    return column_name(strategy.config, prop, strategy)


@pytest.mark.parametrize(
    ("declared", "value", "bound"),
    [
        ({"type": "string", "format": "date-time"}, "2026-01-05T10:00:00Z", "2026-01-05T10:00:00Z"),
        ({"type": "string", "format": "date"}, "2026-01-05", "2026-01-05"),
        ({"type": "integer"}, 7, "7"),
        ({"type": "number"}, 1.5, "1.5"),
        ({"type": "boolean"}, True, "true"),
    ],
)
def test_declared_type_changes_over_a_text_column_bind_iso_text(strategy, declared, value, bound):
    # Defect 6: a date bound into VARCHAR2 would be converted with NLS formats (05-JAN-26).
    import oracledb
    from target_gruponos_oracle.columns import RowDecoder

    spec = _spec_for(strategy, {"id": {"type": "integer"}, "v": declared}, ["id"])
    strategy.column_changes(
        spec, {"ID": ExistingColumn(Kind.INTEGER), "V": ExistingColumn(Kind.STRING, 4000)}
    )
    column = spec.columns[1]
    assert column.kind == Kind.STRING and column.declared is not None
    sizes = strategy.input_sizes(spec)
    assert sizes[1] == 4000 and sizes[1] is not oracledb.DB_TYPE_TIMESTAMP
    decoder = RowDecoder("t", spec.columns, strategy, [0])
    raw = json.dumps({"id": 1, "v": value}).encode()
    assert decoder.decode(raw) == (1, bound)


def test_empty_string_keys_are_bad_input_naming_the_field(strategy):
    # Defect 7: '' is NULL in Oracle, so a key of '' would fail the batch with ORA-01400.
    from target_gruponos_oracle.columns import RowDecoder

    spec = _spec_for(strategy, {"code": {"type": "string"}, "v": {"type": "string"}}, ["code"])
    condition, reason = strategy.invalid_key(spec.columns[0])
    assert "NULL" in reason
    assert condition.format(v="v") == "v == ''"
    decoder = RowDecoder("t", spec.columns, strategy, [0], dedupe=True)
    rows: dict = {}
    line = json.dumps({"type": "RECORD", "stream": "t", "record": {"code": "", "v": "x"}})
    # The fast loop does not take the line: the general path raises the named error.
    assert decoder.load([line], 10, rows) == (0, line)
    assert rows == {}


def test_rowid_cannot_be_a_column_name_so_it_gets_the_c_prefix(strategy):
    # Defect 8: "You cannot use the uppercase word ROWID ... as a column name."
    assert column_name_for(strategy, "rowid") == "C_ROWID"
    assert column_name_for(strategy, "RowId") == "C_ROWID"
    assert column_name_for(strategy, "row_id") == "ROW_ID"


def test_a_boolean_column_later_declared_integer_or_number_is_widened(strategy):
    # Defect 9: NUMBER(1) holds 0/1 only; raising a NUMBER's precision is allowed.
    spec = _spec_for(strategy, {"id": {"type": "integer"}, "flag": {"type": "integer"}}, ["id"])
    existing = {
        "ID": ExistingColumn(Kind.INTEGER),
        "FLAG": strategy.existing_kind(oracle.NUMBER(1, 0)),
    }
    assert strategy.column_changes(spec, existing) == [
        'ALTER TABLE "WMS_T" MODIFY ("FLAG" NUMBER(38))'
    ]


def test_soft_delete_stamp_is_bound_as_a_timestamp_with_its_fractions(strategy, spec):
    # Defect 9: an untyped datetime is bound as DB_TYPE_DATE (no fractional seconds).
    import oracledb

    dialect = sa.create_engine("oracle+oracledb://u:p@h/x").dialect
    statement = strategy.soft_delete_old_versions(
        spec, "SDC_TABLE_VERSION", "SDC_DELETED_AT", scope={"FACILITY_CODE": "DC01"}
    )
    compiled = statement.compile(dialect=dialect)
    bind = compiled.binds["deleted_at"]
    dbapi_type = bind.type.dialect_impl(dialect).get_dbapi_type(oracledb)
    assert dbapi_type is oracledb.DB_TYPE_TIMESTAMP
    assert dbapi_type in dialect.include_set_input_sizes  # SQLAlchemy calls setinputsizes
    stamp = strategy.deleted_at_value()
    assert stamp.tzinfo is None  # naive UTC: the driver ignores tzinfo; the session is +00:00
    assert str(compiled).endswith('AND "FACILITY_CODE" = :scope_0')
    assert compiled.binds["scope_0"].value == "DC01"
    assert strategy.scope_params({"FACILITY_CODE": "DC01"}) == {"scope_0": "DC01"}
    hard = strategy.delete_old_versions(spec, "SDC_TABLE_VERSION", {"FACILITY_CODE": "DC01"})
    assert str(hard).endswith('< :version) AND "FACILITY_CODE" = :scope_0')


@pytest.mark.parametrize(
    ("setting", "schema"),
    [("wms_stage", "WMS_STAGE"), ("WMS", "WMS"), ("Wms Stage", "Wms Stage")],
)
def test_default_target_schema_is_never_rewritten(setting, schema):
    # Defect 9: a plain name is read as Oracle reads it unquoted; others are kept as given.
    strategy = OracleStrategy(oracle.dialect(), {"default_target_schema": setting})
    assert strategy.schema_name() == schema


def test_a_date_column_declared_date_time_is_replaced_by_a_utc_timestamp_with_time_zone(
    strategy,
):
    # Review finding 2: DATE keeps no fractions and no zone; FROM_TZ(CAST(d AS TIMESTAMP),
    # '+00:00') makes each old date its midnight in UTC, through the resumable replacement.
    spec = _spec_for(
        strategy,
        {"id": {"type": "integer"}, "d": {"type": "string", "format": "date-time"}},
        ["id"],
    )
    existing = {"ID": ExistingColumn(Kind.INTEGER), "D": strategy.existing_kind(oracle.DATE())}
    statements = strategy.column_changes(spec, existing)
    copy = "FROM_TZ(CAST(\"D\" AS TIMESTAMP), '+00:00')"
    assert statements == [
        'ALTER TABLE "WMS_T" ADD "D$NEW" TIMESTAMP(6) WITH TIME ZONE',
        f'UPDATE "WMS_T" SET "D$NEW" = {copy}',
        'ALTER TABLE "WMS_T" SET UNUSED ("D")',
        'ALTER TABLE "WMS_T" RENAME COLUMN "D$NEW" TO "D"',
    ]
    for statement in statements:
        check_oracle_statement(statement, strategy.config["max_identifier_length"])
    # Interrupted after the ADD: the next run copies again, drops and renames.
    replacement = strategy.existing_kind(oracle.TIMESTAMP(timezone=True))
    resumed = strategy.column_changes(
        _spec_for(
            strategy,
            {"id": {"type": "integer"}, "d": {"type": "string", "format": "date-time"}},
            ["id"],
        ),
        {**existing, "D$NEW": replacement},
    )
    assert resumed == statements[1:]


def test_an_upsert_stream_with_an_object_key_stops_naming_the_stream_and_key(h, tmp_path):
    # Review finding 5, through the real executable: refused at SCHEMA, before any
    # connection (nothing listens on port 9 here), as bad input naming stream and key.
    config = {"sqlalchemy_url": "oracle+oracledb://u:p@127.0.0.1:9/?service_name=x"}
    schema = h.schema("docs", {"doc": {"type": "object"}, "v": {"type": "string"}}, keys=["doc"])
    result = h.run_cli(config, [schema], tmp_path)
    assert result.returncode != 0
    assert "stream 'docs': key properties ['doc'] would be stored as oracle large objects" in (
        result.stderr
    )
    assert "DPY-" not in result.stderr and "Traceback" not in result.stderr


def test_a_number_column_becomes_text_with_a_leading_zero_and_a_fixed_decimal_point(strategy):
    # Review finding 4: bare TO_CHAR(0.5) is '.5', with the session's decimal character.
    spec = _spec_for(strategy, {"id": {"type": "integer"}, "v": {"type": "string"}}, ["id"])
    existing = {"ID": ExistingColumn(Kind.INTEGER), "V": ExistingColumn(Kind.NUMBER)}
    fill = next(s for s in strategy.column_changes(spec, existing) if s.startswith("UPDATE"))
    nls = "'NLS_NUMERIC_CHARACTERS=''.,'''"
    fixed = "'FM" + "9" * 37 + "0D" + "9" * 38 + "'"
    assert fill == (
        'UPDATE "WMS_T" SET "V$NEW" = CASE WHEN ABS("V") < 1E38 AND "V" = ROUND("V", 38) '
        f"THEN RTRIM(TO_CHAR(\"V\", {fixed}, {nls}), '.') "
        f"ELSE REGEXP_REPLACE(TO_CHAR(\"V\", 'TM9', {nls}), '^(-?)[.]', '\\10.') END"
    )
    assert 'TO_CHAR("V")' not in fill  # never the session's number format


@pytest.mark.parametrize(
    ("field", "number", "fits"),
    [
        ("id", "9" * 38, True),  # NUMBER(38): up to 38 digits
        ("id", "1" + "0" * 38, False),  # 39 digits: ORA-01438 / DPY-4003 otherwise
        ("amount", "1" * 38 + ".0", True),  # 38 significant digits (trailing zero not one)
        ("amount", "1" * 39, False),  # 39 significant digits
        ("amount", "9.99E125", True),  # below 1E126
        ("amount", "1E126", False),  # NUMBER: magnitude below 1E126
        ("amount", "1E-130", True),
        ("amount", "1E-131", False),  # NUMBER: magnitude from 1E-130
        ("amount", "12345678901234567890", True),  # an int in a NUMBER column
        ("amount", "1" * 40, False),
    ],
)
def test_numbers_oracle_cannot_hold_are_bad_input_naming_the_field(strategy, field, number, fits):
    # SQL Language Reference, NUMBER: up to 38 significant digits, 1E-130 to below 1E126.
    from target_gruponos_oracle.columns import RowDecoder
    from target_gruponos_oracle.errors import ValueTypeError

    spec = _spec_for(strategy, {"id": {"type": "integer"}, "amount": {"type": "number"}}, ["id"])
    decoder = RowDecoder("t", spec.columns, strategy, [0], dedupe=True)
    values = {"id": 1, "amount": 1, field: number}
    raw = "{" + ", ".join(f'"{k}": {v}' for k, v in values.items()) + "}"
    line = '{"type": "RECORD", "stream": "t", "record": ' + raw + "}"
    rows: dict = {}
    if fits:
        assert decoder.load([line], 10, rows) == (1, None)
        assert decoder.decode(raw) == next(iter(rows.values()))
        return
    # The fast loop leaves the line to the general path, which names line and field.
    assert decoder.load([line], 10, rows) == (0, line)
    with pytest.raises(ValueTypeError, match=f"field '{field}'.*Oracle's NUMBER holds"):
        decoder.decode(raw)
    with pytest.raises(ValueTypeError, match=f"field '{field}'"):
        decoder.convert(json.loads(raw, parse_float=Decimal, parse_int=Decimal))


class ScriptedCursor(RecordingCursor):
    """A recording cursor whose statements containing a key fail with that error."""

    def __init__(self, calls: list, failures: dict[str, str]) -> None:
        super().__init__(calls)
        self.failures = failures

    def execute(self, sql, parameters=None):
        super().execute(sql, parameters)
        for part, error in self.failures.items():
            if part in sql:
                raise RuntimeError(error)


class ScriptedConnection(RecordingConnection):
    def __init__(self, failures: dict[str, str]) -> None:
        super().__init__()
        self.failures = failures

    def cursor(self) -> ScriptedCursor:
        return ScriptedCursor(self.calls, self.failures)


@pytest.mark.parametrize(
    ("failures", "limit"),
    [({}, 32767), ({"VARCHAR2(32767)": "ORA-00910: specified length too long"}, 4000)],
    ids=["EXTENDED", "STANDARD"],
)
def test_max_string_size_and_private_temporary_tables_are_checked_at_the_first_connection(
    strategy, failures, limit
):
    # Database Reference, MAX_STRING_SIZE: STANDARD = 4000 bytes, EXTENDED = 32767; a
    # CAST to VARCHAR2(32767) fails with ORA-00910 only under STANDARD.
    conn = ScriptedConnection(failures)
    strategy.prepare(conn)
    statements = [call[1] for call in conn.calls if call[0] == "execute"]
    assert statements == [
        "SELECT CAST(NULL AS VARCHAR2(32767)) FROM DUAL",
        'CREATE PRIVATE TEMPORARY TABLE "ORA$PTT_GNOS_PROBE" (X NUMBER) ON COMMIT DROP DEFINITION',
        'DROP TABLE "ORA$PTT_GNOS_PROBE"',
    ]
    assert strategy.string_max_bytes == limit
    assert ("commit",) not in conn.calls


@pytest.mark.parametrize(
    "error",
    [
        "ORA-00903: invalid table name",  # a non-default PRIVATE_TEMP_TABLE_PREFIX
        "ORA-32464: private temporary tables are not supported for this user",
    ],
)
def test_a_database_refusing_private_temporary_tables_stops_before_any_table(strategy, error):
    from target_gruponos_oracle.errors import DatabaseSettingsError

    conn = ScriptedConnection({"PRIVATE TEMPORARY": error})
    with pytest.raises(DatabaseSettingsError, match=r"PRIVATE_TEMP_TABLE_PREFIX.*Nothing was"):
        strategy.prepare(conn)
    # Another failure of the probe is not taken for STANDARD: it is raised as it is.
    with pytest.raises(RuntimeError, match="ORA-01017"):
        strategy.prepare(ScriptedConnection({"VARCHAR2(32767)": "ORA-01017: invalid login"}))


def test_key_limits_follow_max_string_size(strategy):
    # ORA-01450 (6,398 bytes on 8 KB blocks): VARCHAR2(n CHAR) takes up to 4n bytes, capped
    # by the server's VARCHAR2 limit, 4000 bytes under STANDARD but 32767 under EXTENDED.
    unknown = _spec_for(strategy, {"code": {"type": "string"}}, ["code"])
    short = _spec_for(strategy, {"code": {"type": "string", "maxLength": 1000}}, ["code"])
    long = _spec_for(strategy, {"code": {"type": "string", "maxLength": 8000}}, ["code"])
    assert strategy.key_plan(unknown).kind == "primary key"  # STANDARD: 4000 bytes at most
    strategy.string_max_bytes = 32767  # EXTENDED (Autonomous Database)
    plan = strategy.key_plan(unknown)
    assert plan.kind == "none" and "ORA-01450" in plan.reason  # 4000 CHAR: 16,000 bytes
    assert strategy.key_plan(short).kind == "primary key"  # 1000 CHAR: 4,000 bytes
    # Under EXTENDED a string up to 32767 bytes stays a VARCHAR2, bound as such.
    assert strategy.column_type(long.columns[0]) == "VARCHAR2(8000 CHAR)"
    assert strategy.input_sizes(long) == [32767]
    strategy.string_max_bytes = 4000
    assert strategy.column_type(long.columns[0]) == "CLOB"


def test_a_column_whose_length_counts_bytes_is_widened_by_bytes(strategy):
    # Database Reference, ALL_TAB_COLUMNS.CHAR_USED: 'B' = BYTE length semantics. A
    # VARCHAR2(10 BYTE) holds 10 ASCII characters but only 5 'ç' (2 bytes each in
    # AL32UTF8): reading it as 10 characters let 'çççççç' fail with ORA-12899.
    spec = _spec_for(strategy, {"id": {"type": "integer"}, "city": {"type": "string"}}, ["id"])
    existing = {
        "ID": ExistingColumn(Kind.INTEGER),
        "CITY": ExistingColumn(Kind.STRING, 10, byte_semantics=True),
    }
    assert strategy.column_changes(spec, existing) == []
    assert spec.byte_lengths == {"CITY"}
    assert not strategy.observe_widths(spec, [(1, "a" * 10)])  # 10 bytes: fits
    assert strategy.observe_widths(spec, [(1, "ç" * 6)])  # 6 characters, 12 bytes
    assert spec.widths["CITY"] == 12
    # Widened in place, to character semantics (no maxLength: the widest VARCHAR2).
    assert strategy.column_changes(spec, existing) == [
        'ALTER TABLE "WMS_T" MODIFY ("CITY" VARCHAR2(4000 CHAR))'
    ]


def test_byte_semantics_are_read_from_the_dictionary(strategy):
    statement = None

    class Conn:
        def execute(self, query, params):
            nonlocal statement
            statement = (str(query.compile(dialect=oracle.dialect())), params)
            return [("CITY",)]

    spec = _spec_for(strategy, {"id": {"type": "integer"}}, ["id"])
    assert strategy.byte_length_columns(Conn(), spec) == {"CITY"}
    sql, params = statement
    assert "FROM all_tab_columns" in sql and "char_used = 'B'" in sql
    assert params == {"owner": None, "name": "WMS_T"}


@pytest.mark.parametrize(
    ("sent", "stored"),
    [("12.50", "12.5"), ("1E+3", "1000"), ("-0.250", "-0.25"), ("0.0", "0"), ("7", "7")],
)
def test_numbers_over_a_column_that_became_text_read_like_its_old_rows(strategy, sent, stored):
    # Issue 16, point 7: old rows hold what NUMBER kept (12.5, copied with the fixed
    # format); new values are written as the same canonical text, not as sent (12.50).
    from target_gruponos_oracle.columns import RowDecoder

    spec = _spec_for(strategy, {"id": {"type": "integer"}, "v": {"type": "number"}}, ["id"])
    strategy.column_changes(
        spec, {"ID": ExistingColumn(Kind.INTEGER), "V": ExistingColumn(Kind.STRING, 4000)}
    )
    decoder = RowDecoder("t", spec.columns, strategy, [0])
    assert decoder.decode(b'{"id": 1, "v": ' + sent.encode() + b"}") == (1, stored)
    assert decoder.convert({"id": 1, "v": Decimal(sent)}) == (1, stored)
    # A key keeps its text as sent: rows written before were matched on it.
    keyed = _spec_for(strategy, {"v": {"type": "number"}}, ["v"])
    strategy.column_changes(keyed, {"V": ExistingColumn(Kind.STRING, 4000)})
    assert RowDecoder("t", keyed.columns, strategy, [0]).decode(b'{"v": 12.50}') == ("12.50",)


def test_a_resumed_syncs_version_count_compiles_for_oracle(strategy, spec):
    limit = strategy.config["max_identifier_length"]
    count = strategy.count_version_rows(spec, "SDC_TABLE_VERSION", {"SCOPE_FACILITY_CODE": "DC01"})
    assert check_oracle_statement(str(count), limit, bound=True) == (
        'SELECT COUNT(*) FROM "WMS_ORDER_DTL" WHERE "SDC_TABLE_VERSION" = :version '
        'AND "SCOPE_FACILITY_CODE" = :scope_0'
    )
