"""Behaviour users rely on, run for real on every engine of the `db` fixture."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
import sqlalchemy as sa

ORDERS = {
    "id": {"type": "integer"},
    "status": {"type": ["null", "string"]},
    "qty": {"type": ["null", "number"]},
}


def _as_utc(value) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:  # Oracle returns the UTC wall time of the session
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def test_upsert_last_record_per_key_wins_within_and_across_batches(db, h):
    messages = [
        h.schema("orders", ORDERS),
        h.record("orders", {"id": 1, "status": "new", "qty": 1}),
        h.record("orders", {"id": 2, "status": "new", "qty": 2}),
        h.record("orders", {"id": 1, "status": "picked", "qty": 1}),
        h.record("orders", {"id": 3, "status": "new", "qty": 3}),
        h.record("orders", {"id": 1, "status": "shipped", "qty": 1}),
    ]
    # batch_size_rows=2 puts duplicates of id 1 both inside one batch and across batches
    for config in (db.config(), db.config(batch_size_rows=2)):
        h.run_target(config, messages)
        rows = db.rows("orders")
        assert [(r["id"], r["status"]) for r in rows] == [(1, "shipped"), (2, "new"), (3, "new")]


def test_record_count_metric_counts_every_record_taken_in(db, h, tmp_path):
    # Orchestrators compare records extracted with the target's record_count: a record
    # superseded by a later one with the same key was still taken in, not lost.
    messages = [
        h.schema("orders", ORDERS),
        h.record("orders", {"id": 1, "status": "new", "qty": 1}),
        h.record("orders", {"id": 2, "status": "new", "qty": 2}),
        h.record("orders", {"id": 1, "status": "shipped", "qty": 1}),
    ]
    result = h.run_cli(db.config(), messages, tmp_path)
    assert result.returncode == 0, result.stderr
    counted = sum(
        point["value"]
        for line in result.stderr.splitlines()
        if "METRIC: " in line
        and (point := json.loads(line.split("METRIC: ", 1)[1]))["metric"] == "record_count"
        and point["tags"].get("stream") == "orders"
    )
    assert counted == 3
    assert len(db.rows("orders")) == 2


def test_rerun_of_the_same_input_changes_nothing(db, h):
    messages = [
        h.schema("orders", ORDERS),
        *[h.record("orders", {"id": i, "status": f"s{i}", "qty": i}) for i in range(1, 6)],
        h.state({"bookmarks": {"orders": 5}}),
    ]
    first = h.run_target(db.config(), messages)
    before = db.rows("orders")
    second = h.run_target(db.config(), messages)
    assert db.rows("orders") == before
    assert len(before) == 5
    assert first == second == [{"bookmarks": {"orders": 5}}]


def test_schema_evolution_adds_columns_and_widens_types(db, h):
    h.run_target(
        db.config(),
        [
            h.schema(
                "items",
                {
                    "id": {"type": "integer"},
                    "code": {"type": "string", "maxLength": 5},
                    "weight": {"type": "integer"},
                },
            ),
            h.record("items", {"id": 1, "code": "AB", "weight": 7}),
        ],
    )
    long_code = "X" * 300
    h.run_target(
        db.config(),
        [
            h.schema(
                "items",
                {
                    "id": {"type": "integer"},
                    "code": {"type": "string", "maxLength": 300},
                    "weight": {"type": "number"},
                    "colour": {"type": ["null", "string"]},
                },
            ),
            h.record("items", {"id": 2, "code": long_code, "weight": 1.25, "colour": "red"}),
        ],
    )
    rows = db.rows("items")
    assert [r["code"] for r in rows] == ["AB", long_code]
    assert [Decimal(str(r["weight"])) for r in rows] == [Decimal(7), Decimal("1.25")]
    assert [r["colour"] for r in rows] == [None, "red"]


def test_string_longer_than_ever_declared_still_loads(db, h):
    text = "é" * 5000 + "end"  # > 4000 bytes and characters: CLOB on Oracle
    h.run_target(
        db.config(),
        [
            h.schema("notes", {"id": {"type": "integer"}, "body": {"type": "string"}}),
            h.record("notes", {"id": 1, "body": "short"}),
        ],
    )
    h.run_target(
        db.config(),
        [
            h.schema("notes", {"id": {"type": "integer"}, "body": {"type": "string"}}),
            h.record("notes", {"id": 2, "body": text}),
            h.record("notes", {"id": 3, "body": "x" * 100_000}),
        ],
    )
    rows = db.rows("notes")
    assert [len(r["body"]) for r in rows] == [5, 5003, 100_000]
    assert rows[1]["body"] == text


def test_reserved_and_odd_names_are_usable(db, h):
    properties = {
        "id": {"type": "integer"},
        "select": {"type": "string"},
        "date": {"type": "string", "format": "date"},
        "agent:os:version": {"type": "string"},
        "Año": {"type": "integer"},
        "_private": {"type": "string"},
        "9lives": {"type": "boolean"},
    }
    h.run_target(
        db.config(),
        [
            h.schema("order", properties),
            h.record(
                "order",
                {
                    "id": 1,
                    "select": "s",
                    "date": "2024-02-29",
                    "agent:os:version": "10.1",
                    "Año": 2024,
                    "_private": "abc",
                    "9lives": True,
                },
            ),
        ],
    )
    assert db.table("order").endswith("ORDER" if db.dialect == "oracle" else "order")
    columns = set(db.column_names("order"))
    expected = {db.column(p) for p in properties}
    assert expected == columns
    assert {c.lower() for c in columns} == {
        "id",
        "select",
        "date",
        "agent_os_version",
        "ano",
        "private",
        "c_9lives",
    }
    if db.dialect == "oracle":
        assert all(c == c.upper() for c in columns)
    row = db.rows("order")[0]
    assert row["select"] == "s"
    assert str(row["date"])[:10] == "2024-02-29"
    assert row["agent_os_version"] == "10.1"
    assert row["ano"] == 2024
    assert bool(row["c_9lives"]) is True


def test_two_properties_with_one_column_name_are_refused_clearly(db, h, tmp_path):
    result = h.run_cli(
        db.config(),
        [h.schema("dup", {"id": {"type": "integer"}, "_id": {"type": "string"}})],
        tmp_path,
    )
    assert result.returncode == 2
    assert "line 1" in result.stderr
    assert "'id' and '_id'" in result.stderr


def test_long_names_are_truncated_with_a_stable_distinct_suffix(db, h):
    stream = "warehouse_inventory_snapshot_by_location_" * 4
    long_a = "allocation_quantity_for_the_outbound_wave_planning_" * 3 + "a"
    long_b = "allocation_quantity_for_the_outbound_wave_planning_" * 3 + "b"
    properties = {
        "id": {"type": "integer"},
        long_a: {"type": "integer"},
        long_b: {"type": "integer"},
    }
    messages = [h.schema(stream, properties), h.record(stream, {"id": 1, long_a: 10, long_b: 20})]
    h.run_target(db.config(), messages)
    h.run_target(db.config(), messages)  # same names on a rerun: no new columns
    limit = 63 if db.dialect == "postgresql" else 128
    names = db.column_names(stream)
    assert len(names) == 3
    assert all(len(n.encode()) <= limit for n in [*names, db.table(stream)])
    row = db.rows(stream)[0]
    assert row[db.column(long_a).lower()] == 10
    assert row[db.column(long_b).lower()] == 20


def test_decimals_stay_exact(db, h):
    values = ["12345678901234567890.123456789", "0.1", "-0.000000000000000001", "1E+5"]
    messages = [h.schema("amounts", {"id": {"type": "integer"}, "amount": {"type": "number"}})]
    messages += [
        f'{{"type": "RECORD", "stream": "amounts", "record": {{"id": {i}, "amount": {v}}}}}'
        for i, v in enumerate(values)
    ]
    h.run_target(db.config(), messages)
    assert [Decimal(str(r["amount"])) for r in db.rows("amounts")] == [Decimal(v) for v in values]


def test_time_zones_are_kept_as_instants(db, h):
    properties = {
        "id": {"type": "integer"},
        "ts": {"type": ["null", "string"], "format": "date-time"},
        "day": {"type": ["null", "string"], "format": "date"},
    }
    sent = {
        1: "2024-03-10T10:15:30.123456-03:00",
        2: "2024-03-10T13:15:30.123456Z",
        3: "2024-03-10T13:15:30.123456",  # no offset: UTC by Singer convention
        4: None,
    }
    h.run_target(
        db.config(),
        [
            h.schema("events", properties),
            *[
                h.record("events", {"id": i, "ts": ts, "day": "2024-03-10"})
                for i, ts in sent.items()
            ],
        ],
    )
    rows = db.rows("events")
    instant = dt.datetime(2024, 3, 10, 13, 15, 30, 123456, tzinfo=dt.UTC)
    assert [_as_utc(r["ts"]) for r in rows[:3]] == [instant] * 3
    assert rows[3]["ts"] is None
    assert str(rows[0]["day"])[:10] == "2024-03-10"


@pytest.mark.parametrize("hard_delete", [True, False])
def test_activate_version_deletes_or_stamps_rows_missing_from_the_new_version(db, h, hard_delete):
    def sync(version: int, ids: list[int]) -> list[dict]:
        return [
            h.schema("items", ORDERS),
            *[h.record("items", {"id": i, "status": "v"}, version=version) for i in ids],
            h.activate_version("items", version),
        ]

    config = db.config(hard_delete=hard_delete)
    h.run_target(config, sync(1, [1, 2, 3]))
    h.run_target(config, sync(2, [1, 2]))
    rows = db.rows("items")
    version = db.column("_sdc_table_version").lower()
    deleted = db.column("_sdc_deleted_at").lower()
    if hard_delete:
        assert [r["id"] for r in rows] == [1, 2]
        assert [r[version] for r in rows] == [2, 2]
    else:
        assert [r["id"] for r in rows] == [1, 2, 3]
        assert [r[deleted] is None for r in rows] == [True, True, False]


def test_record_metadata_columns(db, h):
    h.run_target(
        db.config(add_record_metadata=True),
        [
            h.schema("orders", ORDERS),
            h.record("orders", {"id": 1}, time_extracted="2024-01-01T00:00:00Z", version=7),
        ],
    )
    row = db.rows("orders")[0]
    assert _as_utc(row[db.column("_sdc_extracted_at").lower()]) == dt.datetime(
        2024, 1, 1, tzinfo=dt.UTC
    )
    assert row[db.column("_sdc_table_version").lower()] == 7
    assert row[db.column("_sdc_batched_at").lower()] is not None
    assert row[db.column("_sdc_deleted_at").lower()] is None


def test_append_only_keeps_every_record(db, h):
    messages = [h.schema("log", ORDERS), h.record("log", {"id": 1}), h.record("log", {"id": 1})]
    h.run_target(db.config(load_method="append-only"), messages)
    h.run_target(db.config(load_method="append-only"), messages)
    assert db.count("log") == 4


@pytest.mark.parametrize("load_method", ["upsert", "append-only"])
def test_a_batch_bigger_than_one_statement_loads_every_row(db, h, load_method):
    # 12,000 rows of 3 columns: more than one SQLite statement (32,766 variables) or one
    # Oracle array bind (10,000 rows) carries, so the batch is split and must stay whole.
    expected = [(i, f"s{i}", Decimal(i) / 4) for i in range(12_000)]
    messages = [
        h.schema("bulk", ORDERS),
        *[h.record("bulk", {"id": i, "status": s, "qty": float(q)}) for i, s, q in expected],
    ]
    h.run_target(db.config(load_method=load_method), messages)
    rows = db.rows("bulk")
    assert [(r["id"], r["status"], h.as_decimal(r["qty"])) for r in rows] == expected


def test_nul_characters_in_strings_do_not_stop_the_load(db, h):
    messages = [h.schema("orders", ORDERS), h.record("orders", {"id": 1, "status": "a\x00b"})]
    h.run_target(db.config(), messages)
    (row,) = db.rows("orders")
    # PostgreSQL text cannot hold NUL, so it is dropped there; elsewhere it is kept as sent.
    assert row["status"] == ("ab" if db.dialect == "postgresql" else "a\x00b")


def test_stream_without_key_properties_appends(db, h):
    messages = [h.schema("log", ORDERS, keys=[]), h.record("log", {"id": 1})]
    h.run_target(db.config(), messages)
    h.run_target(db.config(), messages)
    assert db.count("log") == 2


def test_overwrite_replaces_contents_once_per_run(db, h):
    config = db.config(load_method="overwrite", batch_size_rows=2)
    h.run_target(
        config, [h.schema("snap", ORDERS), *[h.record("snap", {"id": i}) for i in range(5)]]
    )
    assert db.count("snap") == 5
    h.run_target(
        config, [h.schema("snap", ORDERS), *[h.record("snap", {"id": i}) for i in (7, 8, 9)]]
    )
    assert [r["id"] for r in db.rows("snap")] == [7, 8, 9]


def test_overwrite_with_a_snapshot_of_no_rows_empties_the_table(db, h):
    config = db.config(load_method="overwrite")
    h.run_target(config, [h.schema("snap", ORDERS), *[h.record("snap", {"id": i}) for i in (1, 2)]])
    h.run_target(config, [h.schema("snap", ORDERS)])  # the source has no rows any more
    assert db.count("snap") == 0


def test_activate_version_can_be_switched_off(db, h):
    config = db.config(hard_delete=True, process_activate_version_messages=False)
    for version, ids in ((1, [1, 2, 3]), (2, [1])):
        h.run_target(
            config,
            [
                h.schema("items", ORDERS),
                *[h.record("items", {"id": i}, version=version) for i in ids],
                h.activate_version("items", version),
            ],
        )
    assert [r["id"] for r in db.rows("items")] == [1, 2, 3]


@pytest.mark.parametrize(
    ("setting", "schema"),
    # A plain name is read as PostgreSQL reads it unquoted; any other is used exactly as
    # written, never rewritten (issue 9, defect 9).
    [("WMS_Stage", "wms_stage"), ("WMS Stage", "WMS Stage")],
)
def test_default_target_schema_holds_the_tables_on_postgres(fresh_postgres_url, h, setting, schema):
    config = {"sqlalchemy_url": fresh_postgres_url, "default_target_schema": setting}
    h.run_target(config, [h.schema("orders", ORDERS), h.record("orders", {"id": 1, "status": "x"})])
    engine = sa.create_engine(fresh_postgres_url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(f'SELECT id, status FROM "{schema}"."orders"').fetchall()
    engine.dispose()
    assert rows == [(1, "x")]
