"""Columns whose declared type widens keep what they hold, and read like new rows, on every
engine of the `db` fixture (SQLite, PostgreSQL, and Oracle when TARGET_ORACLE_TEST_URL is
set)."""

from __future__ import annotations

import datetime as dt
from typing import Any

UTC = dt.UTC


def as_instant(value: Any) -> dt.datetime:
    """A date-time read back from any engine (SQLite: ISO text) as an aware UTC instant."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if not isinstance(value, dt.datetime):  # a date: its midnight
        value = dt.datetime.combine(value, dt.time())
    if value.tzinfo is None:  # Oracle thin mode may hand TIMESTAMP WITH TIME ZONE back naive
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def test_a_date_column_later_declared_date_time_keeps_the_time_of_new_values(db, h):
    # Review finding 2: no DATE → DATETIME rule, so a date-time bound into the date column
    # lost its time (PostgreSQL read back date(2024, 3, 1)).
    h.run_target(
        db.config(),
        [
            h.schema("ev", {"id": {"type": "integer"}, "d": {"type": "string", "format": "date"}}),
            h.record("ev", {"id": 1, "d": "2024-03-01"}),
        ],
    )
    h.run_target(
        db.config(),
        [
            h.schema(
                "ev", {"id": {"type": "integer"}, "d": {"type": "string", "format": "date-time"}}
            ),
            h.record("ev", {"id": 2, "d": "2024-03-01T10:15:30.5+00:00"}),
        ],
    )
    old, new = (as_instant(row["d"]) for row in db.rows("ev"))
    assert old == dt.datetime(2024, 3, 1, tzinfo=UTC)  # the day's midnight, UTC
    assert new == dt.datetime(2024, 3, 1, 10, 15, 30, 500000, tzinfo=UTC)


def test_postgres_turns_a_date_column_into_timestamptz_at_utc_midnight():
    from sqlalchemy.dialects import postgresql
    from target_gruponos_oracle.columns import schema_columns
    from target_gruponos_oracle.dialects import strategy_class
    from target_gruponos_oracle.dialects.postgres import PostgresStrategy
    from target_gruponos_oracle.dialects.tables import ExistingColumn
    from target_gruponos_oracle.kinds import Kind

    strategy = PostgresStrategy(postgresql.dialect(), {})
    properties = {"id": {"type": "integer"}, "d": {"type": "string", "format": "date-time"}}
    columns = schema_columns({}, "ev", {"properties": properties}, strategy_class("postgresql"))
    spec = strategy.table_spec("ev", columns, ["id"])
    existing = {"id": ExistingColumn(Kind.INTEGER), "d": ExistingColumn(Kind.DATE)}
    assert strategy.column_changes(spec, existing) == [
        'ALTER TABLE "ev" ALTER COLUMN "d" TYPE TIMESTAMPTZ '
        "USING \"d\"::timestamp AT TIME ZONE 'UTC'"
    ]


def test_a_number_column_replaced_by_text_reads_like_new_rows(db, h):
    # Review finding 4: Oracle's bare TO_CHAR gave .5 (and the session's decimal
    # character); old values must read as the text new rows carry.
    h.run_target(
        db.config(),
        [
            h.schema("m", {"id": {"type": "integer"}, "v": {"type": "number"}}),
            h.record("m", {"id": 1, "v": 0.5}),
            h.record("m", {"id": 2, "v": -0.25}),
            h.record("m", {"id": 3, "v": 12}),
        ],
    )
    h.run_target(
        db.config(),
        [
            h.schema("m", {"id": {"type": "integer"}, "v": {"type": "string"}}),
            h.record("m", {"id": 4, "v": "0.75"}),
        ],
    )
    assert [row["v"] for row in db.rows("m")] == ["0.5", "-0.25", "12", "0.75"]
