"""Stream schemas: from the entity's `describe/`, else a built-in schema, else a sample page."""

from __future__ import annotations

import json
import logging
import typing as t
from importlib import resources

if t.TYPE_CHECKING:
    from tap_oracle_wms.client import WMSClient

logger = logging.getLogger(__name__)

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
    """Infer a schema from sample records (related objects recognised by their shape)."""
    properties: dict = {}
    for record in records:
        for name, value in record.items():
            if name in properties:
                continue
            if isinstance(value, dict) and "id" in value:
                type_name = "relation"
            elif isinstance(value, bool):
                type_name = "boolean"
            elif isinstance(value, int):
                type_name = "integer"
            elif isinstance(value, float):
                type_name = "decimal"
            elif value is None:
                continue  # decide from a later record, or fall back below
            else:
                type_name = "string"
            _add_field(properties, name, type_name, None)
    for record in records:
        for name in record:
            if name not in properties:
                _add_field(properties, name, "string", None)
    return {"type": "object", "properties": properties} if "id" in properties else None


def builtin_schema(entity: str) -> dict | None:
    """Return the schema shipped with the tap for a common entity, if any."""
    path = resources.files("tap_oracle_wms") / "schemas" / f"{entity}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def resolve_schema(client: WMSClient, entity: str) -> dict:
    """Return the schema of an entity: describe, else built-in, else inferred from a sample page."""
    schema = schema_from_describe(client.describe(entity))
    if schema is not None:
        return schema
    schema = builtin_schema(entity)
    if schema is not None:
        logger.info("Entity '%s': describe unusable, using the built-in schema", entity)
        return schema
    schema = schema_from_sample(client.sample(entity))
    if schema is not None:
        logger.info("Entity '%s': schema inferred from a sample page", entity)
        return schema
    logger.warning("Entity '%s': no describe, built-in schema or records; only `id`", entity)
    return {"type": "object", "properties": {"id": {"type": "integer"}}}
