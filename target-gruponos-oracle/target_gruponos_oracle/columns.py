"""From a stream's JSON Schema to typed columns, and from records to database rows.

Per-record work is compiled once per schema: `compile_row_converter` builds one Python
function per stream that turns a record dict into a row tuple, with one small converter per
column. A value that does not fit its declared type raises `ValueTypeError` naming the field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal, Protocol

import msgspec

from target_gruponos_oracle import naming
from target_gruponos_oracle.errors import ValueTypeError
from target_gruponos_oracle.kinds import Column, Kind
from target_gruponos_oracle.values import Converter, Mismatch, drop_nul, to_datetime_text

__all__ = ["Column", "Kind", "RowDecoder", "ValueRules", "compile_row_converter"]


class ValueRules(Protocol):
    """A database's value conversion rules (each dialect module provides them)."""

    def converter(self, column: Column) -> Converter:
        """Return the reference converter for `column`: checks a value and shapes it."""
        ...

    def unchanged(self, column: Column) -> str | None:
        """Return a Python condition on ``{v}`` under which a value needs no converter call."""
        ...

    def finishing(self, column: Column) -> Converter | None:
        """Return what is left to do to a value msgspec decoded (None: nothing)."""
        ...

    def invalid_key(self, column: Column) -> tuple[str, str] | None:
        """(condition on a non-null ``{v}``, reason) for key values the database cannot store."""
        ...

    def value_check(self, column: Column) -> tuple[str, dict[str, Any]] | None:
        """(condition on a non-null ``{v}``, names it uses) for values out of the column's range."""
        ...

    def integer_range(self, column: Column) -> tuple[int, int] | None:
        """Lowest and highest integer `column` holds (None: not an integer column, or no limit)."""
        ...


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
    config: Mapping[str, Any], stream: str, schema: Mapping[str, Any], rules: naming.NamingRules
) -> list[Column]:
    """Columns for every property of `schema`, named by the database's `rules`.

    Raises:
        ValueError: two properties would share one column name.

    """
    columns: list[Column] = []
    owners: dict[str, str] = {}
    for prop, prop_schema in schema.get("properties", {}).items():
        name = naming.column_name(config, prop, rules)
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


RowConverter = Callable[[Mapping[str, Any]], tuple]
_INT64 = (-(2**63), 2**63 - 1)


def compile_row_converter(
    stream: str, columns: Sequence[Column], rules: ValueRules
) -> RowConverter:
    """Build the function that turns one record into one row tuple under `rules`.

    The fast path is a single generated expression (one call per column, no loop); only
    when a value does not fit does the slow path run again column by column to name it.
    """
    converters = [rules.converter(column) for column in columns]
    namespace: dict[str, Any] = {"Decimal": Decimal}
    parts = []
    for index, (column, converter) in enumerate(zip(columns, converters, strict=True)):
        namespace[f"f{index}"] = converter
        namespace[f"k{index}"] = column.prop
        condition = rules.unchanged(column)
        if condition is not None:
            value = f"v{index}"
            unchanged = condition.format(v=value)
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
        except Mismatch:
            for column, converter in zip(columns, converters, strict=True):
                value = record.get(column.prop)
                try:
                    converter(value)
                except Mismatch as exc:
                    shown = repr(value)
                    shown = shown if len(shown) <= 60 else shown[:57] + "..."
                    kind = (column.declared or column.kind).value
                    reason = f"expected {exc} for a {kind} column, got {shown}"
                    raise ValueTypeError(reason, stream=stream, field=column.prop) from None
            raise  # pragma: no cover - the slow path always finds the culprit

    return convert


def typed_field(column: Column) -> Any:
    """Return the msgspec type that decodes (and checks) a column's non-null value in C."""
    if column.declared is not None:
        return Any  # checked for its declared kind by the converter, then made text
    if column.kind == Kind.STRING and not column.mixed:
        return str
    return {
        Kind.INTEGER: int,
        Kind.NUMBER: Decimal,
        Kind.BOOLEAN: bool,
        Kind.DATETIME: str,
        Kind.DATE: str,
    }.get(column.kind, Any)


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
        rules: ValueRules,
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
        self.convert = compile_row_converter(stream, columns, rules)
        fields: list[tuple[str, Any] | tuple[str, Any, None]] = []
        # Integer ranges msgspec checks itself, in C (bounds within 64 bits): no Python
        # check per value for them.
        in_c: set[int] = set()
        for i, column in enumerate(columns):
            typed = typed_field(column)
            bounds = rules.integer_range(column)
            if (
                typed is int
                and bounds is not None
                and _INT64[0] <= bounds[0] <= bounds[1] <= _INT64[1]
            ):
                typed = Annotated[int, msgspec.Meta(ge=bounds[0], le=bounds[1])]
                in_c.add(i)
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
                ("stream", Literal[stream]),
                ("record", struct),
                ("version", None, None),
            ],
        )
        self._generic = msgspec.json.Decoder(float_hook=Decimal)
        self._astuple = msgspec.structs.astuple
        self._stream = stream
        namespace: dict[str, Any] = {
            "fromisoformat": dt.datetime.fromisoformat,
            "astuple": msgspec.structs.astuple,
            "decode": msgspec.json.Decoder(message, float_hook=Decimal).decode,
            "Mismatch": Mismatch,
            "NUL": "\x00",
        }
        parts = []
        for i, column in enumerate(columns):
            converter = rules.finishing(column)
            if converter is None:
                parts.append(f"r[{i}]")
                continue
            namespace[f"f{i}"] = converter
            if converter is to_datetime_text:
                # Inlined: text with an offset passes as sent once Python has parsed it.
                finished = f"v{i} if fromisoformat(v{i}).tzinfo is not None else f{i}(v{i})"
            elif converter is drop_nul:
                finished = f"v{i}.replace(NUL, '')"  # inlined: no Python call per string
            else:
                finished = f"f{i}(v{i})"
            parts.append(f"(None if (v{i} := r[{i}]) is None else {finished})")
        finishes = any(part != f"r[{i}]" for i, part in enumerate(parts))
        row = f"({', '.join(parts)},)" if finishes else "r"
        if not finishes and watched == len(columns):
            row = f"r[:{watched}]"  # without the watched field
        # Numbers the database cannot hold: checked on the row, inside the decoding `try`,
        # so such a line takes the general path, whose converters name the field.
        ranges: dict[int, str] = {}
        for i, column in enumerate(columns):
            found_check = None if i in in_c else rules.value_check(column)
            if found_check is not None:
                ranges[i] = found_check[0]
                namespace.update(found_check[1])
        range_checks = "".join(
            f"    if r[{i}] is not None and ({condition.format(v=f'r[{i}]')}):\n"
            "        raise Mismatch\n"
            for i, condition in ranges.items()
        )
        exec(f"def finish(r):\n{range_checks}    return {row}\n", namespace)
        self._finish: Callable[[tuple], tuple] = namespace["finish"]
        invalid = {p: rules.invalid_key(columns[p]) for p in key_positions}
        conditions = {p: found[0] for p, found in invalid.items() if found is not None}
        source = _loader_source(
            row, columns, key_positions, conditions, dedupe=dedupe, watched=watched, ranges=ranges
        )
        exec(source, namespace)
        self.load: Callable[[Iterable[bytes | str], int, Any], tuple[int, Any]]
        self.load = namespace["load"]

    def decode(self, raw: bytes | str | msgspec.Raw) -> tuple:
        """Return the row for one record's JSON; `ValueTypeError` names a bad field."""
        try:
            return self._finish(self._astuple(self._typed.decode(raw)))
        except (ValueError, Mismatch, ArithmeticError):  # msgspec's errors are ValueErrors
            record = self._generic.decode(raw)
            if not isinstance(record, dict):
                raise ValueTypeError(
                    "'record' must be a JSON object", stream=self._stream
                ) from None
            return self.convert(record)


def _loader_source(
    row: str,
    columns: Sequence[Column],
    key_positions: Sequence[int],
    invalid: Mapping[int, str],
    *,
    dedupe: bool,
    watched: int | None = None,
    ranges: Mapping[int, str] | None = None,
) -> str:
    """Source of `load(lines, limit, rows)`, the per-line hot loop of a stream.

    It loads RECORD lines of the stream into `rows` until `limit` rows, the end of `lines`,
    or a line it cannot take: that line is returned for the general path, which handles
    other messages and names whatever is wrong with a record. Returns (rows loaded, the
    line not taken or None). `ranges` (position -> condition on {v}) are numbers the
    database cannot hold: those lines take the general path too.
    """
    in_range = "".join(
        f"            if r[{p}] is not None and ({condition.format(v=f'r[{p}]')}):\n"
        "                return n, line\n"
        for p, condition in (ranges or {}).items()
    )
    # Keys msgspec cannot require (values of any JSON type) are checked here.
    # Key values the database cannot store (`invalid`: position -> condition on {v}) send
    # the line to the general path too, which names the field.
    unchecked = [p for p in key_positions if typed_field(columns[p]) is Any]
    check = "        if row[{}] is None:\n            return n, line\n"
    checks = "".join(check.format(p) for p in unchecked)
    for position, condition in invalid.items():
        value = f"row[{position}]"
        test = condition.format(v=value)
        checks += f"        if {value} is not None and {test}:\n            return n, line\n"
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
        f"{in_range}"
        f"            row = {row}\n"
        "        except (ValueError, Mismatch, ArithmeticError):\n"
        "            return n, line\n"
        f"{checks}"
        f"        {store}\n"
        "        n += 1\n"
        "        if n == limit:\n"
        "            return n, None\n"
        "    return n, None\n"
    )
