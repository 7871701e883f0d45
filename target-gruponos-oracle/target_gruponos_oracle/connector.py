"""The one place for database rules: connection, types, names, DDL, bulk load and upsert.

Each supported database has a small strategy class (`OracleStrategy`, `PostgresStrategy`,
`SqliteStrategy`) holding its types, its schema changes, its bulk load and its upsert.
Strategies only *produce* SQL from a dialect object (so tests can compile every Oracle
statement without a server) and run it on a connection they are handed; `GruponosConnector`
owns the engine and picks the strategy.
"""

from __future__ import annotations

import math
import re
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, ClassVar

import sqlalchemy as sa
from singer_sdk.sql import SQLConnector
from sqlalchemy.types import UserDefinedType

from target_gruponos_oracle import naming
from target_gruponos_oracle.columns import Column, Kind

ORACLE_VARCHAR2_MAX = 4000  # bytes, with the default MAX_STRING_SIZE = STANDARD
_ORACLE_ROWS_PER_EXECUTE = 10_000
_SQLITE_MAX_VARIABLES = 32_766  # SQLite's own default limit since 3.32
_CLOB = math.inf  # width of an unbounded string column


class ColumnType(UserDefinedType):
    """A column type rendered exactly as written, identical on every dialect compiler."""

    cache_ok = True

    def __init__(self, spec: str) -> None:
        """Store the SQL type text, e.g. ``NUMBER(38)``."""
        self.spec = spec

    def get_col_spec(self, **_: Any) -> str:
        """Return the SQL type text."""
        return self.spec


@dataclass
class TableSpec:
    """A target table as the loader sees it: conformed names, typed columns, key columns."""

    schema: str | None
    name: str
    columns: list[Column]
    keys: list[str]
    # Widest string (in characters; CLOB as math.inf) each column must hold (Oracle only).
    widths: dict[str, float] = field(default_factory=dict)

    @property
    def column_names(self) -> list[str]:
        """Column names in row order."""
        return [column.name for column in self.columns]


@dataclass(frozen=True)
class ExistingColumn:
    """What a column already in the database holds, as far as widening cares."""

    kind: Kind | None
    width: float | None = None  # strings: declared length; unbounded = math.inf


class DialectStrategy:
    """Rules shared by all databases; subclasses override what differs."""

    name: ClassVar[str]
    types: ClassVar[dict[Kind, str]]

    def __init__(self, dialect: sa.Dialect, config: Mapping[str, Any]) -> None:
        """Produce SQL for `dialect` under the target `config` (for names)."""
        self.dialect = dialect
        self.config = config
        self.preparer = dialect.identifier_preparer

    # Names -------------------------------------------------------------------------------

    def quote(self, name: str) -> str:
        """Quote `name` always: conformed names are safe, quoting keeps reserved words safe."""
        return self.preparer.quote_identifier(name)

    def qualified(self, schema: str | None, table: str) -> str:
        """Return the quoted, schema-qualified table name."""
        return f"{self.quote(schema)}.{self.quote(table)}" if schema else self.quote(table)

    def table_spec(
        self, stream: str, columns: list[Column], key_properties: Sequence[str]
    ) -> TableSpec:
        """Return the table for `stream`, with key properties mapped to column names."""
        by_prop = {column.prop: column.name for column in columns}
        schema_setting = self.config.get("default_target_schema")
        schema = (
            naming.identifier(
                schema_setting,
                self.name,
                naming.max_identifier_length(self.config, self.name),
                empty_prefix="s_",
            )
            if schema_setting and self.name != "sqlite"
            else None
        )
        return TableSpec(
            schema=schema,
            name=naming.table_name(self.config, stream, self.name),
            columns=columns,
            keys=[by_prop[key] for key in key_properties],
        )

    def staging_name(self, spec: TableSpec) -> str:
        """Name of the staging table used to upsert into `spec`."""
        return naming.identifier(
            f"{spec.name}_stg", self.name, naming.max_identifier_length(self.config, self.name)
        )

    # Types -------------------------------------------------------------------------------

    def column_type(self, column: Column, width: float | None = None) -> str:
        """Return the SQL type of `column`; `width` is the longest string it must hold."""
        del width
        return self.types[column.kind]

    def existing_kind(self, sa_type: sa.types.TypeEngine) -> ExistingColumn:
        """Classify a reflected column type."""
        # Oracle's NUMBER is both Numeric and Integer to SQLAlchemy: scale decides.
        if isinstance(sa_type, sa.Float):
            return ExistingColumn(Kind.NUMBER)
        if isinstance(sa_type, sa.Numeric):
            if sa_type.scale == 0 and sa_type.precision is not None:
                return ExistingColumn(Kind.INTEGER)
            return ExistingColumn(Kind.NUMBER)
        if isinstance(sa_type, sa.Integer):
            return ExistingColumn(Kind.INTEGER)
        if isinstance(sa_type, sa.Text | sa.CLOB):
            return ExistingColumn(Kind.STRING, _CLOB)
        if isinstance(sa_type, sa.String):
            return ExistingColumn(Kind.STRING, sa_type.length or _CLOB)
        if isinstance(sa_type, sa.JSON):
            return ExistingColumn(Kind.JSON)
        if isinstance(sa_type, sa.Boolean):
            return ExistingColumn(Kind.BOOLEAN)
        if isinstance(sa_type, sa.DateTime):
            return ExistingColumn(Kind.DATETIME)
        if isinstance(sa_type, sa.Date):
            return ExistingColumn(Kind.DATE)
        return ExistingColumn(None)

    # DDL ---------------------------------------------------------------------------------

    def _table_object(
        self, schema: str | None, name: str, spec: TableSpec, *, with_key: bool
    ) -> sa.Table:
        metadata = sa.MetaData()
        columns = [
            sa.Column(
                column.name,
                ColumnType(self.column_type(column, spec.widths.get(column.name))),
                primary_key=with_key and column.name in spec.keys,
                quote=True,
            )
            for column in spec.columns
        ]
        return sa.Table(name, metadata, *columns, schema=schema, quote=True, quote_schema=True)

    def create_table(self, spec: TableSpec, *, primary_key: bool = True) -> list[str]:
        """CREATE TABLE for `spec`; its key columns become the primary key if asked."""
        table = self._table_object(
            spec.schema, spec.name, spec, with_key=primary_key and bool(spec.keys)
        )
        return [str(sa.schema.CreateTable(table).compile(dialect=self.dialect)).strip()]

    def create_schema(self, schema: str) -> list[str]:
        """Statements that make sure `schema` exists (none where schemas are users)."""
        return [f"CREATE SCHEMA IF NOT EXISTS {self.quote(schema)}"]

    def add_column(self, spec: TableSpec, column: Column) -> list[str]:
        """ALTER TABLE … ADD for a new property."""
        column_type = self.column_type(column, spec.widths.get(column.name))
        table = self.qualified(spec.schema, spec.name)
        return [f"ALTER TABLE {table} ADD {self.quote(column.name)} {column_type}"]

    def widen(self, spec: TableSpec, column: Column, existing: ExistingColumn) -> list[str]:
        """Statements that let `existing` hold what `column` now declares; [] if it can.

        Widening only: integer → number, any scalar → string, a longer string. Nothing
        narrows and nothing is dropped.
        """
        wanted = column.kind
        have = existing.kind
        if have is None or (wanted == have and wanted != Kind.STRING):
            return []
        if wanted == Kind.NUMBER and have == Kind.INTEGER:
            return self._retype(spec, column, have)
        if wanted == Kind.STRING and have not in (Kind.STRING, Kind.JSON):
            return self._retype(spec, column, have)
        if wanted == Kind.STRING and have == Kind.STRING:
            needed = spec.widths.get(column.name, 0)
            if existing.width is not None and needed > existing.width:
                return self._retype(spec, column, have)
        return []

    def _retype(self, spec: TableSpec, column: Column, have: Kind) -> list[str]:
        raise NotImplementedError

    def _replace_column(self, spec: TableSpec, column: Column, cast: str) -> list[str]:
        """Change a column's type by copy: add new, copy with `cast`, drop old, rename.

        `cast` is a format string with ``{}`` for the old column. Key columns are refused:
        changing a key's type would rebuild the key.
        """
        if column.name in spec.keys:
            msg = (
                f"table {spec.name}: key column {column.name} would need a wider type; "
                "change the key's type by hand (the target never rebuilds keys)"
            )
            raise ValueError(msg)
        table = self.qualified(spec.schema, spec.name)
        old = self.quote(column.name)
        temporary = self.quote(
            naming.identifier(
                f"{column.name}_new",
                self.name,
                naming.max_identifier_length(self.config, self.name),
            )
        )
        new_type = self.column_type(column, spec.widths.get(column.name))
        return [
            f"ALTER TABLE {table} ADD {temporary} {new_type}",
            f"UPDATE {table} SET {temporary} = {cast.format(old)}",
            f"ALTER TABLE {table} DROP COLUMN {old}",
            f"ALTER TABLE {table} RENAME COLUMN {temporary} TO {old}",
        ]

    # Loading -----------------------------------------------------------------------------

    def delete_all(self, spec: TableSpec) -> str:
        """Empty the table inside the load transaction (overwrite)."""
        return f"DELETE FROM {self.qualified(spec.schema, spec.name)}"

    def delete_old_versions(
        self, spec: TableSpec, version_column: str, scope: Mapping[str, Any] | None = None
    ) -> str:
        """Hard delete for ACTIVATE_VERSION: rows not written by the activated version.

        `scope` (column name → value) limits it to rows whose columns hold those values, so
        a full sync of one facility never touches another's rows; bind `scope_params(scope)`.
        """
        table = self.qualified(spec.schema, spec.name)
        version = self.quote(version_column)
        return (
            f"DELETE FROM {table} WHERE ({version} IS NULL OR {version} < :version)"
            f"{self._scope_condition(scope)}"
        )

    def soft_delete_old_versions(
        self,
        spec: TableSpec,
        version_column: str,
        deleted_column: str,
        scope: Mapping[str, Any] | None = None,
    ) -> str:
        """Soft delete for ACTIVATE_VERSION: stamp rows not written by the activated version.

        `scope` as for `delete_old_versions`.
        """
        table = self.qualified(spec.schema, spec.name)
        version = self.quote(version_column)
        deleted = self.quote(deleted_column)
        return (
            f"UPDATE {table} SET {deleted} = :deleted_at "
            f"WHERE ({version} IS NULL OR {version} < :version) AND {deleted} IS NULL"
            f"{self._scope_condition(scope)}"
        )

    def delete_keys(self, spec: TableSpec) -> str:
        """Delete one row by its key (records carrying `_sdc_deleted_at`, `hard_delete`).

        Executed once per key with `key_params`.
        """
        table = self.qualified(spec.schema, spec.name)
        where = " AND ".join(f"{self.quote(key)} = :key_{i}" for i, key in enumerate(spec.keys))
        return f"DELETE FROM {table} WHERE {where}"

    @staticmethod
    def key_params(key: Sequence[Any]) -> dict[str, Any]:
        """Bind values for `delete_keys`, in key column order."""
        return {f"key_{i}": value for i, value in enumerate(key)}

    def _scope_condition(self, scope: Mapping[str, Any] | None) -> str:
        return "".join(
            f" AND {self.quote(column)} = :scope_{i}" for i, column in enumerate(scope or {})
        )

    @staticmethod
    def scope_params(scope: Mapping[str, Any] | None) -> dict[str, Any]:
        """Bind values for the scope conditions of the version statements."""
        return {f"scope_{i}": value for i, value in enumerate((scope or {}).values())}

    def merge(self, spec: TableSpec, source: str) -> str:
        """One MERGE from the (duplicate-free) staging table into the target."""
        table = self.qualified(spec.schema, spec.name)
        on = " AND ".join(f"t.{self.quote(k)} = s.{self.quote(k)}" for k in spec.keys)
        names = [self.quote(name) for name in spec.column_names]
        # Key columns are matched on, never updated (Oracle refuses it: ORA-38104).
        values = [self.quote(name) for name in spec.column_names if name not in spec.keys]
        updates = ", ".join(f"{name} = s.{name}" for name in values)
        condition = self.changed_condition(values)
        matched = f" WHEN MATCHED{condition} THEN UPDATE SET {updates}" if updates else ""
        return (
            f"MERGE INTO {table} t USING {source} s ON ({on}){matched} "
            f"WHEN NOT MATCHED THEN INSERT ({', '.join(names)}) "
            f"VALUES ({', '.join('s.' + name for name in names)})"
        )

    def changed_condition(self, quoted_columns: list[str]) -> str:
        """Extra MERGE condition so rows that did not change are not rewritten ('': none)."""
        del quoted_columns
        return ""

    def insert_rows(self, conn: sa.Connection, spec: TableSpec, rows: Sequence[tuple]) -> None:
        """Append `rows` to the table."""
        raise NotImplementedError

    def upsert_rows(self, conn: sa.Connection, spec: TableSpec, rows: Sequence[tuple]) -> None:
        """Insert or update `rows` (unique keys, the caller dedupes) in one transaction."""
        raise NotImplementedError

    def observe_widths(self, spec: TableSpec, rows: Iterable[tuple]) -> bool:
        """Record the longest strings in `rows` in `spec.widths`; True if any grew."""
        del spec, rows
        return False


def _cursor(conn: sa.Connection) -> Any:
    """Return the driver's own cursor, inside SQLAlchemy's transaction on `conn`."""
    return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]


class PostgresStrategy(DialectStrategy):
    """PostgreSQL ≥ 15: COPY into a temporary table, then one MERGE."""

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

    def _retype(self, spec: TableSpec, column: Column, have: Kind) -> list[str]:
        del have
        table = self.qualified(spec.schema, spec.name)
        name = self.quote(column.name)
        new_type = self.column_type(column)
        return [f"ALTER TABLE {table} ALTER COLUMN {name} TYPE {new_type} USING {name}::{new_type}"]

    def changed_condition(self, quoted_columns: list[str]) -> str:
        """Skip unchanged rows: re-reads (incremental lookback) then cost no new row versions."""
        target = ", ".join(f"t.{name}" for name in quoted_columns)
        source = ", ".join(f"s.{name}" for name in quoted_columns)
        return f" AND ROW({target}) IS DISTINCT FROM ROW({source})"

    def create_staging(self, spec: TableSpec) -> str:
        """Return DDL for a temporary copy of the table's shape that disappears at commit."""
        return (
            f"CREATE TEMPORARY TABLE {self.quote(self.staging_name(spec))} "
            f"(LIKE {self.qualified(spec.schema, spec.name)} INCLUDING DEFAULTS) ON COMMIT DROP"
        )

    def copy_statement(self, table: str, spec: TableSpec) -> str:
        """COPY … FROM STDIN for the sink's columns."""
        names = ", ".join(self.quote(name) for name in spec.column_names)
        return f"COPY {table} ({names}) FROM STDIN"

    def _copy(
        self, conn: sa.Connection, table: str, spec: TableSpec, rows: Iterable[tuple]
    ) -> None:
        cursor = _cursor(conn)
        with cursor.copy(self.copy_statement(table, spec)) as copy:
            write_row = copy.write_row
            for row in rows:
                write_row(row)

    def insert_rows(self, conn: sa.Connection, spec: TableSpec, rows: Sequence[tuple]) -> None:
        """COPY straight into the table."""
        self._copy(conn, self.qualified(spec.schema, spec.name), spec, rows)

    def upsert_rows(self, conn: sa.Connection, spec: TableSpec, rows: Sequence[tuple]) -> None:
        """COPY into a temporary table, then MERGE."""
        staging = self.quote(self.staging_name(spec))
        conn.exec_driver_sql(self.create_staging(spec))
        self._copy(conn, staging, spec, rows)
        conn.exec_driver_sql(self.merge(spec, staging))


def _execute_multirow(
    conn: sa.Connection, spec: TableSpec, rows: Sequence[tuple], sql: Callable[[int], str]
) -> None:
    """Run `sql(n)` (a statement for n rows) over `rows`, as many rows per statement as fit.

    Unlike executemany, which binds and steps once per row, this takes the GIL once per
    statement: the loading thread then hardly slows the thread that reads the next batch.
    """
    cursor = _cursor(conn)
    getlimit = getattr(cursor.connection, "getlimit", None)  # Python ≥ 3.11
    variables = getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) if getlimit else 999
    # Some builds allow 250,000 variables; statements that big cost memory, not speed.
    variables = min(variables, _SQLITE_MAX_VARIABLES)
    per = max(1, variables // max(1, len(spec.columns)))
    full = sql(per)
    for start in range(0, len(rows), per):
        part = rows[start : start + per]
        statement = full if len(part) == per else sql(len(part))
        cursor.execute(statement, list(chain.from_iterable(part)))


class SqliteStrategy(DialectStrategy):
    """SQLite: multi-row INSERT, or INSERT … ON CONFLICT DO UPDATE for upserts.

    SQLite has no exact decimal type: numbers are stored as their exact decimal text.
    """

    name = "sqlite"
    types: ClassVar[dict[Kind, str]] = {
        Kind.INTEGER: "INTEGER",
        Kind.NUMBER: "TEXT",
        Kind.STRING: "TEXT",
        Kind.DATETIME: "TEXT",
        Kind.DATE: "TEXT",
        Kind.BOOLEAN: "INTEGER",
        Kind.JSON: "TEXT",
    }

    def create_schema(self, schema: str) -> list[str]:
        """SQLite schemas are attached files; the target uses the main database."""
        del schema
        return []

    def existing_kind(self, sa_type: sa.types.TypeEngine) -> ExistingColumn:
        """TEXT may hold numbers, dates or strings here; all are wider than integer."""
        found = super().existing_kind(sa_type)
        return ExistingColumn(Kind.STRING, _CLOB) if found.kind == Kind.STRING else found

    def widen(self, spec: TableSpec, column: Column, existing: ExistingColumn) -> list[str]:
        """Integer columns become TEXT when a number or string arrives; TEXT holds all."""
        if existing.kind == Kind.INTEGER and column.kind not in (Kind.INTEGER, Kind.BOOLEAN):
            return self._replace_column(spec, column, "CAST({} AS TEXT)")
        return []

    def _insert_sql(self, spec: TableSpec, rows: int = 1) -> str:
        names = ", ".join(self.quote(name) for name in spec.column_names)
        row = f"({', '.join('?' for _ in spec.columns)})"
        table = self.qualified(spec.schema, spec.name)
        return f"INSERT INTO {table} ({names}) VALUES {', '.join([row] * rows)}"

    def upsert_sql(self, spec: TableSpec, rows: int = 1) -> str:
        """INSERT … ON CONFLICT (keys) DO UPDATE of `rows` rows for the sink's columns."""
        keys = ", ".join(self.quote(key) for key in spec.keys)
        updates = ", ".join(
            f"{self.quote(name)} = excluded.{self.quote(name)}"
            for name in spec.column_names
            if name not in spec.keys
        )
        action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
        return f"{self._insert_sql(spec, rows)} ON CONFLICT ({keys}) {action}"

    def insert_rows(self, conn: sa.Connection, spec: TableSpec, rows: Sequence[tuple]) -> None:
        """Multi-row INSERTs."""
        _execute_multirow(conn, spec, rows, lambda count: self._insert_sql(spec, count))

    def upsert_rows(self, conn: sa.Connection, spec: TableSpec, rows: Sequence[tuple]) -> None:
        """Multi-row INSERT … ON CONFLICT DO UPDATE (the caller dedupes the keys)."""
        _execute_multirow(conn, spec, rows, lambda count: self.upsert_sql(spec, count))

    def unique_key_index(self, spec: TableSpec) -> str:
        """ON CONFLICT needs a unique index on the keys when the table's key differs."""
        index = naming.identifier(
            f"{spec.name}_key", self.name, naming.max_identifier_length(self.config, self.name)
        )
        keys = ", ".join(self.quote(key) for key in spec.keys)
        table = self.qualified(spec.schema, spec.name)
        return f"CREATE UNIQUE INDEX IF NOT EXISTS {self.quote(index)} ON {table} ({keys})"


class OracleStrategy(DialectStrategy):
    """Oracle: array-bound executemany with explicit input sizes, then one MERGE.

    Upserts go through a global temporary staging table. Sessions run with TIME_ZONE =
    'UTC' (see the connector), so the naive UTC datetimes bound here land as the right
    instant in TIMESTAMP WITH TIME ZONE columns.
    """

    name = "oracle"
    types: ClassVar[dict[Kind, str]] = {
        Kind.INTEGER: "NUMBER(38)",
        Kind.NUMBER: "NUMBER",
        Kind.STRING: "VARCHAR2({} CHAR)",
        Kind.DATETIME: "TIMESTAMP(6) WITH TIME ZONE",
        Kind.DATE: "DATE",
        Kind.BOOLEAN: "NUMBER(1)",
        Kind.JSON: "CLOB",
    }

    def column_type(self, column: Column, width: float | None = None) -> str:
        """VARCHAR2(n CHAR) up to 4000 (declared maxLength or longest value seen), else CLOB."""
        if column.kind != Kind.STRING:
            return self.types[column.kind]
        needed = max(column.max_length or 0, width or 0)
        if needed > ORACLE_VARCHAR2_MAX:
            return "CLOB"
        # Unknown length: the widest VARCHAR2, so short strings never need a change.
        size = int(needed) if column.max_length else ORACLE_VARCHAR2_MAX
        return self.types[Kind.STRING].format(max(size, 1))

    def create_schema(self, schema: str) -> list[str]:
        """Oracle schemas are users, created by a DBA; nothing to do."""
        del schema
        return []

    def add_column(self, spec: TableSpec, column: Column) -> list[str]:
        """Oracle spells it ADD (column type)."""
        column_type = self.column_type(column, spec.widths.get(column.name))
        table = self.qualified(spec.schema, spec.name)
        return [f"ALTER TABLE {table} ADD ({self.quote(column.name)} {column_type})"]

    def _retype(self, spec: TableSpec, column: Column, have: Kind) -> list[str]:
        new_type = self.column_type(column, spec.widths.get(column.name))
        table = self.qualified(spec.schema, spec.name)
        modify = [f"ALTER TABLE {table} MODIFY ({self.quote(column.name)} {new_type})"]
        if have == Kind.STRING:
            # A longer VARCHAR2 is a MODIFY; VARCHAR2 → CLOB is not allowed (ORA-22858).
            return (
                self._replace_column(spec, column, "TO_CLOB({})") if new_type == "CLOB" else modify
            )
        if have == Kind.INTEGER and new_type == "NUMBER":
            return modify  # raising a NUMBER's precision is always allowed
        as_text = _ORACLE_AS_TEXT.get(have, "TO_CHAR({})")
        if new_type == "CLOB":
            as_text = f"TO_CLOB({as_text})"
        return self._replace_column(spec, column, as_text)

    def create_staging(self, spec: TableSpec) -> list[str]:
        """Return DDL for a global temporary table like the sink's; rows vanish at commit."""
        staging = self._table_object(None, self.staging_name(spec), spec, with_key=True)
        create = str(sa.schema.CreateTable(staging).compile(dialect=self.dialect)).strip()
        return [
            create.replace("CREATE TABLE", "CREATE GLOBAL TEMPORARY TABLE", 1)
            + " ON COMMIT DELETE ROWS"
        ]

    def drop_staging(self, spec: TableSpec) -> str:
        """Drop the staging table (done whenever the target table's shape changes)."""
        return f"DROP TABLE {self.quote(self.staging_name(spec))}"

    def _insert_sql(self, table: str, spec: TableSpec) -> str:
        names = ", ".join(self.quote(name) for name in spec.column_names)
        binds = ", ".join(f":{position}" for position in range(1, len(spec.columns) + 1))
        return f"INSERT INTO {table} ({names}) VALUES ({binds})"

    def input_sizes(self, spec: TableSpec) -> list[Any]:
        """Explicit bind types per column, so oracledb never guesses from the first row."""
        import oracledb

        sizes: dict[Kind, Any] = {
            Kind.INTEGER: oracledb.DB_TYPE_NUMBER,
            Kind.NUMBER: oracledb.DB_TYPE_NUMBER,
            Kind.DATETIME: oracledb.DB_TYPE_TIMESTAMP,
            Kind.DATE: oracledb.DB_TYPE_DATE,
            Kind.BOOLEAN: oracledb.DB_TYPE_NUMBER,
            Kind.JSON: oracledb.DB_TYPE_LONG,
        }
        result = []
        for column in spec.columns:
            if column.kind == Kind.STRING:
                column_type = self.column_type(column, spec.widths.get(column.name))
                result.append(
                    oracledb.DB_TYPE_LONG if column_type == "CLOB" else ORACLE_VARCHAR2_MAX
                )
            else:
                result.append(sizes[column.kind])
        return result

    def _executemany(self, conn: sa.Connection, sql: str, spec: TableSpec, rows: Sequence) -> None:
        cursor = _cursor(conn)
        sizes = self.input_sizes(spec)
        # Bounded array binds keep the driver's buffers small whatever the batch size.
        for start in range(0, len(rows), _ORACLE_ROWS_PER_EXECUTE):
            cursor.setinputsizes(*sizes)
            cursor.executemany(sql, rows[start : start + _ORACLE_ROWS_PER_EXECUTE])

    def insert_rows(self, conn: sa.Connection, spec: TableSpec, rows: Sequence[tuple]) -> None:
        """Array-bound executemany straight into the table."""
        self._executemany(
            conn, self._insert_sql(self.qualified(spec.schema, spec.name), spec), spec, rows
        )

    def upsert_rows(self, conn: sa.Connection, spec: TableSpec, rows: Sequence[tuple]) -> None:
        """Array-bound executemany into the staging table, then MERGE."""
        staging = self.quote(self.staging_name(spec))
        self._executemany(conn, self._insert_sql(staging, spec), spec, rows)
        conn.exec_driver_sql(self.merge(spec, staging))

    def observe_widths(self, spec: TableSpec, rows: Iterable[tuple]) -> bool:
        """Longest string per string column, in characters (CLOB past 4000 bytes)."""
        positions = [i for i, column in enumerate(spec.columns) if column.kind == Kind.STRING]
        if not positions:
            return False
        longest = dict.fromkeys(positions, 0)
        for row in rows:
            for i in positions:
                value = row[i]
                if value is not None and len(value) > longest[i]:
                    longest[i] = len(value)
        grew = False
        for i, chars in longest.items():
            name = spec.columns[i].name
            # 1,000 characters can never exceed 4,000 bytes; longer ones are checked in bytes.
            width: float = chars
            if chars > ORACLE_VARCHAR2_MAX // 4 and any(
                row[i] is not None and len(row[i].encode("utf-8")) > ORACLE_VARCHAR2_MAX
                for row in rows
            ):
                width = _CLOB
            if width > spec.widths.get(name, 0):
                spec.widths[name] = width
                grew = True
        return grew


_ORACLE_AS_TEXT = {
    Kind.DATETIME: "TO_CHAR({}, 'YYYY-MM-DD\"T\"HH24:MI:SS.FF6TZH:TZM')",
    Kind.DATE: "TO_CHAR({}, 'YYYY-MM-DD')",
}

STRATEGIES: dict[str, type[DialectStrategy]] = {
    strategy.name: strategy for strategy in (OracleStrategy, PostgresStrategy, SqliteStrategy)
}


class GruponosConnector(SQLConnector):
    """Owns the engine (URL from the settings) and the dialect strategy."""

    # Passwords seen in settings, so failure messages can be scrubbed of them.
    _secrets: ClassVar[set[str]] = set()
    _URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")

    @classmethod
    def scrub(cls, text: str) -> str:
        """`text` with every known password and any URL password replaced by ``***``."""
        for secret in sorted(cls._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return cls._URL_PASSWORD.sub(r"\1***@", text)

    def __init__(self, config: dict | None = None, sqlalchemy_url: str | None = None) -> None:
        """Connector for the target `config`."""
        super().__init__(config, sqlalchemy_url)
        self._strategy: DialectStrategy | None = None
        # Tables that `overwrite` has already emptied in this run.
        self.tables_overwritten: set[str] = set()

    def get_sqlalchemy_url(self, config: dict[str, Any]) -> str:
        """``sqlalchemy_url`` when given, else an Oracle URL from host/port/service settings."""
        if config.get("password"):
            self._secrets.add(str(config["password"]))
        if config.get("sqlalchemy_url"):
            return str(config["sqlalchemy_url"])
        if not config.get("host"):
            msg = "Set either `sqlalchemy_url` or `host` (with `username`, `password`)."
            raise ValueError(msg)
        query = {}
        if config.get("service_name"):
            query["service_name"] = config["service_name"]
        url = sa.URL.create(
            "oracle+oracledb",
            username=config.get("username"),
            password=config.get("password"),
            host=config["host"],
            port=int(config.get("port") or 1521),
            database=None if config.get("service_name") else config.get("sid"),
            query=query,
        )
        return url.render_as_string(hide_password=False)

    def create_engine(self) -> sa.Engine:
        """Engine with per-dialect session settings (UTC sessions, SQLite WAL)."""
        url = sa.make_url(self.sqlalchemy_url)
        if url.password:
            self._secrets.add(str(url.password))
        backend = url.get_backend_name()
        options: dict[str, Any] = {"connect_args": self.connect_args(backend)}
        if backend == "oracle":
            options["max_identifier_length"] = naming.max_identifier_length(self.config, backend)
        engine = sa.create_engine(url, **options)
        if backend == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_session)
        if backend == "oracle":
            sa.event.listen(engine, "connect", _oracle_session)
        return engine

    def connect_args(self, backend: str) -> dict[str, Any]:
        """Driver connect() arguments for `backend` under these settings."""
        if backend == "postgresql":
            return {"options": "-c TimeZone=UTC"}
        config = self.config
        if backend == "oracle" and config.get("protocol") == "tcps" and config.get("host"):
            # TLS: spell the address out, since the URL only carries host/port/service.
            target = (
                f"(SERVICE_NAME={config['service_name']})"
                if config.get("service_name")
                else f"(SID={config.get('sid')})"
            )
            port = config.get("port") or 1521
            address = f"(ADDRESS=(PROTOCOL=TCPS)(HOST={config['host']})(PORT={port}))"
            return {"dsn": f"(DESCRIPTION={address}(CONNECT_DATA={target}))"}
        return {}

    @property
    def engine(self) -> sa.Engine:
        """The shared engine."""
        return self._engine

    @property
    def strategy(self) -> DialectStrategy:
        """The rules for this engine's database."""
        if self._strategy is None:
            backend = self._engine.dialect.name
            if backend not in STRATEGIES:
                msg = f"Unsupported database {backend!r}; use Oracle, PostgreSQL or SQLite."
                raise ValueError(msg)
            self._strategy = STRATEGIES[backend](self._engine.dialect, self.config)
        return self._strategy

    def existing_columns(
        self, conn: sa.Connection, spec: TableSpec
    ) -> dict[str, ExistingColumn] | None:
        """Columns already in the table (None when the table does not exist)."""
        inspector = sa.inspect(conn)
        if not inspector.has_table(spec.name, schema=spec.schema):
            return None
        return {
            _stored_name(conn, column["name"]): self.strategy.existing_kind(column["type"])
            for column in inspector.get_columns(spec.name, schema=spec.schema)
        }

    def primary_key(self, conn: sa.Connection, spec: TableSpec) -> list[str]:
        """Return the table's primary key column names."""
        constraint = sa.inspect(conn).get_pk_constraint(spec.name, schema=spec.schema)
        return [
            conn.dialect.denormalize_name(n) for n in constraint.get("constrained_columns") or []
        ]


def _stored_name(conn: sa.Connection, reflected: str) -> str:
    """Return the name as stored (SQLAlchemy reports Oracle's uppercase names lowercased)."""
    if conn.dialect.requires_name_normalize:
        return str(conn.dialect.denormalize_name(reflected))
    return reflected


def _sqlite_session(dbapi_connection: Any, _: Any) -> None:
    # WAL lets readers (the orchestrator's checks) work while a batch loads.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _oracle_session(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("ALTER SESSION SET TIME_ZONE = 'UTC'")
    cursor.close()
