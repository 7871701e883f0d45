"""Every Oracle statement the target issues, compiled with SQLAlchemy's Oracle dialect and
checked against what Oracle accepts (no Oracle server runs here).

All SQL the sinks execute comes from `OracleStrategy`; these tests drive it the way the
sink does (create, evolve, stage, merge, delete versions) and check each statement.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import oracle
from target_gruponos_oracle.columns import Column, Kind, schema_columns
from target_gruponos_oracle.dialects.base import ExistingColumn
from target_gruponos_oracle.dialects.oracle import OracleStrategy

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
    columns = schema_columns(strategy.config, "order_dtl", {"properties": PROPERTIES}, "oracle")
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
    insert = check_oracle_statement(strategy.insert_sql(staging, spec))
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
    assert steps[2].endswith('DROP COLUMN "SELECT"')
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
        str(strategy.delete_old_versions(spec, "SDC_TABLE_VERSION", 2)), limit, bound=True
    )
    assert hard == (
        'DELETE FROM "WMS_ORDER_DTL" WHERE ("SDC_TABLE_VERSION" IS NULL OR '
        '"SDC_TABLE_VERSION" < :version)'
    )
    soft = check_oracle_statement(
        str(strategy.soft_delete_old_versions(spec, "SDC_TABLE_VERSION", "SDC_DELETED_AT", 2)),
        limit,
        bound=True,
    )
    assert soft.startswith('UPDATE "WMS_ORDER_DTL" SET "SDC_DELETED_AT" = :deleted_at WHERE')
    assert check_oracle_statement(strategy.delete_all(spec), limit) == 'DELETE FROM "WMS_ORDER_DTL"'
    assert strategy.create_schema("WMS") == []  # Oracle schemas are users


def test_default_target_schema_qualifies_every_statement(strategy):
    strategy.config["default_target_schema"] = "wms_stage"
    columns = schema_columns(strategy.config, "items", {"properties": PROPERTIES}, "oracle")
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
