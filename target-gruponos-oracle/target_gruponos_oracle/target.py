"""The target: settings, message handling, exactly-once STATE, clean failures."""

from __future__ import annotations

import copy
import gc
import json
import sys
import traceback
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from itertools import chain
from typing import Any, ClassVar

import click
import msgspec
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigurationError, MappingError
from singer_sdk.helpers.capabilities import PluginCapabilities, TargetCapabilities
from singer_sdk.mapper import RemoveRecordTransform, SameRecordTransform, StreamMap
from singer_sdk.sinks import Sink

from target_gruponos_oracle.columns import DELETED_AT_PROPERTY
from target_gruponos_oracle.dialects.oracle import DDL_LOCK_TIMEOUT_DEFAULT, DDL_LOCK_TIMEOUT_MAX
from target_gruponos_oracle.errors import (
    BadInputError,
    InvalidMessageError,
    RecordBeforeSchemaError,
    SettingsError,
)
from target_gruponos_oracle.messages import Envelope, SingerLineReader
from target_gruponos_oracle.sdk import FencedSQLTarget
from target_gruponos_oracle.sinks import APPEND_ONLY, OVERWRITE, UPSERT, GruponosSink

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1
# Records between looks at the clock (SDK max record age) and at the writer thread.
_CHECK_EVERY = 1_000


class TargetGruponosOracle(FencedSQLTarget[GruponosSink]):
    """Bulk-loading Singer target for Oracle, PostgreSQL ≥ 15 and SQLite."""

    name = "target-gruponos-oracle"
    default_sink_class = GruponosSink
    message_reader_class = SingerLineReader
    capabilities: ClassVar[list] = [
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
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
            "dsn",
            th.StringType,
            description="Oracle: a full connect descriptor, an Easy Connect string, or a "
            "`tnsnames.ora` alias (`mydb_high`, with `config_dir`); wins over "
            "host/port/service_name/sid/protocol.",
        ),
        th.Property(
            "config_dir",
            th.StringType,
            description="Oracle: the folder holding `tnsnames.ora` (an unzipped ADB wallet).",
        ),
        th.Property(
            "wallet_location",
            th.StringType,
            description="Oracle: the folder holding the wallet's `ewallet.pem` (mutual TLS, "
            "or the CA to trust); thin mode does not read `cwallet.sso`.",
        ),
        th.Property(
            "wallet_password",
            th.StringType,
            secret=True,
            description="Oracle: the password of `ewallet.pem`.",
        ),
        th.Property(
            "ssl_server_dn_match",
            th.BooleanType,
            default=True,
            description="Oracle TLS: check that the database's certificate names it.",
        ),
        th.Property(
            "ssl_server_cert_dn",
            th.StringType,
            description="Oracle TLS: the subject DN the database's certificate must carry "
            "(else its host name is checked).",
        ),
        th.Property(
            "retry_count",
            th.IntegerType(minimum=0),
            default=0,
            description="Oracle: times a failed connection attempt is tried again.",
        ),
        th.Property(
            "retry_delay",
            th.IntegerType(minimum=0),
            default=1,
            description="Oracle: seconds between connection attempts.",
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
            "`_sdc_deleted_at`; a record carrying `_sdc_deleted_at` deletes its row.",
        ),
        th.Property(
            "activate_version_scope",
            th.ObjectType(additional_properties=True),
            default={},
            description="Property name -> value: ACTIVATE_VERSION only deletes or stamps "
            'rows holding these values, e.g. `{"scope_facility_code": "DC01"}` when '
            "several facilities share the tables.",
        ),
        th.Property(
            "add_record_metadata",
            th.BooleanType,
            default=False,
            description="Add the `_sdc_*` record metadata columns.",
        ),
        th.Property(
            "ddl_lock_timeout",
            th.IntegerType(minimum=0, maximum=DDL_LOCK_TIMEOUT_MAX),
            default=DDL_LOCK_TIMEOUT_DEFAULT,
            description="Oracle: seconds a schema change (ALTER TABLE) waits for another "
            "session's uncommitted changes to the table before ORA-00054 "
            "(DDL_LOCK_TIMEOUT; Oracle's own default 0 fails at once); the target then "
            "retries with backoff.",
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
        # Streams whose records go through the SDK's stream maps (renamed, projected,
        # filtered or flattened); every other stream is loaded without that detour.
        self._mapped: set[str] = set()
        self._record_decoder = msgspec.json.Decoder(float_hook=Decimal)
        # Per table (sink name): versions of the records taken in this run, and versions
        # activated before any of their records (the start of a full sync).
        self._versions_loaded: dict[str, set[int]] = {}
        self._versions_started: dict[str, set[int]] = {}
        self._warn_unknown_settings()
        reader = self.message_reader
        if isinstance(reader, SingerLineReader):
            reader.on_record = self._process_record
            reader.load_records = self._load_records
            reader.on_bad_input = self._stop_after_bad_input

    def _warn_unknown_settings(self) -> None:
        """Name settings the target does not know: usually a typo, and otherwise ignored."""
        known = set(self.config_jsonschema.get("properties", {}))
        unknown = sorted(key for key in self.config if key not in known)
        if unknown:
            self.logger.warning(
                "Unknown settings, ignored: %s (see `%s --about` for the settings)",
                ", ".join(unknown),
                self.name,
            )

    # Messages ----------------------------------------------------------------------------

    def handle_schema(self, message_dict: dict) -> None:
        """Open or replace the stream's sink(s) for a SCHEMA, through the stream maps if any."""
        stream = message_dict.get("stream")
        schema = message_dict.get("schema")
        if not isinstance(stream, str) or not isinstance(schema, dict):
            raise InvalidMessageError("SCHEMA needs a 'stream' name and a 'schema' object")
        if not isinstance(schema.get("properties"), dict):
            raise InvalidMessageError("schema has no 'properties'", stream=stream)
        keys = list(message_dict.get("key_properties") or [])
        try:
            self.mapper.register_raw_stream_schema(stream, schema, keys)
        except Exception as exc:  # the SDK's map errors: a setting, named with its stream
            msg = f"stream_maps / flattening for stream {stream!r}: {exc}"
            raise SettingsError(msg) from exc
        maps = self.mapper.stream_maps[stream]
        if _is_identity(stream, maps):
            self._mapped.discard(stream)
            self._open_sink(stream, schema, keys)
            return
        self._mapped.add(stream)
        for stream_map in _loaded_maps(maps):
            self._open_sink(
                stream_map.stream_alias,
                stream_map.transformed_schema,
                list(stream_map.transformed_key_properties or []),
            )

    def _open_sink(self, name: str, schema: dict, keys: list[str]) -> None:
        existing = self.active_sinks.get(name)
        if existing is not None and existing.original_schema == schema and existing.keys == keys:
            return
        self._finish_background_write()  # table changes wait for the writer
        self._fast_sink = None
        if existing is not None:
            self.drain_one(existing)  # older records land before the new shape's
        try:
            self.get_sink(name, schema=schema, key_properties=keys)
        except ValueError as exc:
            raise InvalidMessageError(str(exc), stream=name) from None

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
        stream = envelope.stream
        if stream in self._mapped:
            message = {"version": envelope.version, "time_extracted": envelope.time_extracted}
            self._map_record(stream, message, self._decode_record(stream, envelope.record))
            return
        sink = self.active_sinks.get(stream) if stream is not None else None
        if sink is None or sink.versioned or envelope.version is not None:
            sink = self._record_sink(stream, envelope.version)
        if sink.versioned or sink.carries_marker(envelope.record):
            message = {"version": envelope.version, "time_extracted": envelope.time_extracted}
            self._add_record(sink, message, sink.decode_record_object(envelope.record))
            return
        sink.add_raw(envelope.record)
        self._fast_sink = sink
        self._after_record(sink)

    def handle_record(self, message_dict: dict) -> None:
        """RECORD as a dict (lines whose envelope needed the generic decoder)."""
        stream = message_dict.get("stream")
        record = message_dict.get("record")
        if stream in self._mapped:
            if not isinstance(record, dict):
                raise InvalidMessageError("RECORD has no 'record' object", stream=stream)
            self._map_record(stream, message_dict, record)
            return
        sink = self._record_sink(stream, message_dict.get("version"))
        if not isinstance(record, dict):
            raise InvalidMessageError("RECORD has no 'record' object", stream=stream)
        self._add_record(sink, message_dict, record)

    def _decode_record(self, stream: str | None, raw: msgspec.Raw) -> dict[str, Any]:
        try:
            record = self._record_decoder.decode(raw)
        except msgspec.DecodeError as exc:
            raise InvalidMessageError(
                f"'record' is not valid JSON ({exc})", stream=stream
            ) from None
        if not isinstance(record, dict):
            raise InvalidMessageError("RECORD has no 'record' object", stream=stream)
        return record

    def _map_record(self, stream: str, message: Mapping[str, Any], record: dict) -> None:
        """Load a record through its stream's maps (one sink per map that keeps it)."""
        for stream_map in _loaded_maps(self.mapper.stream_maps[stream]):
            # Maps change the record they get: each works on its own copy, as in the SDK.
            try:
                transformed = stream_map.transform(copy.copy(record))
            except MappingError as exc:
                reason = f"stream map to {stream_map.stream_alias!r} failed on this record: {exc}"
                raise InvalidMessageError(reason, stream=stream) from None
            if transformed is None:
                continue  # filtered out by the map
            sink = self._record_sink(stream_map.stream_alias, message.get("version"))
            self._add_record(sink, message, transformed)

    def _add_record(self, sink: GruponosSink, message: Mapping[str, Any], record: dict) -> None:
        """Buffer a record given as a dict; one carrying `_sdc_deleted_at` marks a deletion.

        Log-based taps send a deleted row as a record with `_sdc_deleted_at` set, whether
        their schema declares it or not. With `hard_delete` (upserts) the row is deleted;
        otherwise the mark is stored in the `_sdc_deleted_at` column, added if need be.
        """
        if record.get(DELETED_AT_PROPERTY) is not None:
            if sink.deletes_rows:
                sink.add_deletion(record)
                self._after_record(sink)
                return
            if not sink.keeps_deletion_markers:
                self._drain(sink)  # rows of the old shape first
                sink.keep_deletion_markers()
        sink.add_record(message, record)
        self._after_record(sink)

    def _record_sink(self, stream: Any, version: Any) -> GruponosSink:
        sink = self.active_sinks.get(stream) if isinstance(stream, str) else None
        if sink is None:
            raise RecordBeforeSchemaError("RECORD arrived before its SCHEMA", stream=stream)
        if version is not None:
            self._versions_loaded.setdefault(stream, set()).add(version)
            if not sink.versioned:
                self._drain(sink)
                sink.enable_versions()
        return sink

    def _after_record(self, sink: GruponosSink, count: int = 1) -> None:
        if sink.current_size >= sink.max_rows:
            self._write_in_background()
        self._records_since_check += count
        if self._records_since_check >= _CHECK_EVERY:
            self._records_since_check = 0
            if self._in_flight is not None and self._in_flight[0].done():
                self._finish_background_write()  # committed: its STATE goes out now
            self.check_record_age()

    def handle_state(self, message_dict: dict) -> None:
        """STATE: kept, and written once every row before it is committed."""
        if "value" not in message_dict:
            raise InvalidMessageError("STATE has no 'value'")
        self.remember_state(message_dict)

    def handle_activate_version(self, message_dict: dict) -> None:
        """ACTIVATE_VERSION: mark or delete rows older than the version, once it is complete."""
        stream = message_dict.get("stream")
        if not isinstance(stream, str) or stream not in self.mapper.stream_maps:
            # Other taps send it for streams they never described: nothing to activate.
            self.logger.warning(
                "Ignoring ACTIVATE_VERSION for stream %r: its SCHEMA has not arrived", stream
            )
            return
        version = message_dict.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise InvalidMessageError("ACTIVATE_VERSION needs an integer 'version'", stream=stream)
        maps = self.mapper.stream_maps[stream]
        names = (
            [stream] if stream not in self._mapped else [m.stream_alias for m in _loaded_maps(maps)]
        )
        for name in names:
            self._activate(self.active_sinks[name], version)

    def _activate(self, sink: GruponosSink, version: int) -> None:
        name = sink.stream_name
        if not sink.process_activate_version_messages:
            self.logger.warning("Ignoring ACTIVATE_VERSION for %r (disabled in settings)", name)
            return
        self._drain(sink)
        loaded = version in self._versions_loaded.get(name, ())
        started = self._versions_started.setdefault(name, set())
        if not loaded and version not in started and sink.holds_version(version):
            # Its records came in an earlier run: the end of a resumed full sync (a tap
            # resuming a killed sync keeps its version), whose rows of older versions are
            # the ones neither run saw.
            self.logger.info(
                "ACTIVATE_VERSION %s for %r after records of it loaded by an earlier run: "
                "the end of a resumed full sync",
                version,
                name,
            )
        elif not loaded and version not in started:
            # Sent before the version's records (singer-sdk taps send it when a full sync
            # starts): the rows of the table are about to be sent again, so marking them
            # now would mark rows that still exist — and leave them marked if the sync
            # stops half way. Only an activation after records of its version (or a
            # repeated one: a full sync that sent no rows) acts.
            started.add(version)
            sink.enable_versions()
            self.logger.info(
                "ACTIVATE_VERSION %s for %r before any of its records: taken as the start "
                "of a full sync, nothing marked",
                version,
                name,
            )
            return
        sink.activate_version(version)

    def handle_batch(self, message_dict: dict) -> None:
        """BATCH: not supported (the tap writes RECORD lines)."""
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
            for sink in [*self.replaced_sinks, *self.active_sinks.values()]
            if sink.current_size
        ]
        state = copy.deepcopy(self.latest_state)
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
            self.write_state(state)

    def drain_sinks(self, sink_list: Iterable[Sink], parallelism: int) -> None:
        """Drain as the SDK does, once the batch in flight is committed."""
        self._finish_background_write()
        super().drain_sinks(sink_list, parallelism)

    def _drain(self, sink: GruponosSink) -> None:
        self._finish_background_write()
        self.drain_one(sink)

    # STATE and failures --------------------------------------------------------------------

    def write_state(self, state: dict) -> None:
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
    def invoke(  # type: ignore[override]  # as the SDK's own Target.invoke: named, not **kwargs
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: Any = None,
        file_input: Any = None,
    ) -> None:
        """Run the target; bad input exits 2 with its message, other failures exit 1.

        Bad input and settings errors are one line naming what is wrong; anything else is
        unexpected and prints its traceback too (secrets scrubbed) before that line.
        """
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
        except (SettingsError, ConfigurationError, MappingError) as exc:
            message = GruponosSink.connector_class.scrub(_one_line(exc))
            click.echo(f"{cls.name}: settings: {message}", err=True)
            sys.exit(EXIT_FAILURE)
        except Exception as exc:
            scrub = GruponosSink.connector_class.scrub
            click.echo(scrub(traceback.format_exc()).rstrip(), err=True)
            # Last, on one line: what a log or an alert shows as the reason.
            summary = " ".join(f"{type(exc).__name__}: {exc}".split())
            click.echo(f"{cls.name}: failed: {scrub(summary)}", err=True)
            sys.exit(EXIT_FAILURE)


def _one_line(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)  # ConfigValidationError lists each problem
    return f"{exc}: {'; '.join(errors)}" if errors else str(exc)


def _is_identity(stream: str, maps: list[StreamMap]) -> bool:
    """Tell whether the stream maps leave `stream` as it is (no map, no flattening)."""
    return (
        len(maps) == 1
        and type(maps[0]) is SameRecordTransform
        and maps[0].stream_alias == stream
        and not maps[0].flattening_enabled
    )


def _loaded_maps(maps: list[StreamMap]) -> list[StreamMap]:
    """Return the maps that produce a table (a map to null drops its stream)."""
    return [m for m in maps if not isinstance(m, RemoveRecordTransform)]


def _write_batches(batches: list[tuple[GruponosSink, tuple[list[tuple], list[tuple]]]]) -> None:
    for sink, (rows, deleted) in batches:
        with sink.batch_processing_timer:
            sink.write_rows(rows, deleted)


if __name__ == "__main__":
    TargetGruponosOracle.cli()
