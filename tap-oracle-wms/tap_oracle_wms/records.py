"""Record shape for SQL, compiled once per stream.

A WMS record arrives as JSON with related objects (`x_id: {id, key, url}`), `*_set` links,
a `url`, decimals possibly as strings. The stream's schema says what leaves the tap: `x_id`
(integer) + `x_id_key`, no `*_set`/`url`, decimals as numbers, timestamps as sent.

From the schema we build (1) a msgspec Struct type so a page is decoded straight into
typed values, skipping fields nobody selected, and (2) a Python function, generated once,
turning one decoded struct into the output dict without any per-field dispatch.
"""

from __future__ import annotations

import operator
import typing as t
from decimal import Decimal

import msgspec

from tap_oracle_wms.errors import WMSResponseError


class Related(msgspec.Struct):
    """A related object; its `url` is not decoded."""

    id: int
    key: t.Any = None


def related_fields(properties: t.Mapping[str, t.Any]) -> set[str]:
    """Fields that are related objects: those with an `<field>_key` companion."""
    return {name for name in properties if f"{name}_key" in properties and name.endswith("_id")}


def _types(schema_type: t.Any) -> set[str]:
    return {schema_type} if isinstance(schema_type, str) else set(schema_type or ())


def _decoded_type(prop: t.Mapping[str, t.Any]) -> t.Any:
    """Return the msgspec type a source field decodes to (lenient where the WMS varies)."""
    kinds = _types(prop.get("type"))
    if "integer" in kinds:
        return t.Optional[int]  # noqa: UP045 - a runtime type object for msgspec
    if "number" in kinds:
        return t.Optional[Decimal]  # noqa: UP045 - accepts "1.50" and 1.50 alike, exactly
    if "boolean" in kinds:
        return t.Optional[bool]  # noqa: UP045
    return t.Any


class RecordCodec:
    """Decoder and converter for one stream's selected properties."""

    def __init__(
        self,
        stream: str,
        schema: t.Mapping[str, t.Any],
        selected: t.Iterable[str],
        constants: t.Mapping[str, str] | None = None,
    ) -> None:
        """Compile the page decoder and the record converter.

        `constants` are properties every record carries with one value (the run's scope
        codes); they are not read from the WMS.
        """
        properties = schema.get("properties", {})
        related = related_fields(properties)
        constants = {k: v for k, v in (constants or {}).items() if k in set(selected)}
        wanted = [name for name in selected if name in properties and name not in constants]
        # Source fields to decode: a selected `x_id_key` needs the `x_id` object.
        sources: list[str] = []
        for name in wanted:
            source = name[:-4] if name.endswith("_key") and name[:-4] in related else name
            if source not in sources:
                sources.append(source)
        self.sources = tuple(sources)  # the WMS fields a record is built from
        attrs = {source: f"f{i}" for i, source in enumerate(sources)}
        self._attrs = attrs
        # Any `*_id` may come as an object or a bare id (status_id is bare): accept both.
        objects = {s for s in sources if s in related or s.endswith("_id")}
        struct_fields: list[tuple[str, t.Any] | tuple[str, t.Any, t.Any]] = [
            (
                attrs[s],
                t.Union[Related, int, None]  # noqa: UP007 - a runtime type object for msgspec
                if s in objects
                else _decoded_type(properties[s]),
                None,
            )
            for s in sources
            if s != "id"
        ]
        if "id" in attrs:
            # The key: a record without one, or with null, is refused where it is decoded
            # (the error names stream, record position and field), never sent.
            struct_fields.insert(0, (attrs["id"], int))
        record_type = msgspec.defstruct(
            f"{stream}_record", struct_fields, rename={a: s for s, a in attrs.items()}
        )
        page_type = msgspec.defstruct(
            f"{stream}_page",
            [
                # The record struct is made at run time: mypy cannot take it as a type.
                ("results", list[record_type], []),  # type: ignore[valid-type]
                ("next_page", t.Optional[str], None),  # noqa: UP045
                ("result_count", t.Optional[int], None),  # noqa: UP045
            ],
        )
        # strict=False: "12" decodes as 12 where the schema says integer.
        self.decoder = msgspec.json.Decoder(page_type, strict=False)
        self.convert: t.Callable[[t.Any], dict] = self._compile(
            wanted, attrs, related, objects, constants
        )

    def getter(self, source: str) -> t.Callable[[t.Any], t.Any] | None:
        """Return a function reading a source field from a decoded record (None: not decoded)."""
        attr = self._attrs.get(source)
        return operator.attrgetter(attr) if attr is not None else None

    @staticmethod
    def _compile(
        wanted: list[str],
        attrs: dict[str, str],
        related: set[str],
        objects: set[str],
        constants: t.Mapping[str, str],
    ) -> t.Callable:
        items = []
        for name in wanted:
            if name in objects:
                a = attrs[name]
                items.append(f"{name!r}: (r.{a}.id if r.{a}.__class__ is Related else r.{a})")
            elif name.endswith("_key") and name[:-4] in related:
                a = attrs[name[:-4]]
                items.append(f"{name!r}: (r.{a}.key if r.{a}.__class__ is Related else None)")
            else:
                items.append(f"{name!r}: r.{attrs[name]}")
        items += [f"{name!r}: {value!r}" for name, value in constants.items()]
        # Every name in the generated source is ours (f0, f1, …); field names and the
        # constants only appear as repr() string literals.
        source = "def convert(r):\n    return {" + ", ".join(items) + "}\n"
        namespace: dict[str, t.Any] = {"Related": Related}
        exec(compile(source, "<wms-record-converter>", "exec"), namespace)
        convert: t.Callable[..., t.Any] = namespace["convert"]
        return convert


def unwritable(stream: str, record: t.Mapping[str, t.Any], exc: Exception) -> Exception:
    """Return the error for a record JSON cannot carry, naming stream, record and field.

    A WMS decimal "NaN" or "Infinity" decodes (Python's Decimal has them) but has no JSON
    number form, nor a value in Oracle's NUMBER: the run stops at that record, naming it.
    """
    fields = [
        name
        for name, value in record.items()
        if isinstance(value, Decimal) and not value.is_finite()
    ]
    if not fields:
        return exc
    which = ", ".join(f"'{name}' = {record[name]}" for name in fields)
    msg = (
        f"Stream '{stream}', record id {record.get('id')}: field {which} is not a finite "
        "number (no JSON or database number can hold it); correct the value in the WMS, "
        "or deselect the field in the catalog"
    )
    return WMSResponseError(msg)
