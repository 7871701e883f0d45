"""PostgreSQL ≥ 15: COPY into a temporary table, then one MERGE (15 added MERGE)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import sqlalchemy as sa

from target_gruponos_oracle.dialects.base import DialectStrategy, driver_cursor
from target_gruponos_oracle.dialects.tables import (
    ExistingColumn,
    TableSpec,
)
from target_gruponos_oracle.kinds import Column, Kind
from target_gruponos_oracle.values import (
    Converter,
    NumberLimits,
    drop_nul,
    to_bool,
    to_date_text,
    to_datetime_text,
    to_int,
    to_json_without_nul,
    to_number,
    to_string,
)

# Old values when a column becomes text: ISO 8601, as the target writes text elsewhere.
_AS_TEXT = {
    Kind.DATETIME: "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')",
    Kind.DATE: "to_char({}, 'YYYY-MM-DD')",
}
# Named locks' TCP keepalives: seconds idle before the first probe, between probes, and
# probes lost before the peer is taken for dead: 60 + 4 x 15 s, about two minutes.
TCP_KEEPALIVES = {"idle": 60, "interval": 15, "count": 4}

# BIGINT: -9223372036854775808 to +9223372036854775807; NUMERIC: "up to 131072 digits
# before the decimal point; up to 16383 digits after the decimal point" (PostgreSQL
# documentation, Numeric Types). Beyond, the server refuses the whole batch
# ("value out of range", "numeric field overflow") without naming the record.
NUMBER_LIMITS = NumberLimits(
    (-(2**63), 2**63 - 1),
    (-16383, 131071),
    None,
    "that PostgreSQL holds (BIGINT for integers; NUMERIC: up to 131072 digits before the "
    "decimal point and 16383 after)",
)


def _to_text(value: Any) -> Any:
    # PostgreSQL text cannot hold NUL characters; they are dropped.
    value = to_string(value)
    return value.replace("\x00", "") if value is not None else None


class PostgresStrategy(DialectStrategy):
    """PostgreSQL: checked ISO text and exact decimals over COPY; MERGE skips unchanged rows."""

    name = "postgresql"
    types: ClassVar[dict[Kind, str]] = {
        Kind.INTEGER: "BIGINT",
        Kind.NUMBER: "NUMERIC",
        Kind.STRING: "TEXT",
        Kind.DATETIME: "TIMESTAMPTZ",
        Kind.DATE: "DATE",
        Kind.BOOLEAN: "BOOLEAN",
        Kind.JSON: "JSONB",
    }
    identifier_cap = 63  # NAMEDATALEN - 1
    # System column names: a user column with one of them is refused ("conflicts with a
    # system column name").
    forbidden_column_names = frozenset({"tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"})
    # Checked ISO text is cheaper to COPY than datetime objects (parsed server side).
    converters: ClassVar[dict[Kind, Converter]] = {
        Kind.INTEGER: to_int,
        Kind.NUMBER: to_number,
        Kind.STRING: _to_text,
        Kind.DATETIME: to_datetime_text,
        Kind.DATE: to_date_text,
        Kind.BOOLEAN: to_bool,
        Kind.JSON: to_json_without_nul,
    }
    skip_when_typed = frozenset({Kind.INTEGER, Kind.NUMBER, Kind.BOOLEAN})
    number_limits = NUMBER_LIMITS

    @classmethod
    def connect_args(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """UTC sessions: date-times read back and cast to text in UTC."""
        del config
        return {"options": "-c TimeZone=UTC"}

    @classmethod
    def lock_timed_out(cls, error: BaseException) -> bool:
        """SQLSTATE 55P03 lock_not_available (only if a `lock_timeout` is set on the server)."""
        return getattr(getattr(error, "orig", error), "sqlstate", None) == "55P03"

    # Named locks: session-level advisory locks, released when the session ends however it
    # ends (PostgreSQL docs, "Advisory Locks"; pg_locks shows them with locktype 'advisory',
    # a bigint key split into classid (high half) and objid (low half), objsubid 1, mode
    # ExclusiveLock or ShareLock).
    supports_named_locks = True

    @classmethod
    def named_lock_connect_args(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """Keepalives on both ends, so a dead peer is noticed in about two minutes.

        libpq's keepalive parameters make the client notice a dead server; the server's
        ``tcp_keepalives_*`` settings (user-settable, per session) make the server drop a
        dead client's session, and with it the lock. TCP connections only (not sockets).
        """
        args = cls.connect_args(config)
        server = " ".join(f"-c tcp_keepalives_{k}={v}" for k, v in TCP_KEEPALIVES.items())
        return {
            **args,
            "options": f"{args.get('options', '')} {server}".strip(),
            "keepalives": 1,
            **{f"keepalives_{k}": v for k, v in TCP_KEEPALIVES.items()},
        }

    @classmethod
    def try_named_lock(cls, dbapi_connection: Any, name: str, *, shared: bool) -> bool:
        """``pg_try_advisory_lock(_shared)``: true when granted, false at once when not."""
        function = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
        return bool(_one(dbapi_connection, f"SELECT {function}(%s::bigint)", advisory_key(name)))

    @classmethod
    def named_lock_held(cls, dbapi_connection: Any, name: str, *, shared: bool) -> bool:
        """Look for this backend's granted advisory lock on the key, in the mode taken."""
        key = advisory_key(name)
        sql = (
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
            "AND pid = pg_backend_pid() AND granted AND objsubid = 1 "
            "AND classid::bigint = %s AND objid::bigint = %s AND mode = %s)"
        )
        mode = "ShareLock" if shared else "ExclusiveLock"
        return bool(_one(dbapi_connection, sql, (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF, mode))

    @classmethod
    def release_named_lock(cls, dbapi_connection: Any, name: str, *, shared: bool) -> None:
        """``pg_advisory_unlock(_shared)``."""
        function = "pg_advisory_unlock_shared" if shared else "pg_advisory_unlock"
        _one(dbapi_connection, f"SELECT {function}(%s::bigint)", advisory_key(name))

    def finishing(self, column: Column) -> Converter | None:
        """Strings lose NUL characters (inlined by the generated code)."""
        if column.kind == Kind.STRING and not column.mixed and column.declared is None:
            return drop_nul
        return super().finishing(column)

    def retype(self, spec: TableSpec, column: Column, existing: ExistingColumn) -> list[str]:
        """One ALTER … TYPE … USING: PostgreSQL rewrites the column in one transaction."""
        table = self.qualified(spec.schema, spec.name)
        name = self.quote(column.name)
        new_type = self.column_type(column)
        using = self.copy_expression(existing, new_type).format(name)
        return [f"ALTER TABLE {table} ALTER COLUMN {name} TYPE {new_type} USING {using}"]

    def copy_expression(self, old: ExistingColumn, new_type: str) -> str:
        """ISO 8601 text for date-times (UTC) and dates; booleans become integers via int."""
        if old.kind == Kind.BOOLEAN and new_type != "TEXT":
            return "{}::integer"  # there is no boolean → bigint/numeric cast
        if old.kind == Kind.DATE and new_type == self.types[Kind.DATETIME]:
            return "{}::timestamp AT TIME ZONE 'UTC'"  # the day's midnight, in UTC
        return _AS_TEXT.get(old.kind or Kind.STRING, f"{{}}::{new_type}")

    def changed_condition(self, quoted_columns: list[str]) -> str:
        """Skip unchanged rows: re-reads (incremental lookback) then cost no new row versions."""
        target = ", ".join(f"t.{name}" for name in quoted_columns)
        source = ", ".join(f"s.{name}" for name in quoted_columns)
        return f" AND ROW({target}) IS DISTINCT FROM ROW({source})"

    def deleted_at_type(self) -> sa.types.TypeEngine:
        """Return TIMESTAMPTZ's type (aware datetimes)."""
        return sa.DateTime(timezone=True)

    def deleted_at_value(self) -> Any:
        """Now, time-zone aware."""
        return dt.datetime.now(dt.UTC)

    def staging_table(self, spec: TableSpec) -> str:
        """``pg_temp."<table>_stg"``: in this session's own temporary schema, never another's."""
        return f"pg_temp.{self.quote(self.identifier(f'{spec.name}_stg'))}"

    def create_staging(self, spec: TableSpec) -> str:
        """Return a temporary copy of the table's shape that disappears at commit."""
        return (
            f"CREATE TEMPORARY TABLE {self.staging_table(spec)} "
            f"(LIKE {self.qualified(spec.schema, spec.name)} INCLUDING DEFAULTS) ON COMMIT DROP"
        )

    def copy_statement(self, table: str, spec: TableSpec) -> str:
        """COPY … FROM STDIN for the sink's columns into `table` (quoted)."""
        names = ", ".join(self.quote(name) for name in spec.column_names)
        return f"COPY {table} ({names}) FROM STDIN"

    def _copy(
        self, conn: sa.Connection, table: str, spec: TableSpec, rows: Iterable[tuple]
    ) -> None:
        cursor = driver_cursor(conn)
        with cursor.copy(self.copy_statement(table, spec)) as copy:
            write_row = copy.write_row
            for row in rows:
                write_row(row)

    def insert_rows(self, conn: sa.Connection, spec: TableSpec, rows: Sequence[tuple]) -> None:
        """COPY straight into the table."""
        self._copy(conn, self.qualified(spec.schema, spec.name), spec, rows)

    def upsert_rows(self, conn: sa.Connection, spec: TableSpec, rows: Sequence[tuple]) -> None:
        """COPY into a temporary table, then MERGE."""
        if not rows:
            return
        staging = self.staging_table(spec)
        conn.exec_driver_sql(self.create_staging(spec))
        self._copy(conn, staging, spec, rows)
        conn.exec_driver_sql(self.merge(spec, staging))


def advisory_key(name: str) -> int:
    """Return the advisory lock key of `name`: a stable signed 64-bit int (its sha256)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _one(dbapi_connection: Any, sql: str, *params: Any) -> Any:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]
    finally:
        cursor.close()
