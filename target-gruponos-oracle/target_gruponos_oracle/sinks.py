"""The sink: buffers converted rows for one stream and loads them per batch.

Load methods: ``upsert`` (stage, then MERGE / ON CONFLICT; last record per key wins),
``append-only`` and ``overwrite`` (the first batch of a run empties the table in the same
transaction that loads it). Each batch is one transaction.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from operator import itemgetter
from typing import Any

import msgspec
import sqlalchemy as sa
from singer_sdk.sql import SQLSink

from target_gruponos_oracle import naming
from target_gruponos_oracle.columns import (
    DELETED_AT_PROPERTY,
    VERSION_PROPERTY,
    RowDecoder,
    schema_columns,
)
from target_gruponos_oracle.connector import GruponosConnector
from target_gruponos_oracle.errors import InvalidMessageError, MissingKeyError, SettingsError
from target_gruponos_oracle.sdk import stream_key_properties
from target_gruponos_oracle.values import Mismatch

UPSERT, APPEND_ONLY, OVERWRITE = "upsert", "append-only", "overwrite"
_MARKER = f'"{DELETED_AT_PROPERTY}"'.encode()
# Seconds between attempts of a schema change while another load still holds the table's
# lock (Oracle ORA-00054 after DDL_LOCK_TIMEOUT, SQLite "database is locked"): ~1 minute
# in all, on top of the database's own wait.
LOCK_RETRY_DELAYS = (1, 2, 4, 8, 16, 30)


class GruponosSink(SQLSink[GruponosConnector]):
    """Loads one stream's records into its table in bulk."""

    connector_class = GruponosConnector
    MAX_SIZE_DEFAULT = 50_000

    def get_validator(self) -> None:
        """No per-record JSON Schema validation: compiled converters check every value."""
        return

    # Setup -------------------------------------------------------------------------------

    def setup(self) -> None:
        """Work out columns, compile the row converter, create or evolve the table."""
        strategy = self.connector.strategy
        self.versioned = self.include_sdc_metadata_properties
        # The SDK's key_properties property returns conformed names; the target keeps the
        # stream's own property names and applies its naming rules itself.
        self.keys = stream_key_properties(self)
        self.max_rows = self.max_size
        method = self.config.get("load_method") or UPSERT
        self.load_method = APPEND_ONLY if method == UPSERT and not self.keys else method
        columns = schema_columns(self.config, self.stream_name, self.schema, strategy)
        missing = [key for key in self.keys if key not in self.schema["properties"]]
        if missing:
            msg = f"stream {self.stream_name!r}: key properties {missing} are not in the schema"
            raise ValueError(msg)
        self.spec = strategy.table_spec(self.stream_name, columns, self.keys)
        unmatchable = strategy.unmatchable_keys(self.spec) if self.load_method == UPSERT else []
        if unmatchable:
            props = [c.prop for c in self.spec.columns if c.name in unmatchable]
            msg = (
                f"stream {self.stream_name!r}: key properties {props} would be stored as "
                f"{strategy.name} large objects (an object or array, or a string with "
                "maxLength over 4000), which upserts cannot match rows on at any size; "
                "declare them as strings with maxLength up to 4000, choose other key "
                "properties, or use load_method append-only"
            )
            raise ValueError(msg)
        # A record carrying `_sdc_deleted_at` marks its row deleted (log-based taps do so):
        # `hard_delete` deletes the row by key (upserts only: appends keep every record).
        self.deletes_rows = bool(self.config.get("hard_delete")) and self.load_method == UPSERT
        with self.connector.engine.connect() as conn:
            existing = self.connector.existing_columns(conn, self.spec)
        deleted_name = naming.column_name(self.config, DELETED_AT_PROPERTY, strategy)
        if existing and deleted_name in existing:
            # Rows of this table were marked deleted before: every record written from now
            # on sets the mark again (NULL unless the record carries one), so a row that
            # comes back is live again even when this run sends no versions.
            self._add_columns([DELETED_AT_PROPERTY])
        with self.connector.engine.connect() as conn:
            self._prepare_table(conn)
        self._configure()  # after: the table decides how some columns are bound

    def _configure(self) -> None:
        """Compile the converter and key lookups for the current columns."""
        strategy = self.connector.strategy
        positions = [self.spec.column_names.index(key) for key in self.spec.keys]
        self._decoder = RowDecoder(
            self.stream_name,
            self.spec.columns,
            strategy,
            positions,
            dedupe=self.load_method == UPSERT,
            # Records carrying a deletion marker take the general path, unless the
            # marker is simply stored as a column value.
            watch=DELETED_AT_PROPERTY if self.checks_markers else None,
        )
        # Key values the database cannot store (Oracle: ''), each with its reason.
        self._invalid_keys: list[tuple[int, str, Callable[[Any], bool], str]] = []
        for position, key in zip(positions, self.keys, strict=True):
            found = strategy.invalid_key(self.spec.columns[position])
            if found is not None:
                # The condition is the dialect's own Python, the one the generated loader
                # inlines; here it checks rows that took the general path.
                test = eval(f"lambda v: {found[0].format(v='v')}")
                self._invalid_keys.append((position, key, test, found[1]))
        self._object_decoder = msgspec.json.Decoder(float_hook=Decimal)
        self._key_positions = list(zip(positions, self.keys, strict=True))
        self._row_key = itemgetter(*positions) if positions else None
        self._rows: dict[Any, tuple] | list[tuple] = {} if self.load_method == UPSERT else []
        self._deleted: dict[Any, tuple] = {}  # key → key values, rows to delete (hard_delete)
        self._batch_time = dt.datetime.now(dt.UTC).isoformat()
        self._sync_started = int(self.sync_started_at)

    def enable_versions(self) -> None:
        """Start keeping ``_sdc_table_version``/``_sdc_deleted_at`` (for ACTIVATE_VERSION).

        Called by the target with an empty buffer when the first versioned record arrives.
        """
        if self.versioned:
            return
        self.versioned = True
        self._add_columns([VERSION_PROPERTY, DELETED_AT_PROPERTY])
        with self.connector.engine.connect() as conn:
            self._prepare_table(conn)
        self._configure()

    @property
    def checks_markers(self) -> bool:
        """Whether records must be looked at for a `_sdc_deleted_at` deletion marker."""
        return self.deletes_rows or not self.keeps_deletion_markers

    @property
    def keeps_deletion_markers(self) -> bool:
        """Whether the table has the `_sdc_deleted_at` column rows are written with."""
        return self._has(DELETED_AT_PROPERTY)

    def carries_marker(self, raw: msgspec.Raw) -> bool:
        """Tell cheaply whether this raw record could carry a deletion marker."""
        return self.checks_markers and _MARKER in bytes(raw)

    def keep_deletion_markers(self) -> None:
        """Add the `_sdc_deleted_at` column (called by the target with an empty buffer)."""
        if self.keeps_deletion_markers:
            return
        self._add_columns([DELETED_AT_PROPERTY])
        with self.connector.engine.connect() as conn:
            self._prepare_table(conn)
        self._configure()

    def _has(self, prop: str) -> bool:
        return any(column.prop == prop for column in self.spec.columns)

    def _add_columns(self, props: list[str]) -> None:
        wanted: dict[str, dict] = {prop: {} for prop in props if not self._has(prop)}
        self.spec.columns += schema_columns(
            self.config, self.stream_name, {"properties": wanted}, self.connector.strategy
        )

    def _prepare_table(self, conn: sa.Connection) -> None:
        """Create the table, or add and widen its columns; never drop a table.

        Another load of the same table (another run) may hold it: a schema change waits
        for its lock (Oracle: up to `ddl_lock_timeout`; PostgreSQL: until it commits;
        SQLite: the busy timeout) and, if the lock is still held, is retried after
        `LOCK_RETRY_DELAYS`. Another load may also make the same change at the same
        moment, and one of the two then fails (table or column already exists): the
        table is inspected again and whatever is still missing is done, once.
        """
        waits = iter(LOCK_RETRY_DELAYS)
        raced = False
        while True:
            try:
                self._apply_table_changes(conn)
                return
            except sa.exc.DatabaseError as exc:
                reason = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
                if self.connector.strategy.lock_timed_out(exc):
                    delay = next(waits, None)
                    if delay is None:
                        raise
                    self.logger.warning(
                        "Schema change on %s waits: another load holds the table (%s); "
                        "trying again in %s s",
                        self.spec.name,
                        reason,
                        delay,
                    )
                    time.sleep(delay)
                    continue
                if raced:
                    raise
                raced = True
                self.logger.warning(
                    "Schema change on %s failed (%s); inspecting the table again, in case "
                    "another load made the change at the same moment",
                    self.spec.name,
                    reason,
                )

    def _apply_table_changes(self, conn: sa.Connection) -> None:
        locks = self.connector.table_locks
        with conn.begin():  # one transaction: inspection and DDL (Oracle commits DDL itself)
            statements = self._table_changes(conn)
            if not (locks.needed and any(map(self.connector.strategy.is_replacement, statements))):
                self._run_changes(conn, statements)
                return
        # A column replacement beside other loads: under the table's lock, held alone, the
        # table is inspected again (another load may have made the change meanwhile).
        with locks.for_replacement(self.spec), conn.begin():
            self._run_changes(conn, self._table_changes(conn))

    def _run_changes(self, conn: sa.Connection, statements: list[str]) -> None:
        for statement in statements:
            self.logger.info("Schema change on %s: %s", self.spec.name, statement)
            conn.exec_driver_sql(statement)

    def _table_changes(self, conn: sa.Connection) -> list[str]:
        strategy = self.connector.strategy
        spec = self.spec
        upsert = self.load_method == UPSERT  # only upserts need the key enforced
        existing = self.connector.existing_columns(conn, spec)
        if existing is None:
            plan = strategy.key_plan(spec)
            if upsert and plan.reason:
                self.logger.warning(
                    "Table %s: key %s is enforced by %s, not a primary key: %s",
                    spec.name,
                    spec.keys,
                    "a unique index" if plan.kind == "unique index" else "nothing",
                    plan.reason,
                )
            return [
                *(strategy.create_schema(spec.schema) if spec.schema else []),
                *strategy.create_table(spec, enforce_key=upsert),
            ]
        statements = strategy.column_changes(spec, existing)
        if upsert:
            statements += strategy.key_changes(spec, self.connector.existing_key(conn, spec))
        return statements

    # Records -----------------------------------------------------------------------------

    def add_raw(self, raw: msgspec.Raw) -> None:
        """Buffer one record given as raw JSON."""
        self.add_row(self._decoder.decode(raw))

    def load_lines(self, lines: Iterable[bytes | str], limit: int) -> tuple[int, Any]:
        """Buffer RECORD lines of this stream (no versions) from `lines`, up to `limit` rows.

        Stops at the first line it cannot take and returns it (None when it took them all)
        with the number of records buffered; that line takes the general path, which
        handles other messages and names what is wrong with a record.
        """
        count, rest = self._decoder.load(lines, limit, self._rows)
        self.tally_record_read(count)  # once per call, not per record
        return count, rest

    def decode_record_object(self, raw: msgspec.Raw) -> dict[str, Any]:
        """Decode a raw record into a dict (for records that get metadata added)."""
        record = self._object_decoder.decode(raw)
        if not isinstance(record, dict):
            raise InvalidMessageError("RECORD has no 'record' object", stream=self.stream_name)
        return record

    def add_record(self, message: Mapping[str, Any], record: dict[str, Any]) -> None:
        """Buffer one record given as a dict, adding metadata when kept."""
        if self.versioned:
            self._add_metadata(message, record)
        self.add_row(self._decoder.convert(record))

    def add_deletion(self, record: dict[str, Any]) -> None:
        """Buffer a record carrying `_sdc_deleted_at` as the deletion of its key's row."""
        row = self._decoder.convert(record)
        self._check_keys(row)
        # Only upserts delete rows (`deletes_rows`), and upserts are keyed: rows by key.
        assert isinstance(self._rows, dict) and self._row_key is not None
        key = self._row_key(row)
        self._rows.pop(key, None)
        # Deletions run before the batch's upserts, so a later record of the key wins.
        self._deleted[key] = tuple(row[position] for position, _ in self._key_positions)
        self.tally_record_read()

    def _check_keys(self, row: tuple) -> None:
        for position, key in self._key_positions:
            if row[position] is None:
                raise MissingKeyError(
                    "record has no value for this key property", stream=self.stream_name, field=key
                )
        for position, key, invalid, reason in self._invalid_keys:
            if row[position] is not None and invalid(row[position]):
                raise MissingKeyError(reason, stream=self.stream_name, field=key)

    def add_row(self, row: tuple) -> None:
        """Check the keys and keep the row (last one per key wins)."""
        self._check_keys(row)
        if isinstance(self._rows, dict):  # upserts, which always have keys
            assert self._row_key is not None
            self._rows[self._row_key(row)] = row
        else:
            self._rows.append(row)
        self.tally_record_read()

    def _add_metadata(self, message: Mapping[str, Any], record: dict[str, Any]) -> None:
        if self.include_sdc_metadata_properties:
            record["_sdc_extracted_at"] = message.get("time_extracted")
            record["_sdc_received_at"] = self._batch_time
            record["_sdc_batched_at"] = self._batch_time
            record["_sdc_sequence"] = time.time_ns() // 1_000_000
            record["_sdc_sync_started_at"] = self._sync_started
        record[VERSION_PROPERTY] = message.get("version")

    # Batches -----------------------------------------------------------------------------

    def process_batch(self, context: dict) -> None:
        """Load the buffered rows in one transaction (the SDK's synchronous drain)."""
        del context
        self.write_rows(*self._take_rows())

    def take_batch(self) -> tuple[list[tuple], list[tuple]]:
        """Hand over the buffered rows and deletions for a background write; start anew."""
        batch = self._take_rows()
        self.mark_drained()
        return batch

    def _take_rows(self) -> tuple[list[tuple], list[tuple]]:
        rows = list(self._rows.values()) if isinstance(self._rows, dict) else self._rows
        deleted = list(self._deleted.values())
        self._deleted = {}
        self.tally_duplicate_merged(self.current_size - len(rows) - len(deleted))
        # Every record taken in counts, superseded ones too: callers compare this with the
        # records the tap extracted, and a record replaced by a newer one was not lost.
        self.record_counter_metric.increment(self.current_size)
        self._rows = {} if isinstance(self._rows, dict) else []
        self._batch_time = dt.datetime.now(dt.UTC).isoformat()
        return rows, deleted

    def write_rows(self, rows: Sequence[tuple], deleted: Sequence[tuple] = ()) -> None:
        """Delete the `deleted` keys' rows, load `rows`: one transaction (writer-thread safe)."""
        if rows or deleted or self._needs_overwrite():
            self._load(rows, deleted)

    def _needs_overwrite(self) -> bool:
        return (
            self.load_method == OVERWRITE
            and self.spec.name not in self.connector.tables_overwritten
        )

    def _load(self, rows: Sequence[tuple], deleted: Sequence[tuple] = ()) -> None:
        strategy = self.connector.strategy
        with self.connector.engine.connect() as conn:
            if strategy.observe_widths(self.spec, rows):
                self._prepare_table(conn)
            # The table's lock, shared, for this batch only (see `table_locks`).
            with self.connector.table_locks.for_batch(self.spec), conn.begin():
                if self._needs_overwrite():
                    conn.exec_driver_sql(strategy.delete_all(self.spec))
                if deleted:
                    conn.execute(
                        strategy.delete_keys(self.spec),
                        [strategy.key_params(key) for key in deleted],
                    )
                if self.load_method == UPSERT:
                    strategy.upsert_rows(conn, self.spec, rows)
                elif rows:
                    strategy.insert_rows(conn, self.spec, rows)
        if self.load_method == OVERWRITE:
            self.connector.tables_overwritten.add(self.spec.name)

    def activate_version(self, new_version: int) -> None:
        """Delete (``hard_delete``) or stamp ``_sdc_deleted_at`` on rows of older versions.

        With `activate_version_scope` only rows whose scope columns hold the configured
        values are touched, so other scopes sharing the table keep their rows.
        """
        self.enable_versions()
        strategy = self.connector.strategy
        names = {column.prop: column.name for column in self.spec.columns}
        version_column = names[VERSION_PROPERTY]
        scope = self.version_scope()
        if self.config.get("hard_delete"):
            statement = strategy.delete_old_versions(self.spec, version_column, scope)
            params: dict[str, Any] = {"version": new_version}
        else:
            statement = strategy.soft_delete_old_versions(
                self.spec, version_column, names[DELETED_AT_PROPERTY], scope
            )
            params = {"version": new_version, "deleted_at": strategy.deleted_at_value()}
        with self.connector.engine.begin() as conn:
            result = conn.execute(statement, params)
        self.logger.info(
            "ACTIVATE_VERSION %s for %r%s: %s older rows %s",
            new_version,
            self.stream_name,
            f" in scope {self.config.get('activate_version_scope')}" if scope else "",
            result.rowcount,
            "deleted" if self.config.get("hard_delete") else "marked deleted",
        )

    def holds_version(self, version: int) -> bool:
        """Whether the table (in the activation's scope) has rows written by `version`.

        A resumed full sync's closing activation comes after records of its version that
        an earlier run loaded; a sync's opening activation comes before any of them.
        """
        strategy = self.connector.strategy
        column = naming.column_name(self.config, VERSION_PROPERTY, strategy)
        with self.connector.engine.connect() as conn:
            if column not in (self.connector.existing_columns(conn, self.spec) or ()):
                return False  # no version was ever loaded into this table
            statement = strategy.count_version_rows(self.spec, column, self.version_scope())
            return bool(conn.execute(statement, {"version": version}).scalar())

    def version_scope(self) -> dict[str, Any]:
        """`activate_version_scope` as column name → value bound for this database.

        Raises:
            SettingsError: a scope property is not a property of this stream; deleting
                without it would reach other scopes' rows.

        """
        wanted = self.config.get("activate_version_scope") or {}
        by_prop = {column.prop: column for column in self.spec.columns}
        missing = [prop for prop in wanted if prop not in by_prop]
        if missing:
            msg = (
                f"activate_version_scope: stream {self.stream_name!r} has no property "
                f"{', '.join(repr(p) for p in missing)}; its rows cannot be told apart by "
                "scope, so nothing was deleted (declare the property in the stream's "
                "schema, or remove it from the setting)"
            )
            raise SettingsError(msg)
        strategy = self.connector.strategy
        scope = {}
        for prop, value in wanted.items():
            column = by_prop[prop]
            try:  # bound as a record's value for the column is
                scope[column.name] = strategy.converter(column)(value)
            except Mismatch as exc:
                msg = f"activate_version_scope: {prop!r} expects {exc}, got {value!r}"
                raise SettingsError(msg) from None
        return scope

    def clean_up(self) -> None:
        """End of the run: empty overwritten tables that got no rows."""
        if self._needs_overwrite():
            self._load([])
        super().clean_up()
