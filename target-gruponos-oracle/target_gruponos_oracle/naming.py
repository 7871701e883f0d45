"""Identifier rules: how stream and property names become table and column names.

One rule for every dialect, so an analyst can predict a name without reading code:

1. accents are dropped (``año`` -> ``ano``) and every character outside ``[A-Za-z0-9_]``
   becomes ``_`` (``agent:os:version`` -> ``agent_os_version``);
2. leading underscores are dropped (``_sdc_deleted_at`` -> ``sdc_deleted_at``) so that Oracle
   analysts can type the name unquoted; a name that then starts with a digit (or is empty)
   gets a ``c_`` prefix for columns, ``t_`` for tables;
3. tables get ``table_prefix`` in front;
4. Oracle names are uppercase, PostgreSQL and SQLite names lowercase;
5. a column name the database refuses even quoted (Oracle: ``ROWID``; PostgreSQL: its system
   columns ``ctid``, ``xmin``, …) gets the ``c_`` prefix (``rowid`` -> ``C_ROWID``);
6. a name longer than the dialect's limit in bytes (``max_identifier_length`` on Oracle,
   63 on PostgreSQL) keeps its head and ends with ``_`` + 8 hex digits of a SHA-1 of the
   full name, so two long names never collide and a rerun yields the same name.

The target always emits these names quoted, so reserved words (``ORDER``, ``DATE``) are safe.
Each database's facts (case, length cap, forbidden names) live in its dialect module.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from target_gruponos_oracle.dialects.base import DialectStrategy

DIALECTS = ("oracle", "postgresql", "sqlite")

DEFAULT_MAX_IDENTIFIER_LENGTH = 128
_HASH_DIGITS = 8
_NOT_WORD = re.compile(r"[^A-Za-z0-9_]")


def max_identifier_length(config: Mapping[str, Any], dialect: str) -> int:
    """Longest identifier, in bytes, the target creates on `dialect`."""
    configured = int(config.get("max_identifier_length") or DEFAULT_MAX_IDENTIFIER_LENGTH)
    cap = _rules(dialect).identifier_cap
    return min(configured, cap) if cap else configured


def _rules(dialect: str) -> type[DialectStrategy]:
    if dialect not in DIALECTS:
        msg = f"Unknown dialect {dialect!r}; expected one of {', '.join(DIALECTS)}"
        raise ValueError(msg)
    from target_gruponos_oracle.dialects import strategy_class  # the dialects use naming

    return strategy_class(dialect)


def identifier(
    name: str,
    dialect: str,
    max_length: int,
    *,
    empty_prefix: str = "c_",
    forbidden: frozenset[str] = frozenset(),
) -> str:
    """Turn any name into a safe identifier for `dialect` (rules in the module docstring).

    `forbidden` names (in the dialect's case) get `empty_prefix` in front.
    """
    upper = _rules(dialect).upper_case_names
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    cleaned = _NOT_WORD.sub("_", ascii_name).lstrip("_")
    if not cleaned or cleaned[0].isdigit():
        cleaned = empty_prefix + cleaned
    cleaned = cleaned.upper() if upper else cleaned.lower()
    if cleaned in forbidden:
        cleaned = (empty_prefix.upper() if upper else empty_prefix.lower()) + cleaned
    if len(cleaned) > max_length:
        digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:_HASH_DIGITS]
        digest = digest.upper() if upper else digest
        cleaned = f"{cleaned[: max_length - _HASH_DIGITS - 1]}_{digest}"
    return cleaned


def table_name(config: Mapping[str, Any], stream_name: str, dialect: str) -> str:
    """Name of the table that holds `stream_name`, as stored in the database."""
    prefix = config.get("table_prefix") or ""
    return identifier(
        f"{prefix}{stream_name}",
        dialect,
        max_identifier_length(config, dialect),
        empty_prefix="t_",
    )


def column_name(config: Mapping[str, Any], name: str, dialect: str) -> str:
    """Name of the column that holds property `name`, as stored in the database."""
    return identifier(
        name,
        dialect,
        max_identifier_length(config, dialect),
        forbidden=_rules(dialect).forbidden_column_names,
    )
