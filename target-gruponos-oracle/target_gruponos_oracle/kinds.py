"""What a column holds, independent of the database, and one stream property's column."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(str, enum.Enum):  # noqa: UP042 (StrEnum would change str(kind), kept as it was)
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
    """One stream property and the column that stores it.

    `kind` is what the column holds. `declared` is set when the schema declares another
    kind than the column stores (a date-time property whose column already exists as
    text): values are then checked for the declared kind and stored as text.
    """

    prop: str
    name: str
    kind: Kind
    max_length: int | None = None
    # A string column whose schema also allows other types (numbers are kept as text).
    mixed: bool = False
    declared: Kind | None = None
    # One of the stream's key properties.
    key: bool = False
