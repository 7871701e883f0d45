"""From a stream's JSON Schema to typed columns, and from records to database rows.

Per-record work is compiled once per schema: `compile_row_converter` builds one Python
function per stream that turns a record dict into a row tuple, with one small converter per
column. A value that does not fit its declared type raises `ValueTypeError` naming the field.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import msgspec

from target_gruponos_oracle import naming
from target_gruponos_oracle.errors import ValueTypeError

_UTC = dt.timezone.utc
_json_encoder = msgspec.json.Encoder(decimal_format="number")


class Kind(str, enum.Enum):
    """What a column holds, independent of the database."""

    INTEGER = "integer"
    NUMBER = "number"
    STRING = "string"
    DATETIME = "date-time"
    DATE = "date"
    BOOLEAN = "boolean"
    JSON = "json"


@dataclass(frozen=True)
class Column:
    """One stream property and the column that stores it."""

    prop: str
    name: str
    kind: Kind
    max_length: int | None = None
    # A string column whose schema also allows other types (numbers are kept as text).
    mixed: bool = False


# Singer record metadata (see the SDK's record metadata spec) and what each column holds.
METADATA_COLUMNS: dict[str, Kind] = {
    "_sdc_extracted_at": Kind.DATETIME,
    "_sdc_received_at": Kind.DATETIME,
    "_sdc_batched_at": Kind.DATETIME,
    "_sdc_deleted_at": Kind.DATETIME,
    "_sdc_sequence": Kind.INTEGER,
    "_sdc_table_version": Kind.INTEGER,
    "_sdc_sync_started_at": Kind.INTEGER,
}
VERSION_PROPERTY = "_sdc_table_version"
DELETED_AT_PROPERTY = "_sdc_deleted_at"


def _types_of(prop_schema: Mapping[str, Any]) -> tuple[set[str], set[str], int | None]:
    """JSON types, string formats and the largest maxLength a property schema allows."""
    types: set[str] = set()
    formats: set[str] = set()
    max_length: int | None = None
    branches = prop_schema.get("anyOf") or prop_schema.get("oneOf")
    for branch in branches or [prop_schema]:
        declared = branch.get("type")
        if declared is None and not branches:
            declared = ["object"]  # no type at all: keep the value as JSON
        if isinstance(declared, str):
            declared = [declared]
        types.update(t for t in declared or [] if t != "null")
        if "string" in (declared or []):
            formats.add(branch.get("format", ""))
            if isinstance(branch.get("maxLength"), int):
                max_length = max(max_length or 0, branch["maxLength"])
    return types, formats, max_length


def column_kind(prop_schema: Mapping[str, Any]) -> tuple[Kind, int | None]:
    """Return the column kind (and declared maximum string length) for a property schema."""
    types, formats, max_length = _types_of(prop_schema)
    if not types or types & {"object", "array"}:
        return Kind.JSON, None
    if types == {"integer"}:
        return Kind.INTEGER, None
    if types <= {"integer", "number"}:
        return Kind.NUMBER, None
    if types == {"boolean"}:
        return Kind.BOOLEAN, None
    if types == {"string"} and formats == {"date-time"}:
        return Kind.DATETIME, None
    if types == {"string"} and formats == {"date"}:
        return Kind.DATE, None
    return Kind.STRING, max_length


def schema_columns(
    config: Mapping[str, Any], stream: str, schema: Mapping[str, Any], dialect: str
) -> list[Column]:
    """Columns for every property of `schema`, named for `dialect`.

    Raises:
        ValueError: two properties would share one column name.

    """
    columns: list[Column] = []
    owners: dict[str, str] = {}
    for prop, prop_schema in schema.get("properties", {}).items():
        name = naming.column_name(config, prop, dialect)
        if name in owners:
            msg = (
                f"stream {stream!r}: properties {owners[name]!r} and {prop!r} both map to "
                f"column {name!r}; rename one of them in the tap or with a stream map"
            )
            raise ValueError(msg)
        owners[name] = prop
        if prop in METADATA_COLUMNS:
            kind, max_length, mixed = METADATA_COLUMNS[prop], None, False
        else:
            kind, max_length = column_kind(prop_schema)
            mixed = kind == Kind.STRING and _types_of(prop_schema)[0] != {"string"}
        columns.append(Column(prop, name, kind, max_length, mixed))
    return columns


class _Mismatch(Exception):
    """Internal: a value does not fit; carries what was expected."""


def _to_int(value: Any) -> Any:
    if type(value) is int or value is None:
        return value
    if type(value) is Decimal and value == value.to_integral_value():
        return int(value)
    raise _Mismatch("an integer")


def _to_number(value: Any) -> Any:
    kind = type(value)
    if kind is Decimal or kind is int or value is None:
        return value
    if kind is float:
        return Decimal(repr(value))
    if kind is str:  # numeric text is accepted, as msgspec's Decimal decoding does
        try:
            number = Decimal(value)
        except ArithmeticError:
            raise _Mismatch("a number") from None
        if number.is_finite():
            return number
    raise _Mismatch("a number")


def _to_number_text(value: Any) -> Any:
    value = _to_number(value)
    return None if value is None else str(value)


def _to_string(value: Any) -> Any:
    kind = type(value)
    if kind is str or value is None:
        return value
    if kind is int or kind is Decimal:
        return str(value)
    raise _Mismatch("a string")


def _to_postgres_text(value: Any) -> Any:
    # PostgreSQL text cannot hold NUL characters; they are dropped.
    value = _to_string(value)
    return value.replace("\x00", "") if value is not None else None


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    return value


def _to_postgres_json(value: Any) -> Any:
    text = _to_json(value)
    # JSONB cannot hold NUL either; only values that contain one take the slow walk.
    return _to_json(_without_nul(value)) if text is not None and "\\u0000" in text else text


def _to_bool(value: Any) -> Any:
    if type(value) is bool or value is None:
        return value
    raise _Mismatch("a boolean (true/false)")


def _to_bool_int(value: Any) -> Any:
    if type(value) is bool:
        return int(value)
    if value is None:
        return None
    raise _Mismatch("a boolean (true/false)")


def _to_json(value: Any) -> Any:
    return None if value is None else _json_encoder.encode(value).decode("utf-8")


def _parse_iso_datetime(value: Any) -> dt.datetime:
    if type(value) is not str:
        raise _Mismatch("an ISO 8601 date-time string")
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise _Mismatch("an ISO 8601 date-time string") from None


def _parse_datetime(value: Any) -> dt.datetime:
    parsed = _parse_iso_datetime(value)
    # A date-time without an offset is taken as UTC, the Singer convention.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_UTC)


def _to_utc_naive_datetime(value: Any) -> Any:
    if value is None:
        return None
    return _parse_datetime(value).astimezone(_UTC).replace(tzinfo=None)


def _to_datetime_text(value: Any) -> Any:
    if value is None:
        return None
    parsed = _parse_iso_datetime(value)
    # Text with its offset is kept as sent; without one it is UTC, made explicit.
    return value if parsed.tzinfo is not None else parsed.replace(tzinfo=_UTC).isoformat()


def _parse_date(value: Any) -> dt.date:
    if type(value) is not str:
        raise _Mismatch("an ISO 8601 date string")
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise _Mismatch("an ISO 8601 date string") from None


def _to_date(value: Any) -> Any:
    return None if value is None else _parse_date(value)


def _to_date_text(value: Any) -> Any:
    return None if value is None else _parse_date(value).isoformat()


# Value shapes each database driver binds best. Checked ISO text is cheaper to COPY than
# datetime objects (PostgreSQL parses it server side); SQLite has no exact decimal, so
# numbers travel (and are stored) as their exact decimal text there.
_CONVERTERS: dict[str, dict[Kind, Callable[[Any], Any]]] = {
    "postgresql": {
        Kind.INTEGER: _to_int,
        Kind.NUMBER: _to_number,
        Kind.STRING: _to_postgres_text,
        Kind.DATETIME: _to_datetime_text,
        Kind.DATE: _to_date_text,
        Kind.BOOLEAN: _to_bool,
        Kind.JSON: _to_postgres_json,
    },
    "oracle": {
        Kind.INTEGER: _to_int,
        Kind.NUMBER: _to_number,
        Kind.STRING: _to_string,
        Kind.DATETIME: _to_utc_naive_datetime,
        Kind.DATE: _to_date,
        Kind.BOOLEAN: _to_bool_int,
        Kind.JSON: _to_json,
    },
    "sqlite": {
        Kind.INTEGER: _to_int,
        Kind.NUMBER: _to_number_text,
        Kind.STRING: _to_string,
        Kind.DATETIME: _to_datetime_text,
        Kind.DATE: _to_date_text,
        Kind.BOOLEAN: _to_bool_int,
        Kind.JSON: _to_json,
    },
}

RowConverter = Callable[[Mapping[str, Any]], tuple]


def bind_value(column: Column, dialect: str, value: Any) -> Any:
    """`value` converted as a record's value for `column` is (for a bound comparison)."""
    try:
        return _CONVERTERS[dialect][column.kind](value)
    except _Mismatch as exc:
        msg = f"expected {exc} for column {column.name}, got {value!r}"
        raise ValueError(msg) from None


# Values that are already in the shape the driver wants skip the converter call: the
# generated code tests these conditions inline.
_UNCHANGED: dict[Kind, str] = {
    Kind.INTEGER: "type({v}) is int",
    Kind.STRING: "type({v}) is str",
    Kind.NUMBER: "type({v}) is Decimal or type({v}) is int",
    Kind.BOOLEAN: "type({v}) is bool",
}
_UNCHANGED_BY_DIALECT: dict[str, set[Kind]] = {
    "postgresql": {Kind.INTEGER, Kind.NUMBER, Kind.BOOLEAN},
    "oracle": {Kind.INTEGER, Kind.STRING, Kind.NUMBER},
    "sqlite": {Kind.INTEGER, Kind.STRING},
}


def compile_row_converter(stream: str, columns: Sequence[Column], dialect: str) -> RowConverter:
    """Build the function that turns one record into one row tuple for `dialect`.

    The fast path is a single generated expression (one call per column, no loop); only
    when a value does not fit does the slow path run again column by column to name it.
    """
    converters = [_CONVERTERS[dialect][column.kind] for column in columns]
    namespace: dict[str, Any] = {"Decimal": Decimal}
    parts = []
    for index, (column, converter) in enumerate(zip(columns, converters, strict=True)):
        namespace[f"f{index}"] = converter
        namespace[f"k{index}"] = column.prop
        if column.kind in _UNCHANGED_BY_DIALECT[dialect]:
            value = f"v{index}"
            unchanged = _UNCHANGED[column.kind].format(v=value)
            parts.append(
                f"({value} if ({value} := get(k{index})) is None or {unchanged} "
                f"else f{index}({value}))"
            )
        else:
            parts.append(f"f{index}(get(k{index}))")
    row = f"({', '.join(parts)},)" if parts else "()"
    body = f"def fast(record):\n    get = record.get\n    return {row}\n"
    exec(body, namespace)
    fast: RowConverter = namespace["fast"]

    def convert(record: Mapping[str, Any]) -> tuple:
        try:
            return fast(record)
        except _Mismatch:
            for column, converter in zip(columns, converters, strict=True):
                value = record.get(column.prop)
                try:
                    converter(value)
                except _Mismatch as exc:
                    shown = repr(value)
                    shown = shown if len(shown) <= 60 else shown[:57] + "..."
                    reason = f"expected {exc} for a {column.kind.value} column, got {shown}"
                    raise ValueTypeError(reason, stream=stream, field=column.prop) from None
            raise  # pragma: no cover - the slow path always finds the culprit

    return convert


def _typed_field(column: Column) -> Any:
    """Return the msgspec type that decodes (and checks) a column's non-null value in C."""
    if column.kind == Kind.STRING and not column.mixed:
        return str
    return {
        Kind.INTEGER: int,
        Kind.NUMBER: Decimal,
        Kind.BOOLEAN: bool,
        Kind.DATETIME: str,
        Kind.DATE: str,
    }.get(column.kind, Any)


def _drop_nul(text: str) -> str:
    return text.replace("\x00", "")


def _finishing(column: Column, dialect: str) -> Callable[[Any], Any] | None:
    """Return what is left to do to a value msgspec decoded and checked (None: nothing).

    The generated code skips the call for nulls, so these take a non-null value of the
    type `_typed_field` declared.
    """
    kind = column.kind
    if kind == Kind.INTEGER:
        return None
    if kind == Kind.STRING:
        if column.mixed:
            return _CONVERTERS[dialect][kind]
        return _drop_nul if dialect == "postgresql" else None
    if kind == Kind.NUMBER:
        return str if dialect == "sqlite" else None  # SQLite keeps the exact decimal text
    if kind == Kind.BOOLEAN:
        return int if dialect == "oracle" else None  # sqlite3 binds bool as 1/0 itself
    return _CONVERTERS[dialect][kind]


class RowDecoder:
    """Decodes a record's raw JSON straight into a row tuple.

    msgspec decodes into a struct generated from the columns, checking types in C; the
    few columns that need more (date-times, JSON, SQLite text) get their converter after.
    Key columns are not nullable in the struct, so msgspec rejects a record without its key.
    Whenever msgspec rejects a value, the record is decoded generically and handed to the
    reference converters (`compile_row_converter`), which either accept it or raise the
    error that names the field. Both paths give the same rows.
    """

    def __init__(
        self,
        stream: str,
        columns: Sequence[Column],
        dialect: str,
        key_positions: Sequence[int] = (),
        *,
        dedupe: bool = False,
        watch: str | None = None,
    ) -> None:
        """Compile the struct, the decoders, the finishing step and the line loader.

        `key_positions` are the row positions of the stream's key columns; with `dedupe`
        the loader keeps rows in a dict by key (last one wins), else it appends them.
        A record with a non-null value for the property `watch` (a column or not) is left
        to the general path: the sink watches for deletion markers that way.
        """
        self.convert = compile_row_converter(stream, columns, dialect)
        fields: list[tuple[str, Any] | tuple[str, Any, None]] = []
        for i, column in enumerate(columns):
            typed = _typed_field(column)
            if typed is Any:
                fields.append((f"f{i}", Any, None))
            elif i in key_positions:
                fields.append((f"f{i}", typed))  # required and never null
            else:
                fields.append((f"f{i}", typed | None, None))
        rename = {f"f{i}": column.prop for i, column in enumerate(columns)}
        watched = next((i for i, c in enumerate(columns) if c.prop == watch), None)
        if watch is not None and watched is None:
            # Not a column: decoded into one more field after the columns, only to be looked
            # at (a substring search per line would cost more than msgspec's lookup).
            watched = len(columns)
            fields.append((f"f{watched}", Any, None))
            rename[f"f{watched}"] = watch
        struct = msgspec.defstruct(
            "Record",
            fields,
            rename=rename,
            kw_only=True,  # required key fields may follow optional ones
        )
        self._typed = msgspec.json.Decoder(struct, float_hook=Decimal)
        # A whole RECORD line of this stream, without a version, decoded in one pass;
        # msgspec rejects any other line, which then takes the general path.
        message = msgspec.defstruct(
            "RecordMessage",
            [
                ("type", Literal["RECORD"]),
                ("stream", Literal[stream]),  # type: ignore[valid-type]
                ("record", struct),
                ("version", None, None),
            ],
        )
        self._generic = msgspec.json.Decoder(float_hook=Decimal)
        self._astuple = msgspec.structs.astuple
        namespace: dict[str, Any] = {
            "fromisoformat": dt.datetime.fromisoformat,
            "astuple": msgspec.structs.astuple,
            "decode": msgspec.json.Decoder(message, float_hook=Decimal).decode,
            "Mismatch": _Mismatch,
            "NUL": "\x00",
        }
        parts = []
        for i, column in enumerate(columns):
            converter = _finishing(column, dialect)
            if converter is None:
                parts.append(f"r[{i}]")
                continue
            namespace[f"f{i}"] = converter
            if converter is _to_datetime_text:
                # Inlined: text with an offset passes as sent once Python has parsed it.
                finished = f"v{i} if fromisoformat(v{i}).tzinfo is not None else f{i}(v{i})"
            elif converter is _drop_nul:
                finished = f"v{i}.replace(NUL, '')"  # inlined: no Python call per string
            else:
                finished = f"f{i}(v{i})"
            parts.append(f"(None if (v{i} := r[{i}]) is None else {finished})")
        finishes = any(part != f"r[{i}]" for i, part in enumerate(parts))
        row = f"({', '.join(parts)},)" if finishes else "r"
        if not finishes and watched == len(columns):
            row = f"r[:{watched}]"  # without the watched field
        exec(f"def finish(r):\n    return {row}\n", namespace)
        self._finish: Callable[[tuple], tuple] = namespace["finish"]
        exec(_loader_source(row, columns, key_positions, dedupe=dedupe, watched=watched), namespace)
        self.load: Callable[[Iterable[bytes | str], int, Any], tuple[int, Any]]
        self.load = namespace["load"]

    def decode(self, raw: bytes | str | msgspec.Raw) -> tuple:
        """Return the row for one record's JSON; `ValueTypeError` names a bad field."""
        try:
            return self._finish(self._astuple(self._typed.decode(raw)))
        except (ValueError, _Mismatch):  # msgspec's ValidationError is a ValueError
            record = self._generic.decode(raw)
            if not isinstance(record, dict):
                raise ValueTypeError("'record' must be a JSON object") from None
            return self.convert(record)


def _loader_source(
    row: str,
    columns: Sequence[Column],
    key_positions: Sequence[int],
    *,
    dedupe: bool,
    watched: int | None = None,
) -> str:
    """Source of `load(lines, limit, rows)`, the per-line hot loop of a stream.

    It loads RECORD lines of the stream into `rows` until `limit` rows, the end of `lines`,
    or a line it cannot take: that line is returned for the general path, which handles
    other messages and names whatever is wrong with a record. Returns (rows loaded, the
    line not taken or None).
    """
    # Keys msgspec cannot require (values of any JSON type) are checked here.
    unchecked = [p for p in key_positions if _typed_field(columns[p]) is Any]
    check = "        if row[{}] is None:\n            return n, line\n"
    checks = "".join(check.format(p) for p in unchecked)
    if dedupe and key_positions:
        key = ", ".join(f"row[{p}]" for p in key_positions)
        bind, store = "", f"rows[{key}] = row"
    else:
        bind, store = "    append = rows.append\n", "append(row)"
    if watched is not None:
        checks += f"        if r[{watched}] is not None:\n            return n, line\n"
    return (
        "def load(lines, limit, rows):\n"
        f"{bind}"
        "    n = 0\n"
        "    for line in lines:\n"
        "        try:\n"
        "            r = astuple(decode(line).record)\n"
        f"            row = {row}\n"
        "        except (ValueError, Mismatch):\n"
        "            return n, line\n"
        f"{checks}"
        f"        {store}\n"
        "        n += 1\n"
        "        if n == limit:\n"
        "            return n, None\n"
        "    return n, None\n"
    )
