"""Issue 9's rules, run for real on every engine of the `db` fixture (SQLite, PostgreSQL,
and Oracle when TARGET_ORACLE_TEST_URL is set): each Oracle defect as behaviour, which the
other databases must show too."""

from __future__ import annotations

import datetime as dt
import re
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import sqlalchemy as sa

ISO_8601 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$")
ITEMS = {"id": {"type": "integer"}, "facility": {"type": "string"}, "qty": {"type": "number"}}
TEXT_TYPE = {"oracle": "VARCHAR2(4000 CHAR)", "postgresql": "TEXT", "sqlite": "TEXT"}
AS_TEXT = {"oracle": "TO_CHAR({})", "postgresql": "{}::TEXT", "sqlite": "CAST({} AS TEXT)"}


def _execute(db, *statements: str) -> None:
    engine = db.engine()
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    engine.dispose()


def _quoted(db, name: str) -> str:
    return sa.create_engine(db.url).dialect.identifier_preparer.quote_identifier(name)


def test_two_loads_of_one_table_at_once_each_with_a_schema_change_mid_run(db, h, tmp_path):
    # Defect 1: per-run staging tables collided (ORA-14452 / ORA-00955), and a schema
    # change mid-run dropped the staging table the new sink loaded into (ORA-00942).
    def load(facility: str, first_id: int) -> list[dict]:
        wider = {**ITEMS, "note": {"type": ["null", "string"]}}
        ids = range(first_id, first_id + 300)
        return [
            h.schema("items", ITEMS),
            *[h.record("items", {"id": i, "facility": facility, "qty": 1}) for i in ids[:150]],
            h.state({"bookmarks": {facility: 1}}),
            h.schema("items", wider),  # mid-run schema change: the sink is replaced
            *[h.record("items", {"id": i, "facility": facility, "note": "n"}) for i in ids[150:]],
            h.state({"bookmarks": {facility: 2}}),
        ]

    config = db.config(batch_size_rows=40)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(
            pool.map(
                lambda args: h.run_cli(config, load(*args), tmp_path), [("DC01", 1), ("DC02", 1001)]
            )
        )
    for result in results:
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1].endswith(": 2}}")
    rows = db.rows("items")
    assert len(rows) == 600
    assert sum(r["note"] == "n" for r in rows) == 300


def test_a_stream_named_like_a_staging_table_keeps_its_rows(db, h):
    # Defect 1: `DROP TABLE "<T>_STG"` dropped the table of a stream called `<t>_stg`.
    messages = [
        h.schema("x_stg", ITEMS),
        h.record("x_stg", {"id": 1, "facility": "DC01"}),
        h.schema("x", ITEMS),
        h.record("x", {"id": 2, "facility": "DC01"}),
    ]
    h.run_target(db.config(), messages)
    h.run_target(db.config(), messages[2:])  # loads x again after x_stg's table exists
    assert [r["id"] for r in db.rows("x_stg")] == [1]
    assert [r["id"] for r in db.rows("x")] == [2]


@pytest.mark.parametrize(
    ("keys", "first", "second"),
    [
        pytest.param(
            {"ts": {"type": "string", "format": "date-time"}},
            {"ts": "2026-01-05T10:00:00+00:00"},
            {"ts": "2026-01-05T10:00:00+00:00"},
            id="date-time",
        ),
        pytest.param({"doc": {"type": "object"}}, {"doc": {"a": 1}}, {"doc": {"a": 1}}, id="json"),
        pytest.param(
            {"a": {"type": "string"}, "b": {"type": "string"}},
            {"a": "x" * 10, "b": "y"},
            {"a": "x" * 10, "b": "y"},
            id="two-unbounded-strings",
        ),
    ],
)
def test_keys_oracle_cannot_constrain_still_upsert(db, h, tmp_path, keys, first, second):
    # Defect 2: these keys made CREATE TABLE fail on Oracle (ORA-02329, LOB keys, ORA-01450).
    properties = {**keys, "v": {"type": "string"}}
    result = h.run_cli(
        db.config(),
        [
            h.schema("keyed", properties, keys=list(keys)),
            h.record("keyed", {**first, "v": "old"}),
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    if db.dialect == "oracle":
        assert "not a primary key" in result.stderr  # said in the log
    result = h.run_cli(
        db.config(),
        [h.schema("keyed", properties, keys=list(keys)), h.record("keyed", {**second, "v": "new"})],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert [r["v"] for r in db.rows("keyed", order_by=None)] == ["new"]


def test_a_date_column_widened_to_string_keeps_its_dates(db, h):
    # Defect 4: Oracle DATE was taken for a date-time and widened with FF (ORA-01821).
    h.run_target(
        db.config(),
        [
            h.schema(
                "days", {"id": {"type": "integer"}, "day": {"type": "string", "format": "date"}}
            ),
            h.record("days", {"id": 1, "day": "2024-02-29"}),
        ],
    )
    h.run_target(
        db.config(),
        [
            h.schema("days", {"id": {"type": "integer"}, "day": {"type": "string"}}),
            h.record("days", {"id": 2, "day": "tomorrow"}),
        ],
    )
    assert [r["day"] for r in db.rows("days")] == ["2024-02-29", "tomorrow"]


@pytest.mark.parametrize("stopped_after", ["add", "drop"])
def test_an_interrupted_column_replacement_is_finished_by_the_next_run(db, h, stopped_after):
    # Defect 5: ADD / UPDATE / DROP / RENAME commit one by one on Oracle; a run stopped
    # between them left N$NEW behind (every later ADD failed) or the data stranded.
    h.run_target(
        db.config(),
        [
            h.schema("counts", {"id": {"type": "integer"}, "n": {"type": "integer"}}),
            h.record("counts", {"id": 1, "n": 41}),
        ],
    )
    table = _quoted(db, db.table("counts"))
    column = _quoted(db, db.column("n"))
    replacement = _quoted(db, db.column("n") + ("$NEW" if db.dialect == "oracle" else "$new"))
    steps = [f"ALTER TABLE {table} ADD {replacement} {TEXT_TYPE[db.dialect]}"]
    if stopped_after == "drop":
        steps += [
            f"UPDATE {table} SET {replacement} = {AS_TEXT[db.dialect].format(column)}",
            f"ALTER TABLE {table} DROP COLUMN {column}",
        ]
    _execute(db, *steps)  # what the interrupted run had committed
    h.run_target(
        db.config(),
        [
            h.schema("counts", {"id": {"type": "integer"}, "n": {"type": "string"}}),
            h.record("counts", {"id": 2, "n": "many"}),
        ],
    )
    assert [r["n"] for r in db.rows("counts")] == ["41", "many"]
    assert sorted(c.lower() for c in db.column_names("counts")) == ["id", "n"]


@pytest.mark.parametrize(
    ("declared", "value", "stored"),
    [
        ({"type": "string", "format": "date-time"}, "2026-01-05T10:00:00Z", "2026-01-05T10:00:00Z"),
        ({"type": "string", "format": "date"}, "2026-01-05", "2026-01-05"),
        ({"type": "integer"}, 7, "7"),
        ({"type": "number"}, 1.5, "1.5"),
    ],
)
def test_declared_type_changes_over_a_text_column_store_iso_text(db, h, declared, value, stored):
    # Defect 6: Oracle converted dates bound into VARCHAR2 with NLS formats (05-JAN-26).
    h.run_target(
        db.config(),
        [
            h.schema("notes", {"id": {"type": "integer"}, "v": {"type": "string"}}),
            h.record("notes", {"id": 1, "v": "text"}),
        ],
    )
    h.run_target(
        db.config(),
        [
            h.schema(
                "notes",
                {
                    "id": {"type": "integer"},
                    "v": {
                        "type": ["null", declared["type"]],
                        **{k: w for k, w in declared.items() if k != "type"},
                    },
                },
            ),
            h.record("notes", {"id": 2, "v": value}),
        ],
    )
    assert [r["v"] for r in db.rows("notes")] == ["text", stored]


def test_an_empty_string_key(db, h, tmp_path):
    # Defect 7: '' is NULL in Oracle; elsewhere it is a value like any other.
    messages = [
        h.schema("codes", {"code": {"type": "string"}, "v": {"type": "string"}}, keys=["code"]),
        h.record("codes", {"code": "A", "v": "a"}),
        h.state({"bookmarks": {"codes": 1}}),
        h.record("codes", {"code": "", "v": "empty"}),
    ]
    result = h.run_cli(db.config(), messages, tmp_path)
    if db.dialect == "oracle":
        assert result.returncode == 2
        assert "line 4, stream 'codes', field 'code'" in result.stderr
        assert "'' as NULL" in result.stderr
        assert [r["v"] for r in db.rows("codes", order_by=None)] == ["a"]  # before it: loaded
    else:
        assert result.returncode == 0, result.stderr
        assert sorted(r["v"] for r in db.rows("codes", order_by=None)) == ["a", "empty"]


def test_properties_named_like_system_columns_get_a_prefix(db, h):
    # Defect 8: Oracle refuses a ROWID column even quoted; PostgreSQL a ctid column.
    h.run_target(
        db.config(),
        [
            h.schema(
                "sys",
                {
                    "id": {"type": "integer"},
                    "rowid": {"type": "string"},
                    "ctid": {"type": "string"},
                },
            ),
            h.record("sys", {"id": 1, "rowid": "r", "ctid": "c"}),
        ],
    )
    expected = {
        "oracle": {"ID", "C_ROWID", "CTID"},
        "postgresql": {"id", "rowid", "c_ctid"},
        "sqlite": {"id", "rowid", "ctid"},
    }[db.dialect]
    assert set(db.column_names("sys")) == expected
    row = db.rows("sys")[0]
    assert {row[db.column("rowid").lower()], row[db.column("ctid").lower()]} == {"r", "c"}


def test_a_boolean_column_later_declared_integer_holds_integers(db, h):
    # Defect 9: NUMBER(1) (Oracle's boolean) was never widened for integers.
    h.run_target(
        db.config(),
        [
            h.schema("flags", {"id": {"type": "integer"}, "f": {"type": "boolean"}}),
            h.record("flags", {"id": 1, "f": True}),
        ],
    )
    h.run_target(
        db.config(),
        [
            h.schema("flags", {"id": {"type": "integer"}, "f": {"type": "integer"}}),
            h.record("flags", {"id": 2, "f": 42}),
        ],
    )
    assert [int(r["f"]) for r in db.rows("flags")] == [1, 42]


def test_the_soft_delete_stamp_keeps_its_fractional_seconds(db, h):
    # Defect 9: the stamp went through an untyped bind (Oracle: DATE, fractions lost).
    for version, ids in ((1, [1, 2]), (2, [1])):
        h.run_target(
            db.config(),
            [
                h.schema("items", ITEMS),
                *[h.record("items", {"id": i}, version=version) for i in ids],
                h.activate_version("items", version),
            ],
        )
    stamp = db.rows("items")[1][db.column("_sdc_deleted_at").lower()]
    if isinstance(stamp, str):
        stamp = dt.datetime.fromisoformat(stamp)
    # One chance in a million that the clock sat on a whole second.
    assert stamp.microsecond != 0


def test_a_date_time_column_widened_to_text_reads_iso_8601_old_and_new(db, h):
    # Other producers' conventions: old values (converted) and new ones (as sent) alike.
    h.run_target(
        db.config(),
        [
            h.schema(
                "events",
                {"id": {"type": "integer"}, "ts": {"type": "string", "format": "date-time"}},
            ),
            h.record("events", {"id": 1, "ts": "2024-03-10T10:15:30.123456-03:00"}),
        ],
    )
    h.run_target(
        db.config(),
        [
            h.schema("events", {"id": {"type": "integer"}, "ts": {"type": "string"}}),
            h.record("events", {"id": 2, "ts": "2024-03-11T00:00:00+00:00"}),
        ],
    )
    values = [r["ts"] for r in db.rows("events")]
    assert all(ISO_8601.match(v) for v in values), values
    instant = dt.datetime(2024, 3, 10, 13, 15, 30, 123456, tzinfo=dt.UTC)
    assert dt.datetime.fromisoformat(values[0]) == instant


def test_number_keys_compare_by_value(db, h):
    # Other producers' conventions: 1 and 1.0 are one key, as on PostgreSQL and Oracle.
    messages = [
        h.schema("prices", {"code": {"type": "number"}, "v": {"type": "string"}}, keys=["code"]),
        '{"type": "RECORD", "stream": "prices", "record": {"code": 1, "v": "first"}}',
        '{"type": "RECORD", "stream": "prices", "record": {"code": 2.50, "v": "x"}}',
    ]
    h.run_target(db.config(), messages)
    h.run_target(
        db.config(),
        [
            messages[0],
            '{"type": "RECORD", "stream": "prices", "record": {"code": 1.0, "v": "second"}}',
            '{"type": "RECORD", "stream": "prices", "record": {"code": 2.5, "v": "y"}}',
        ],
    )
    rows = db.rows("prices", order_by="code")
    assert [(Decimal(str(r["code"])), r["v"]) for r in rows] == [
        (Decimal(1), "second"),
        (Decimal("2.5"), "y"),
    ]
