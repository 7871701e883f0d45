"""The target: settings, message handling, exactly-once STATE, clean failures."""

from __future__ import annotations

import copy
import gc
import json
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import chain
from typing import Any, ClassVar

import click
from singer_sdk import typing as th
from singer_sdk.helpers.capabilities import PluginCapabilities, TargetCapabilities
from singer_sdk.sinks import Sink
from singer_sdk.sql import SQLTarget

from target_gruponos_oracle.errors import (
    BadInputError,
    InvalidMessageError,
    RecordBeforeSchemaError,
)
from target_gruponos_oracle.messages import Envelope, SingerLineReader
from target_gruponos_oracle.sinks import APPEND_ONLY, OVERWRITE, UPSERT, GruponosSink

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1
# Records between looks at the clock (SDK max record age) and at the writer thread.
_CHECK_EVERY = 1_000


class TargetGruponosOracle(SQLTarget):
    """Bulk-loading Singer target for Oracle, PostgreSQL ≥ 15 and SQLite."""

    name = "target-gruponos-oracle"
    default_sink_class = GruponosSink
    message_reader_class = SingerLineReader
    capabilities: ClassVar[list] = [
        PluginCapabilities.ABOUT,
        PluginCapabilities.ACTIVATE_VERSION,
        TargetCapabilities.TARGET_SCHEMA,
        TargetCapabilities.HARD_DELETE,
    ]

    config_jsonschema = th.PropertiesList(
        th.Property(
            "sqlalchemy_url",
            th.StringType,
            secret=True,
            description="Full SQLAlchemy URL; wins over host/port/… when given. "
            "`oracle+oracledb://…`, `postgresql+psycopg://…` or `sqlite:///path.db`.",
        ),
        th.Property("host", th.StringType, description="Oracle host."),
        th.Property("port", th.IntegerType, default=1521, description="Oracle listener port."),
        th.Property("service_name", th.StringType, description="Oracle service name."),
        th.Property("sid", th.StringType, description="Oracle SID (when no service name)."),
        th.Property("username", th.StringType, description="Database user."),
        th.Property("password", th.StringType, secret=True, description="Database password."),
        th.Property(
            "protocol",
            th.StringType,
            default="tcp",
            allowed_values=["tcp", "tcps"],
            description="Oracle network protocol; `tcps` for TLS.",
        ),
        th.Property(
            "default_target_schema",
            th.StringType,
            description="Schema (Oracle: user) for the tables; the login's own when unset.",
        ),
        th.Property(
            "table_prefix",
            th.StringType,
            default="",
            description="Prefix for every table name, e.g. `WMS_`.",
        ),
        th.Property(
            "load_method",
            th.StringType,
            default=UPSERT,
            allowed_values=[UPSERT, APPEND_ONLY, OVERWRITE],
            description="`upsert` (streams with key properties; others append), "
            "`append-only`, or `overwrite` (replace each table's contents once per run).",
        ),
        th.Property(
            "batch_size_rows",
            th.IntegerType,
            default=GruponosSink.MAX_SIZE_DEFAULT,
            description="Rows per batch (one transaction each); bounds memory.",
        ),
        th.Property(
            "hard_delete",
            th.BooleanType,
            default=False,
            description="On ACTIVATE_VERSION delete older rows instead of stamping "
            "`_sdc_deleted_at`.",
        ),
        th.Property(
            "add_record_metadata",
            th.BooleanType,
            default=False,
            description="Add the `_sdc_*` record metadata columns.",
        ),
        th.Property(
            "max_identifier_length",
            th.IntegerType,
            default=128,
            description="Longest identifier in bytes (128; 30 for Oracle before 12.2).",
        ),
    ).to_dict()

    def __init__(self, **kwargs: Any) -> None:
        """Create the target; loading is sequential (one connection, ordered batches)."""
        super().__init__(**kwargs)
        self.max_parallelism = 1
        self._records_since_check = 0
        self._last_state_written: str | None = None
        self._writer: ThreadPoolExecutor | None = None
        # The stream of the last RECORD, whose lines `_load_records` takes in one loop.
        self._fast_sink: GruponosSink | None = None
        self._in_flight: tuple[Future, dict | None] | None = None
        reader = self.message_reader
        if isinstance(reader, SingerLineReader):
            reader.on_record = self._process_record
            reader.load_records = self._load_records
            reader.on_bad_input = self._stop_after_bad_input

    # Messages ----------------------------------------------------------------------------

    def _process_schema_message(self, message_dict: dict) -> None:
        stream = message_dict.get("stream")
        schema = message_dict.get("schema")
        if not isinstance(stream, str) or not isinstance(schema, dict):
            raise InvalidMessageError("SCHEMA needs a 'stream' name and a 'schema' object")
        if not isinstance(schema.get("properties"), dict):
            raise InvalidMessageError("schema has no 'properties'", stream=stream)
        keys = list(message_dict.get("key_properties") or [])
        existing = self._sinks_active.get(stream)
        if existing is not None and existing.original_schema == schema and existing.keys == keys:
            return
        self._finish_background_write()  # table changes wait for the writer
        self._fast_sink = None
        if existing is not None:
            self.drain_one(existing)  # older records land before the new shape's
        try:
            self.get_sink(stream, schema=schema, key_properties=keys)
        except ValueError as exc:
            raise InvalidMessageError(str(exc), stream=stream) from None

    def _load_records(self, line: bytes | str, lines: Iterator[bytes | str]) -> tuple[int, Any]:
        """Load RECORD lines of the last record's stream, from `line` on, in one tight loop.

        Returns the number of records loaded and the first line not taken (None: all
        taken), which the reader hands to the general path. Stops early when the batch is
        full or the periodic checks are due, so both happen exactly as per record.
        """
        sink = self._fast_sink
        if sink is None or sink.versioned:
            return 0, line
        limit = min(_CHECK_EVERY - self._records_since_check, sink.max_rows - sink.current_size)
        count, rest = sink.load_lines(chain((line,), lines), max(limit, 1))
        if count:
            self._after_record(sink, count)
        return count, rest

    def _process_record(self, envelope: Envelope) -> None:
        """RECORD with the record still raw JSON: the sink decodes it straight into a row."""
        sink = self._sinks_active.get(envelope.stream)  # type: ignore[arg-type]
        if sink is None or sink.versioned or envelope.version is not None:
            sink = self._record_sink(envelope.stream, versioned=envelope.version is not None)
            if sink.versioned:
                message = {"version": envelope.version, "time_extracted": envelope.time_extracted}
                sink.add_record(message, sink.decode_record_object(envelope.record))
                self._after_record(sink)
                return
        sink.add_raw(envelope.record)
        self._fast_sink = sink
        self._after_record(sink)

    def _process_record_message(self, message_dict: dict) -> None:
        """RECORD as a dict (lines whose envelope needed the generic decoder)."""
        stream = message_dict.get("stream")
        sink = self._record_sink(stream, versioned="version" in message_dict)
        record = message_dict.get("record")
        if not isinstance(record, dict):
            raise InvalidMessageError("RECORD has no 'record' object", stream=stream)
        sink.add_record(message_dict, record)
        self._after_record(sink)

    def _record_sink(self, stream: Any, *, versioned: bool) -> GruponosSink:
        sink = self._sinks_active.get(stream) if isinstance(stream, str) else None
        if sink is None:
            raise RecordBeforeSchemaError("RECORD arrived before its SCHEMA", stream=stream)
        if versioned and not sink.versioned:
            self._drain(sink)
            sink.enable_versions()
        return sink  # type: ignore[return-value]

    def _after_record(self, sink: GruponosSink, count: int = 1) -> None:
        if sink.current_size >= sink.max_rows:
            self._write_in_background()
        self._records_since_check += count
        if self._records_since_check >= _CHECK_EVERY:
            self._records_since_check = 0
            if self._in_flight is not None and self._in_flight[0].done():
                self._finish_background_write()  # committed: its STATE goes out now
            self._handle_max_record_age()

    def _process_state_message(self, message_dict: dict) -> None:
        if "value" not in message_dict:
            raise InvalidMessageError("STATE has no 'value'")
        super()._process_state_message(message_dict)

    def _process_activate_version_message(self, message_dict: dict) -> None:
        stream = message_dict.get("stream")
        sink = self._sinks_active.get(stream)  # type: ignore[arg-type]
        if sink is None:
            raise RecordBeforeSchemaError(
                "ACTIVATE_VERSION arrived before its SCHEMA", stream=stream
            )
        if not isinstance(message_dict.get("version"), int):
            raise InvalidMessageError("ACTIVATE_VERSION needs an integer 'version'", stream=stream)
        if not sink.process_activate_version_messages:
            self.logger.warning("Ignoring ACTIVATE_VERSION for %r (disabled in settings)", stream)
            return
        self._drain(sink)
        sink.activate_version(message_dict["version"])

    def _process_batch_message(self, message_dict: dict) -> None:
        raise InvalidMessageError(
            "BATCH messages are not supported; send RECORD messages",
            stream=message_dict.get("stream"),
        )

    # Writing batches ------------------------------------------------------------------------
    #
    # A full batch is written by one writer thread while the next one is read and decoded,
    # so the database's work overlaps with ours. All sinks are handed over together, with
    # the STATE that was current then: that STATE goes out once the writer has committed
    # them. Anything synchronous (schema changes, ACTIVATE_VERSION, the end) first waits
    # for the writer, so batches always commit in the order they were read.

    def _write_in_background(self) -> None:
        self._finish_background_write()
        batches = [
            (sink, sink.take_batch())
            for sink in [*self._sinks_to_clear, *self._sinks_active.values()]
            if sink.current_size
        ]
        state = copy.deepcopy(self._latest_state)
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="writer")
        self._in_flight = (self._writer.submit(_write_batches, batches), state)

    def _finish_background_write(self) -> None:
        """Wait for the batch being written; then its STATE is covered and goes out."""
        if self._in_flight is None:
            return
        future, state = self._in_flight
        self._in_flight = None
        future.result()  # a failed write raises here, and its STATE is never written
        if state:
            self._write_state_message(state)

    def _drain_all(self, sink_list: Iterable[Sink], parallelism: int) -> None:
        self._finish_background_write()
        super()._drain_all(sink_list, parallelism)

    def _drain(self, sink: GruponosSink) -> None:
        self._finish_background_write()
        self.drain_one(sink)

    # STATE and failures --------------------------------------------------------------------

    def _write_state_message(self, state: dict) -> None:
        """Emit STATE (only ever called after the rows it covers are committed)."""
        line = json.dumps(state)
        if line == self._last_state_written:
            return
        self._last_state_written = line
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def _stop_after_bad_input(self, error: BadInputError) -> None:
        """Commit what came before the bad line and emit the STATE that it covers."""
        self.logger.error("Bad input, stopping: %s", error)
        self.drain_all()

    @classmethod
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: Any = None,
        file_input: Any = None,
    ) -> None:
        """Run the target; bad input exits 2 with its message, other failures exit 1."""
        # Loading creates millions of short-lived containers that never form cycles:
        # collect rarely so the collector does not rescan the batch buffer over and over.
        gc.freeze()
        gc.set_threshold(200_000, 50, 1000)
        try:
            super().invoke(
                about=about, about_format=about_format, config=config, file_input=file_input
            )
        except BadInputError as exc:
            click.echo(f"{cls.name}: bad input at {exc}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except Exception as exc:
            message = GruponosSink.connector_class.scrub(f"{type(exc).__name__}: {exc}")
            click.echo(f"{cls.name}: failed: {message}", err=True)
            sys.exit(EXIT_FAILURE)


def _write_batches(batches: list[tuple[GruponosSink, list[tuple]]]) -> None:
    for sink, rows in batches:
        with sink.batch_processing_timer:
            sink.write_rows(rows)


if __name__ == "__main__":
    TargetGruponosOracle.cli()
