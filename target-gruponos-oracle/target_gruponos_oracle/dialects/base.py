"""What every database shares: table specs, names, column changes, versions, MERGE.

A dialect strategy only *produces* SQL from a SQLAlchemy dialect object (so tests compile
every statement without a server) and runs it on a connection it is handed. Each database
module (`oracle`, `postgres`, `sqlite`) subclasses `DialectStrategy` and overrides what
differs: types, value conversion, forbidden names, DDL, staging, bulk load, upsert and
session setup. The sink calls these methods only; it never asks which database it is on.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar

import sqlalchemy as sa

from target_gruponos_oracle import naming
from target_gruponos_oracle.dialects.tables import (
    PRIMARY_KEY,
    UNBOUNDED,
    ColumnType,
    ExistingColumn,
    ExistingKey,
    KeyPlan,
    TableSpec,
)
from target_gruponos_oracle.kinds import Column, Kind
from target_gruponos_oracle.values import (
    AS_TEXT,
    Converter,
    NumberLimits,
    checked_integer,
    checked_number,
)

# A column name the naming rules can never produce (they keep only [A-Za-z0-9_]), so a
# column carrying it is provably the target's own half-finished column replacement.
REPLACEMENT_SUFFIX = "$NEW"
_HASH_DIGITS = 8
_PLAIN_SCHEMA = re.compile(r"[A-Za-z][A-Za-z0-9_$#]*")


def driver_cursor(conn: sa.Connection) -> Any:
    """Return the driver's own cursor, inside SQLAlchemy's transaction on `conn`."""
    # The DBAPI connection is None only once detached or closed, never inside `conn`.
    return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]


class DialectStrategy:
    """Rules shared by all databases; each database module overrides what differs."""

    # The SQLAlchemy dialect name this strategy serves.
    name: ClassVar[str]
    # Column type per kind.
    types: ClassVar[dict[Kind, str]]
    # Names -------------------------------------------------------------------------------
    # How the database stores an unquoted name: the target's names follow it.
    upper_case_names: ClassVar[bool] = False
    # Longest identifier the database accepts, in bytes (None: the setting decides).
    identifier_cap: ClassVar[int | None] = None
    # Column names the database refuses even quoted (compared after case folding).
    forbidden_column_names: ClassVar[frozenset[str]] = frozenset()
    # Values ------------------------------------------------------------------------------
    converters: ClassVar[dict[Kind, Converter]]
    # Kinds whose values skip the converter when already of the type the driver binds.
    skip_when_typed: ClassVar[frozenset[Kind]] = frozenset()
    # Kinds this database already stores in a text column (so nothing changes when the
    # schema declares them over an existing text column).
    text_kinds: ClassVar[frozenset[Kind]] = frozenset({Kind.STRING})
    # What integer and number columns hold: values beyond are bad input, checked before
    # binding (the driver's or the database's own error would not name the record).
    number_limits: ClassVar[NumberLimits] = NumberLimits(None, None, None, "")

    def __init__(self, dialect: sa.Dialect, config: Mapping[str, Any]) -> None:
        """Produce SQL for `dialect` under the target `config` (for names)."""
        self.dialect = dialect
        self.config = config
        self.preparer = dialect.identifier_preparer

    # Session -----------------------------------------------------------------------------

    @classmethod
    def engine_options(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """Extra `create_engine` options for this database (besides connect_args)."""
        del config
        return {}

    @classmethod
    def connect_args(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """Driver connect() arguments under these settings."""
        del config
        return {}

    @classmethod
    def explain_connect_error(cls, error: BaseException, config: Mapping[str, Any]) -> str | None:
        """One line naming the setting to fix for a failed connection (None: no advice)."""
        del error, config
        return None

    @classmethod
    def session_statements(cls, config: Mapping[str, Any] | None = None) -> list[str]:
        """Statements run once on every new connection (under the target `config`)."""
        del config
        return []

    @classmethod
    def check_server(cls, dbapi_connection: Any) -> None:
        """Refuse a server this target cannot load (raises ValueError)."""
        del dbapi_connection

    @classmethod
    def setup_session(
        cls, dbapi_connection: Any, _: Any = None, config: Mapping[str, Any] | None = None
    ) -> None:
        """Engine "connect" hook: check the server, run the session statements."""
        cls.check_server(dbapi_connection)
        statements = cls.session_statements(config)
        if statements:
            cursor = dbapi_connection.cursor()
            for statement in statements:
                cursor.execute(statement)
            cursor.close()

    def prepare(self, conn: sa.Connection) -> None:
        """Learn what this server allows, once, at the first connection (before any DDL)."""
        del conn

    def byte_length_columns(self, conn: sa.Connection, spec: TableSpec) -> set[str]:
        """Text columns of the existing table whose length counts bytes (none by default)."""
        del conn, spec
        return set()

    @classmethod
    def lock_timed_out(cls, error: BaseException) -> bool:
        """Tell whether `error` means another session held a lock too long (retry later)."""
        del error
        return False

    # Named locks (`target_gruponos_oracle.named_locks`) -----------------------------------
    # Whether the database has database-wide named locks held by a session.
    supports_named_locks: ClassVar[bool] = False
    # Whether a column replacement spans several transactions (DDL commits by itself), so
    # loads of the table hold its named lock shared per batch and the replacement holds it
    # exclusively (`target_gruponos_oracle.table_locks`).
    replacement_spans_transactions: ClassVar[bool] = False
    # A trivial statement that keeps the lock's session from looking idle.
    keepalive_statement: ClassVar[str] = "SELECT 1"

    @classmethod
    def named_lock_connect_args(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """Connect arguments of a lock's own connection: keepalives so a dead peer is dropped."""
        return cls.connect_args(config)

    @classmethod
    def try_named_lock(cls, dbapi_connection: Any, name: str, *, shared: bool) -> bool:
        """Take lock `name` for this session without waiting; False when another holds it."""
        raise NotImplementedError(cls.name)

    @classmethod
    def named_lock_held(cls, dbapi_connection: Any, name: str, *, shared: bool) -> bool:
        """Tell whether this session still holds lock `name` (errors propagate)."""
        raise NotImplementedError(cls.name)

    @classmethod
    def release_named_lock(cls, dbapi_connection: Any, name: str, *, shared: bool) -> None:
        """Release lock `name` held by this session."""
        raise NotImplementedError(cls.name)

    @classmethod
    def named_lock_refused(cls, error: BaseException) -> str | None:
        """Say what to fix when `error` means this database user may not take named locks."""
        del error
        return None

    # Names -------------------------------------------------------------------------------

    def quote(self, name: str) -> str:
        """Quote `name` always: conformed names are safe, quoting keeps reserved words safe."""
        return self.preparer.quote_identifier(name)

    def qualified(self, schema: str | None, table: str) -> str:
        """Return the quoted, schema-qualified table name."""
        return f"{self.quote(schema)}.{self.quote(table)}" if schema else self.quote(table)

    def max_identifier_length(self) -> int:
        """Longest identifier, in bytes, the target creates here."""
        return naming.max_identifier_length(self.config, self)

    def identifier(self, name: str) -> str:
        """Return a safe identifier for `name` (the naming rules, for helper objects)."""
        return naming.identifier(name, self, self.max_identifier_length())

    def schema_name(self) -> str | None:
        """Return the schema `default_target_schema` names (see `schema_for`)."""
        return self.schema_for(self.config)

    @classmethod
    def schema_for(cls, config: Mapping[str, Any]) -> str | None:
        """Return the schema `default_target_schema` names, never rewritten.

        A plain name (letters, digits, ``_$#``, starting with a letter) is folded to the
        case the database gives an unquoted name (Oracle: upper, PostgreSQL: lower), so
        ``wms`` finds Oracle's user ``WMS``; any other name is used exactly as written.
        """
        setting = config.get("default_target_schema")
        if not setting:
            return None
        schema = str(setting)
        if _PLAIN_SCHEMA.fullmatch(schema):
            schema = schema.upper() if cls.upper_case_names else schema.lower()
        limit = naming.max_identifier_length(config, cls)
        if len(schema.encode()) > limit:
            msg = f"default_target_schema {setting!r} is longer than {limit} bytes"
            raise ValueError(msg)
        return schema

    def table_spec(
        self, stream: str, columns: list[Column], key_properties: Sequence[str]
    ) -> TableSpec:
        """Return the table for `stream`, with key properties mapped to column names."""
        by_prop = {column.prop: column.name for column in columns}
        keys = set(key_properties)
        return TableSpec(
            schema=self.schema_name(),
            name=naming.table_name(self.config, stream, self),
            columns=[replace(c, key=True) if c.prop in keys else c for c in columns],
            keys=[by_prop[key] for key in key_properties],
        )

    def replacement_name(self, column_name: str) -> str:
        """Return the name a column's replacement has while it is being filled.

        It ends in ``$NEW``, which no property's column name can contain; a long name is
        cut and keeps a hash of the full name, so it stays distinct and stable.
        """
        suffix = REPLACEMENT_SUFFIX if self.upper_case_names else REPLACEMENT_SUFFIX.lower()
        limit = self.max_identifier_length()
        if len(column_name) + len(suffix) <= limit:
            return column_name + suffix
        digest = hashlib.sha1(column_name.encode()).hexdigest()[:_HASH_DIGITS]
        digest = digest.upper() if self.upper_case_names else digest
        head = column_name[: limit - len(suffix) - _HASH_DIGITS - 1]
        return f"{head}_{digest}{suffix}"

    # Values ------------------------------------------------------------------------------

    def converter(self, column: Column) -> Converter:
        """Return the reference converter for `column` (checks and shapes one value)."""
        if column.declared is not None:
            return AS_TEXT[column.declared]
        if self.value_check(column) is not None:
            if column.kind == Kind.INTEGER:
                return checked_integer(self.number_limits)
            return checked_number(self.number_limits)
        return self.converters[column.kind]

    def unchanged(self, column: Column) -> str | None:
        """Python condition on ``{v}`` under which a value skips its converter."""
        if column.declared is not None or column.kind not in self.skip_when_typed:
            return None
        if self.value_check(column) is not None:
            return None  # the converter checks the range
        return _TYPED_CONDITIONS.get(column.kind)

    def integer_range(self, column: Column) -> tuple[int, int] | None:
        """Lowest and highest integer `column` holds (None: not an integer column, no limit)."""
        if column.declared is not None or column.kind != Kind.INTEGER:
            return None
        return self.number_limits.integers

    def value_check(self, column: Column) -> tuple[str, dict[str, Any]] | None:
        """(condition on a non-null decoded ``{v}``, names it uses) for values out of range.

        The condition is true for a value the column cannot hold, or raises
        `ArithmeticError` (a decimal context's trap); the hot loop inlines it, so it costs
        one comparison or one C call per value. None: every value of the kind fits.
        """
        if column.declared is not None:
            return None
        limits = self.number_limits
        if column.kind == Kind.INTEGER:
            condition = limits.integer_check()
            return None if condition is None else (condition, {})
        if column.kind == Kind.NUMBER:
            return limits.number_check()
        return None

    def finishing(self, column: Column) -> Converter | None:
        """Return what is left for a value decoded for `typed_field` (None: nothing).

        The generated code skips the call for nulls, so these take a non-null value.
        """
        if column.declared is not None or column.kind in (Kind.DATETIME, Kind.DATE, Kind.JSON):
            return self.converter(column)
        if column.kind == Kind.STRING and column.mixed:
            return self.converter(column)
        return None

    def invalid_key(self, column: Column) -> tuple[str, str] | None:
        """(condition on a non-null ``{v}``, reason) for key values this database refuses."""
        del column
        return None

    def stored_column(self, column: Column, existing: ExistingColumn | None) -> Column:
        """Return the column as loads must bind it, given what the table already has.

        A property now declared as a number, date or date-time whose column is text stays
        text: its values are checked for the declared kind and bound as ISO / decimal
        text, never as typed values the database would convert with its own formats.
        """
        if (
            existing is None
            or existing.kind != Kind.STRING
            or column.kind in self.text_kinds
            or column.declared is not None
        ):
            return column
        return replace(column, kind=Kind.STRING, declared=column.kind, max_length=None)

    # Types -------------------------------------------------------------------------------

    def column_type(self, column: Column, width: float | None = None) -> str:
        """Return the SQL type of `column`; `width` is the longest string it must hold."""
        del width
        return self.types[column.kind]

    def existing_kind(self, sa_type: sa.types.TypeEngine) -> ExistingColumn:
        """Classify a reflected column type."""
        if isinstance(sa_type, sa.Float):
            return ExistingColumn(Kind.NUMBER)
        if isinstance(sa_type, sa.Numeric):
            if sa_type.scale == 0 and sa_type.precision is not None:
                return ExistingColumn(Kind.INTEGER)
            return ExistingColumn(Kind.NUMBER)
        if isinstance(sa_type, sa.Integer):
            return ExistingColumn(Kind.INTEGER)
        if isinstance(sa_type, sa.Text | sa.CLOB):
            return ExistingColumn(Kind.STRING, UNBOUNDED)
        if isinstance(sa_type, sa.String):
            return ExistingColumn(Kind.STRING, sa_type.length or UNBOUNDED)
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

    def table_object(
        self, schema: str | None, name: str, spec: TableSpec, *, key: bool
    ) -> sa.Table:
        """Return a SQLAlchemy table of `spec`'s columns; the keys form its primary key if `key`."""
        columns = [
            sa.Column(
                column.name,
                ColumnType(self.column_type(column, spec.widths.get(column.name))),
                primary_key=key and column.name in spec.keys,
                quote=True,
            )
            for column in spec.columns
        ]
        return sa.Table(name, sa.MetaData(), *columns, schema=schema, quote=True, quote_schema=True)

    def key_plan(self, spec: TableSpec) -> KeyPlan:
        """How this database can enforce `spec`'s key (a primary key unless overridden)."""
        return PRIMARY_KEY if spec.keys else KeyPlan("none")

    def create_table(self, spec: TableSpec, *, enforce_key: bool) -> list[str]:
        """CREATE TABLE for `spec`; its key is enforced (per `key_plan`) if asked."""
        plan = self.key_plan(spec) if enforce_key else KeyPlan("none")
        table = self.table_object(spec.schema, spec.name, spec, key=plan == PRIMARY_KEY)
        statements = [str(sa.schema.CreateTable(table).compile(dialect=self.dialect)).strip()]
        if plan.kind == "unique index":
            statements.append(self.unique_key_index(spec))
        return statements

    def key_changes(self, spec: TableSpec, existing: ExistingKey) -> list[str]:
        """Statements that let an existing table enforce `spec`'s key for upserts ([]: none).

        Only databases whose upsert needs the key enforced (SQLite's ON CONFLICT) or whose
        table could only get a unique index add one here.
        """
        del spec, existing
        return []

    def unique_key_index_name(self, spec: TableSpec) -> str:
        """Name of the unique index on the table's key columns."""
        return self.identifier(f"{spec.name}_key")

    def unique_key_index(self, spec: TableSpec) -> str:
        """CREATE UNIQUE INDEX on the key columns."""
        keys = ", ".join(self.quote(key) for key in spec.keys)
        table = self.qualified(spec.schema, spec.name)
        index = self.qualified(spec.schema, self.unique_key_index_name(spec))
        return f"CREATE UNIQUE INDEX {index} ON {table} ({keys})"

    def create_schema(self, schema: str) -> list[str]:
        """Statements that make sure `schema` exists (none where schemas are users)."""
        return [f"CREATE SCHEMA IF NOT EXISTS {self.quote(schema)}"]

    def add_column(self, spec: TableSpec, column: Column) -> list[str]:
        """ALTER TABLE … ADD for a new property."""
        column_type = self.column_type(column, spec.widths.get(column.name))
        table = self.qualified(spec.schema, spec.name)
        return [f"ALTER TABLE {table} ADD {self.quote(column.name)} {column_type}"]

    def column_changes(self, spec: TableSpec, existing: Mapping[str, ExistingColumn]) -> list[str]:
        """Statements that make an existing table hold `spec`: add, widen, finish replacements.

        Also records known widths in `spec.widths` and swaps in the columns as stored
        (`stored_column`). Nothing is ever narrowed or dropped, except the old copy of a
        column that a replacement has filled.
        """
        statements: list[str] = []
        for index, column in enumerate(spec.columns):
            have = existing.get(column.name)
            replacement = existing.get(self.replacement_name(column.name))
            if replacement is not None:
                # An earlier run stopped half-way through replacing this column: finish it.
                statements += self.finish_replacement(spec, column.name, have, replacement)
                have = replacement
            if have is None:
                statements += self.add_column(spec, column)
                continue
            if have.byte_semantics:
                spec.byte_lengths.add(column.name)
            else:
                spec.byte_lengths.discard(column.name)
            if have.width is not None and have.width > spec.widths.get(column.name, 0):
                spec.widths[column.name] = have.width
            stored = self.stored_column(column, have)
            spec.columns[index] = stored
            statements += self.widen(spec, stored, have)
        return statements

    def widen(self, spec: TableSpec, column: Column, existing: ExistingColumn) -> list[str]:
        """Statements that let `existing` hold what `column` now declares; [] if it can.

        Widening only: boolean → integer → number, date → date-time, any scalar → string,
        a longer string.
        """
        wanted = column.kind
        have = existing.kind
        if have is None or (wanted == have and wanted != Kind.STRING):
            return []
        if wanted == Kind.DATETIME and have == Kind.DATE:
            # A date column keeps only the day: date-times bound into it lose their time.
            return self.retype(spec, column, existing)
        if wanted in (Kind.INTEGER, Kind.NUMBER) and have == Kind.BOOLEAN:
            return self.retype(spec, column, existing)
        if wanted == Kind.NUMBER and have == Kind.INTEGER:
            return self.retype(spec, column, existing)
        if wanted == Kind.STRING and have not in (Kind.STRING, Kind.JSON):
            return self.retype(spec, column, existing)
        if wanted == Kind.STRING and have == Kind.STRING:
            needed = spec.widths.get(column.name, 0)
            if existing.width is not None and needed > existing.width:
                return self.retype(spec, column, existing)
        return []

    def retype(self, spec: TableSpec, column: Column, existing: ExistingColumn) -> list[str]:
        """Statements that change `column`'s type from `existing`'s to what it declares."""
        raise NotImplementedError

    def copy_expression(self, old: ExistingColumn, new_type: str) -> str:
        """Return SQL (``{}`` = the old column) giving the old value in the new column's type."""
        raise NotImplementedError

    def replace_column(
        self, spec: TableSpec, column: Column, existing: ExistingColumn
    ) -> list[str]:
        """Change a column's type by copy: add the replacement, fill it, drop old, rename.

        Where DDL commits by itself (Oracle) these are four transactions; an interrupted
        run is finished by the next one (`finish_replacement`). Key columns are refused:
        changing a key's type would rebuild the key.
        """
        if column.name in spec.keys:
            msg = (
                f"table {spec.name}: key column {column.name} would need a wider type; "
                "change the key's type by hand (the target never rebuilds keys)"
            )
            raise ValueError(msg)
        table = self.qualified(spec.schema, spec.name)
        new_type = self.column_type(column, spec.widths.get(column.name))
        temporary = self.quote(self.replacement_name(column.name))
        return [
            f"ALTER TABLE {table} ADD {temporary} {new_type}",
            *self._fill_drop_rename(spec, column.name, existing, new_type),
        ]

    def finish_replacement(
        self,
        spec: TableSpec,
        name: str,
        old: ExistingColumn | None,
        replacement: ExistingColumn,
    ) -> list[str]:
        """Finish a replacement an earlier run left half-done.

        The replacement column exists: if the old column does too, the copy may not have
        happened yet, so it is (re)done, then old is dropped and the replacement renamed;
        if old is already gone, only the rename is left.
        """
        new_type = self.type_of(replacement)
        if old is not None:
            return self._fill_drop_rename(spec, name, old, new_type)
        table = self.qualified(spec.schema, spec.name)
        temporary = self.quote(self.replacement_name(name))
        return [f"ALTER TABLE {table} RENAME COLUMN {temporary} TO {self.quote(name)}"]

    def type_of(self, existing: ExistingColumn) -> str:
        """Return the SQL type text of a reflected column, as far as copying into it matters."""
        width = existing.width
        probe = Column("", "", existing.kind or Kind.STRING)
        return self.column_type(probe, width)

    def _fill_drop_rename(
        self, spec: TableSpec, name: str, old: ExistingColumn, new_type: str
    ) -> list[str]:
        table = self.qualified(spec.schema, spec.name)
        quoted = self.quote(name)
        temporary = self.quote(self.replacement_name(name))
        copy = self.copy_expression(old, new_type).format(quoted)
        return [
            f"UPDATE {table} SET {temporary} = {copy}",
            self.drop_column(table, quoted),
            f"ALTER TABLE {table} RENAME COLUMN {temporary} TO {quoted}",
        ]

    def drop_column(self, table: str, column: str) -> str:
        """Statement that removes the old copy of a replaced column (both names quoted)."""
        return f"ALTER TABLE {table} DROP COLUMN {column}"

    def is_replacement(self, statement: str) -> bool:
        """Tell whether `statement` is a step of a column replacement (it names ``$NEW``)."""
        suffix = REPLACEMENT_SUFFIX if self.upper_case_names else REPLACEMENT_SUFFIX.lower()
        return f"{suffix}{self.preparer.final_quote}" in statement

    # Versions and overwrite ----------------------------------------------------------------

    def delete_all(self, spec: TableSpec) -> str:
        """Empty the table inside the load transaction (overwrite)."""
        return f"DELETE FROM {self.qualified(spec.schema, spec.name)}"

    def delete_keys(self, spec: TableSpec) -> sa.TextClause:
        """Delete one row by its key (records carrying `_sdc_deleted_at`, `hard_delete`).

        Executed once per key with `key_params`. Each key column is matched as the MERGE
        matches it (`key_condition`), and bound with `key_bind_type` where the driver's
        own guess would be wrong.
        """
        table = self.qualified(spec.schema, spec.name)
        where = " AND ".join(
            self.key_condition(spec, key, self.quote(key), f":key_{i}")
            for i, key in enumerate(spec.keys)
        )
        kinds = {column.name: column for column in spec.columns}
        binds = [
            sa.bindparam(f"key_{i}", type_=bind_type)
            for i, key in enumerate(spec.keys)
            if (bind_type := self.key_bind_type(kinds[key])) is not None
        ]
        return sa.text(f"DELETE FROM {table} WHERE {where}").bindparams(*binds)

    def key_bind_type(self, column: Column) -> sa.types.TypeEngine | None:
        """SQLAlchemy type a key value of `column` is bound with (None: the driver's guess)."""
        del column
        return None

    def unmatchable_keys(self, spec: TableSpec) -> list[str]:
        """Key columns this database cannot match rows on at scale (upserts refuse them)."""
        del spec
        return []

    @staticmethod
    def key_params(key: Sequence[Any]) -> dict[str, Any]:
        """Bind values for `delete_keys`, in key column order."""
        return {f"key_{i}": value for i, value in enumerate(key)}

    def _scope_condition(
        self, scope: Mapping[str, Any] | None
    ) -> tuple[str, list[sa.BindParameter]]:
        """`` AND "col" = :scope_0 …`` for `scope` (column name → value), with its binds."""
        if not scope:
            return "", []
        parts: list[str] = []
        binds: list[sa.BindParameter] = []
        for index, (column, value) in enumerate(scope.items()):
            parts.append(f" AND {self.quote(column)} = :scope_{index}")
            binds.append(sa.bindparam(f"scope_{index}", value))
        return "".join(parts), binds

    @staticmethod
    def scope_params(scope: Mapping[str, Any] | None) -> dict[str, Any]:
        """Bind values for the scope conditions (already bound in the statements too)."""
        return {f"scope_{i}": value for i, value in enumerate((scope or {}).values())}

    def delete_old_versions(
        self, spec: TableSpec, version_column: str, scope: Mapping[str, Any] | None = None
    ) -> sa.TextClause:
        """Hard delete for ACTIVATE_VERSION: rows not written by the activated version.

        Execute with ``{"version": …}``. `scope` (column name → value) limits it to rows
        whose columns hold those values.
        """
        table = self.qualified(spec.schema, spec.name)
        column = self.quote(version_column)
        condition, binds = self._scope_condition(scope)
        sql = f"DELETE FROM {table} WHERE ({column} IS NULL OR {column} < :version){condition}"
        return sa.text(sql).bindparams(sa.bindparam("version", type_=sa.BigInteger()), *binds)

    def count_version_rows(
        self, spec: TableSpec, version_column: str, scope: Mapping[str, Any] | None = None
    ) -> sa.TextClause:
        """Count the rows one version wrote (has an earlier run loaded records of it?).

        Execute with ``{"version": …}``; `scope` as for `delete_old_versions`.
        """
        table = self.qualified(spec.schema, spec.name)
        column = self.quote(version_column)
        condition, binds = self._scope_condition(scope)
        sql = f"SELECT COUNT(*) FROM {table} WHERE {column} = :version{condition}"
        return sa.text(sql).bindparams(sa.bindparam("version", type_=sa.BigInteger()), *binds)

    def soft_delete_old_versions(
        self,
        spec: TableSpec,
        version_column: str,
        deleted_column: str,
        scope: Mapping[str, Any] | None = None,
    ) -> sa.TextClause:
        """Soft delete for ACTIVATE_VERSION: stamp rows not written by the activated version.

        Execute with ``{"version": …, "deleted_at": deleted_at_value()}``. The stamp's bind
        has an explicit type (`deleted_at_type`), so no driver guesses it (Oracle binds a
        bare datetime as DATE and loses the fractions). `scope` as for `delete_old_versions`.
        """
        table = self.qualified(spec.schema, spec.name)
        column = self.quote(version_column)
        deleted = self.quote(deleted_column)
        condition, binds = self._scope_condition(scope)
        sql = (
            f"UPDATE {table} SET {deleted} = :deleted_at "
            f"WHERE ({column} IS NULL OR {column} < :version) AND {deleted} IS NULL{condition}"
        )
        return sa.text(sql).bindparams(
            sa.bindparam("version", type_=sa.BigInteger()),
            sa.bindparam("deleted_at", type_=self.deleted_at_type()),
            *binds,
        )

    def deleted_at_type(self) -> sa.types.TypeEngine:
        """Return the SQLAlchemy type the ``:deleted_at`` stamp is bound with."""
        raise NotImplementedError

    def deleted_at_value(self) -> Any:
        """Now, as the column that stores ``_sdc_deleted_at`` takes it."""
        raise NotImplementedError

    # Loading -----------------------------------------------------------------------------

    def merge(self, spec: TableSpec, source: str) -> str:
        """One MERGE from the (duplicate-free) staging table into the target."""
        table = self.qualified(spec.schema, spec.name)
        on = " AND ".join(
            self.key_condition(spec, key, f"t.{self.quote(key)}", f"s.{self.quote(key)}")
            for key in spec.keys
        )
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

    def key_condition(self, spec: TableSpec, key: str, left: str, right: str) -> str:
        """Return the condition matching key column `key` (SQL `left`) with `right`.

        The MERGE matches target ``t`` with source ``s``; deletion by key matches the
        column with a bind: both go through here, so they match alike.
        """
        del spec, key
        return f"{left} = {right}"

    def changed_condition(self, quoted_columns: list[str]) -> str:
        """Extra MERGE condition so rows that did not change are not rewritten ('': none)."""
        del quoted_columns
        return ""

    def insert_rows(self, conn: sa.Connection, spec: TableSpec, rows: Sequence[tuple]) -> None:
        """Append `rows` to the table."""
        raise NotImplementedError

    def upsert_rows(self, conn: sa.Connection, spec: TableSpec, rows: Sequence[tuple]) -> None:
        """Insert or update `rows` (unique keys, the caller dedupes) in the open transaction."""
        raise NotImplementedError

    def observe_widths(self, spec: TableSpec, rows: Sequence[tuple]) -> bool:
        """Record the longest strings in `rows` in `spec.widths`; True if any grew."""
        del spec, rows
        return False


_TYPED_CONDITIONS: dict[Kind, str] = {
    Kind.INTEGER: "type({v}) is int",
    Kind.STRING: "type({v}) is str",
    Kind.NUMBER: "type({v}) is Decimal or type({v}) is int",
    Kind.BOOLEAN: "type({v}) is bool",
}
