"""Stream schemas: `describe/` (else a built-in schema) checked against a sample page.

The live `describe/` uses `type` words nobody can guess and can omit fields its records
carry, so the data decides what guesses cannot: a field whose sampled values are related
objects `{id, key, url}` is a relation (`x` + `x_key`), a `*_id` never seen as a bare
integer keeps its `x_key` column, and fields the records carry but the schema lacks are
added, typed from their values.
"""

from __future__ import annotations

import json
import logging
import typing as t
from importlib import resources

from tap_oracle_wms.errors import WMSError

logger = logging.getLogger(__name__)


class EntitySource(t.Protocol):
    """What discovery asks of the WMS (the client provides it): nothing else."""

    def describe(self, entity: str) -> t.Any:
        """Return the entity's `describe/` answer, or None when unavailable."""

    def sample(self, entity: str) -> list[dict]:
        """Return a few of the entity's records (a failure raises `WMSError`)."""


# Words in a describe `type` (vocabularies vary by release) -> JSON schema type.
_RELATED_WORDS = ("relation", "related", "foreign", "fk", "object")
_NUMBER_WORDS = ("decimal", "float", "number", "numeric", "double", "money")
_INTEGER_WORDS = ("int", "serial", "auto")
_BOOLEAN_WORDS = ("bool", "flag")


def _nullable(json_type: str) -> list[str]:
    return [json_type, "null"]


def property_for(name: str, type_name: str = "", max_length: t.Any = None) -> dict:
    """Return the JSON schema of one field: name rules first (WMS conventions), then the type."""
    word = str(type_name).lower()
    if name == "id":
        return {"type": "integer"}
    if name.endswith("_id"):
        return {"type": _nullable("integer")}
    if name.endswith("_ts") or any(w in word for w in ("datetime", "timestamp")):
        return {"type": _nullable("string"), "format": "date-time"}
    if name.endswith("_date") or word == "date":
        return {"type": _nullable("string"), "format": "date"}
    if name.endswith("_flg") or any(w in word for w in _BOOLEAN_WORDS):
        return {"type": _nullable("boolean")}
    if any(w in word for w in _NUMBER_WORDS):
        return {"type": _nullable("number")}
    if any(w in word for w in _INTEGER_WORDS):
        return {"type": _nullable("integer")}
    prop: dict = {"type": _nullable("string")}
    if isinstance(max_length, int) and max_length > 0:
        prop["maxLength"] = max_length
    return prop


def _add_field(properties: dict, name: str, type_name: str, max_length: t.Any) -> None:
    """Add one WMS field in its SQL shape (`*_set` and `url` are not records' data)."""
    if name == "url" or name.endswith("_set"):
        return
    properties[name] = property_for(name, type_name, max_length)
    word = str(type_name).lower()
    if name.endswith("_id") and name != "id" and any(w in word for w in _RELATED_WORDS):
        properties[f"{name}_key"] = {"type": _nullable("string")}


def schema_from_describe(describe: t.Any) -> dict | None:
    """Parse a `describe/` answer; fields as a mapping name→attributes or a list of objects."""
    if not isinstance(describe, dict):
        return None
    fields = describe.get("fields")
    items: list[tuple[str, dict]] = []
    if isinstance(fields, dict):
        items = [(str(k), v if isinstance(v, dict) else {"type": v}) for k, v in fields.items()]
    elif isinstance(fields, list):
        items = [(str(f["name"]), f) for f in fields if isinstance(f, dict) and f.get("name")]
    if not items:
        return None
    properties: dict = {}
    for name, attrs in items:
        _add_field(
            properties,
            name,
            str(attrs.get("type") or attrs.get("data_type") or ""),
            attrs.get("max_length"),
        )
    return {"type": "object", "properties": properties} if "id" in properties else None


def schema_from_sample(records: list[dict]) -> dict | None:
    """Infer a schema from sample records alone (related objects recognised by their shape)."""
    schema: dict = {"type": "object", "properties": {}}
    merge_sample(schema, records)
    return schema if "id" in schema["properties"] else None


def builtin_schema(entity: str) -> dict | None:
    """Return the schema shipped with the tap for a common entity, if any."""
    path = resources.files("tap_oracle_wms") / "schemas" / f"{entity}.json"
    if not path.is_file():
        return None
    schema: dict = json.loads(path.read_text())  # the tap's own files: JSON objects
    return schema


def _value_word(values: list[t.Any]) -> str:
    """Return a type word for a field's sampled (non-null) values."""
    if any(isinstance(v, dict) and "id" in v for v in values):
        return "relation"
    if values and all(isinstance(v, bool) for v in values):
        return "boolean"
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "integer"
    if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "decimal"
    return "string"


def merge_sample(schema: dict, records: list[dict]) -> list[str]:
    """Correct `schema` in place from sample records; the names of the fields added.

    Relations are recognised by their values, whatever word the schema's source used;
    a `*_id` field keeps (or gets) its `_key` column unless the sample shows it as a bare
    integer (like `status_id`), since a missing column loses data and an empty one is free.
    """
    properties = schema.setdefault("properties", {})
    seen: dict[str, list[t.Any]] = {}
    for record in records:
        for name, value in record.items():
            values = seen.setdefault(name, [])
            if value is not None:
                values.append(value)
    added: list[str] = []
    for name, values in seen.items():
        if name == "url" or name.endswith("_set"):
            continue
        word = _value_word(values)
        if name not in properties:
            _add_field(properties, name, word, None)
            added.append(name)
        elif word == "relation":
            properties[name] = {"type": _nullable("integer")}
    for name in list(properties):
        if not name.endswith("_id") or name == "id" or f"{name}_key" in properties:
            continue
        values = seen.get(name, [])
        bare = bool(values) and all(isinstance(v, int) for v in values)
        if not bare:
            properties[f"{name}_key"] = {"type": _nullable("string")}
            if name in seen and name not in added:
                added.append(f"{name}_key")
    return added


def resolve_schema(source: EntitySource, entity: str) -> dict:
    """Return the schema of an entity: describe, else built-in, corrected by a sample page.

    Without describe or built-in schema, the sample alone gives the schema; a sample
    that fails leaves the schema as describe or the built-in gave it (with a warning).
    """
    origin = "describe"
    schema = schema_from_describe(source.describe(entity))
    if schema is None:
        schema, origin = builtin_schema(entity), "built-in"
    try:
        records = source.sample(entity)
    except WMSError as exc:
        logger.warning(
            "Entity '%s': sample page failed, schema from %s only (%s)", entity, origin, exc
        )
        records = []
    else:
        if schema is None and records:
            schema, origin = {"type": "object", "properties": {}}, "sample"
    if schema is None:
        logger.warning("Entity '%s': no describe, built-in schema or records; only `id`", entity)
        return {"type": "object", "properties": {"id": {"type": "integer"}}}
    added = merge_sample(schema, records)
    if "id" not in schema["properties"]:
        schema["properties"] = {"id": {"type": "integer"}, **schema["properties"]}
    logger.info(
        "Entity '%s': schema from %s%s%s",
        entity,
        origin,
        f", checked against {len(records)} sampled records" if records else ", no sample",
        f"; added from the sample: {', '.join(added)}" if added and origin != "sample" else "",
    )
    return schema
