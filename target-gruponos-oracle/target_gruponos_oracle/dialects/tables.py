"""What the dialect strategies work on: a table as the loader sees it, and what exists."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.types import UserDefinedType

from target_gruponos_oracle.kinds import Column, Kind

UNBOUNDED = math.inf  # width of an unbounded string column (CLOB, TEXT)


class ColumnType(UserDefinedType):
    """A column type rendered exactly as written, identical on every dialect compiler."""

    cache_ok = True

    def __init__(self, spec: str) -> None:
        """Store the SQL type text, e.g. ``NUMBER(38)``."""
        self.spec = spec

    def get_col_spec(self, **_: Any) -> str:
        """Return the SQL type text."""
        return self.spec


@dataclass
class TableSpec:
    """A target table as the loader sees it: conformed names, typed columns, key columns."""

    schema: str | None
    name: str
    columns: list[Column]
    keys: list[str]
    # Widest string (in characters; unbounded as math.inf) each column must hold; in bytes
    # for the columns in `byte_lengths`.
    widths: dict[str, float] = field(default_factory=dict)
    # Existing text columns whose declared length counts bytes (Oracle BYTE semantics).
    byte_lengths: set[str] = field(default_factory=set)

    @property
    def column_names(self) -> list[str]:
        """Column names in row order."""
        return [column.name for column in self.columns]


@dataclass(frozen=True)
class ExistingColumn:
    """What a column already in the database holds, as far as widening cares."""

    kind: Kind | None
    width: float | None = None  # strings: declared length; unbounded = math.inf
    byte_semantics: bool = False  # the declared length counts bytes, not characters


@dataclass(frozen=True)
class KeyPlan:
    """How the table's key is enforced: ``primary key``, ``unique index`` or ``none``.

    `reason` says why it is not a primary key (logged, and in the README).
    """

    kind: str
    reason: str = ""


PRIMARY_KEY = KeyPlan("primary key")


@dataclass(frozen=True)
class ExistingKey:
    """How an existing table enforces keys: primary key, unique indexes, index names."""

    primary: list[str]
    unique: list[list[str]]
    index_names: set[str]

    def enforces(self, keys: list[str], index_name: str) -> bool:
        """Tell whether `keys` are the primary key or a unique index (or ours exists)."""
        return self.primary == keys or keys in self.unique or index_name in self.index_names
