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

from target_gruponos_oracle.columns import (
    DELETED_AT_PROPERTY,
    VERSION_PROPERTY,
    RowDecoder,
    schema_columns,
)
from target_gruponos_oracle.connector import GruponosConnector
from target_gruponos_oracle.errors import InvalidMessageError, MissingKeyError

UPSERT, APPEND_ONLY, OVERWRITE = "upsert", "append-only", "overwrite"


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
        self.keys = list(self._key_properties)
        self.max_rows = self.max_size
        method = self.config.get("load_method") or UPSERT
        self.load_method = APPEND_ONLY if method == UPSERT and not self.keys else method
        columns = schema_columns(self.config, self.stream_name, self.schema, strategy.name)
        missing = [key for key in self.keys if key not in self.schema["properties"]]
        if missing:
            msg = f"stream {self.stream_name!r}: key properties {missing} are not in the schema"
            raise ValueError(msg)
        self.spec = strategy.table_spec(self.stream_name, columns, self.keys)
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
        self._batch_time = dt.datetime.now(dt.timezone.utc).isoformat()
        self._sync_started = int(self.sync_started_at)

    def enable_versions(self) -> None:
        """Start keeping ``_sdc_table_version``/``_sdc_deleted_at`` (for ACTIVATE_VERSION).

        Called by the target with an empty buffer when the first versioned record arrives.
        """
        if self.versioned:
            return
        self.versioned = True
        have = {column.prop for column in self.spec.columns}
        wanted = {prop: {} for prop in (VERSION_PROPERTY, DELETED_AT_PROPERTY) if prop not in have}
        self.spec.columns += schema_columns(
            self.config, self.stream_name, {"properties": wanted}, self.connector.strategy.name
        )
        with self.connector.engine.connect() as conn:
            self._prepare_table(conn)
        self._configure()

    def _prepare_table(self, conn: sa.Connection) -> None:
        """Create the table, or add and widen its columns; never drop a table.

        Another load of the same table (another run) may make the same change at the same
        moment, and one of the two then fails (table or column already exists): the table
        is inspected again and whatever is still missing is done, once.
        """
        try:
            self._apply_table_changes(conn)
        except sa.exc.DatabaseError as exc:
            self.logger.warning(
                "Schema change on %s failed (%s); inspecting the table again, in case "
                "another load made the change at the same moment",
                self.spec.name,
                str(exc.orig).splitlines()[0] if exc.orig else exc,
            )
            self._apply_table_changes(conn)

    def _apply_table_changes(self, conn: sa.Connection) -> None:
        with conn.begin():  # one transaction: inspection and DDL (Oracle commits DDL itself)
            for statement in self._table_changes(conn):
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

    def add_row(self, row: tuple) -> None:
        """Check the keys and keep the row (last one per key wins)."""
        for position, key in self._key_positions:
            if row[position] is None:
                raise MissingKeyError(
                    "record has no value for this key property", stream=self.stream_name, field=key
                )
        for position, key, invalid, reason in self._invalid_keys:
            if row[position] is not None and invalid(row[position]):
                raise MissingKeyError(reason, stream=self.stream_name, field=key)
        if self._row_key is not None and self.load_method == UPSERT:
            self._rows[self._row_key(row)] = row  # type: ignore[call-overload]
        else:
            self._rows.append(row)  # type: ignore[union-attr]
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
        self.write_rows(self._take_rows())

    def take_batch(self) -> list[tuple]:
        """Hand over the buffered rows for a background write and start a new batch."""
        rows = self._take_rows()
        self.mark_drained()
        return rows

    def _take_rows(self) -> list[tuple]:
        rows = list(self._rows.values()) if isinstance(self._rows, dict) else self._rows
        self.tally_duplicate_merged(self.current_size - len(rows))
        # Every record taken in counts, superseded ones too: callers compare this with the
        # records the tap extracted, and a record replaced by a newer one was not lost.
        self.record_counter_metric.increment(self.current_size)
        self._rows = {} if isinstance(self._rows, dict) else []
        self._batch_time = dt.datetime.now(dt.timezone.utc).isoformat()
        return rows

    def write_rows(self, rows: Sequence[tuple]) -> None:
        """Load `rows` in one transaction (safe to run in the writer thread)."""
        if rows or self._needs_overwrite():
            self._load(rows)

    def _needs_overwrite(self) -> bool:
        return (
            self.load_method == OVERWRITE
            and self.spec.name not in self.connector.tables_overwritten
        )

    def _load(self, rows: Sequence[tuple]) -> None:
        strategy = self.connector.strategy
        with self.connector.engine.connect() as conn:
            if strategy.observe_widths(self.spec, rows):
                self._prepare_table(conn)
            with conn.begin():
                if self._needs_overwrite():
                    conn.exec_driver_sql(strategy.delete_all(self.spec))
                if self.load_method == UPSERT:
                    strategy.upsert_rows(conn, self.spec, rows)
                elif rows:
                    strategy.insert_rows(conn, self.spec, rows)
        if self.load_method == OVERWRITE:
            self.connector.tables_overwritten.add(self.spec.name)

    def activate_version(self, new_version: int) -> None:
        """Delete (``hard_delete``) or stamp ``_sdc_deleted_at`` on rows of older versions."""
        self.enable_versions()
        strategy = self.connector.strategy
        names = {column.prop: column.name for column in self.spec.columns}
        version_column = names[VERSION_PROPERTY]
        if self.config.get("hard_delete"):
            statement = strategy.delete_old_versions(self.spec, version_column)
            params: dict[str, Any] = {"version": new_version}
        else:
            statement = strategy.soft_delete_old_versions(
                self.spec, version_column, names[DELETED_AT_PROPERTY]
            )
            params = {"version": new_version, "deleted_at": strategy.deleted_at_value()}
        with self.connector.engine.begin() as conn:
            conn.execute(statement, params)

    def clean_up(self) -> None:
        """End of the run: empty overwritten tables that got no rows."""
        if self._needs_overwrite():
            self._load([])
        super().clean_up()
