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
Each database's facts (case, length cap, forbidden names) live in its dialect module; every
function here takes them as `rules`: the dialect's strategy (`dialects.strategy_class`).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from typing import Any, Protocol

DEFAULT_MAX_IDENTIFIER_LENGTH = 128
_HASH_DIGITS = 8
_NOT_WORD = re.compile(r"[^A-Za-z0-9_]")


class NamingRules(Protocol):
    """The facts of one database these rules read: its dialect strategy (class) has them."""

    @property
    def upper_case_names(self) -> bool:
        """Whether names are stored upper case (Oracle) rather than lower case."""
        ...

    @property
    def identifier_cap(self) -> int | None:
        """Longest identifier the database accepts, in bytes (None: the setting decides)."""
        ...

    @property
    def forbidden_column_names(self) -> frozenset[str]:
        """Column names the database refuses even quoted (in its case)."""
        ...


def max_identifier_length(config: Mapping[str, Any], rules: NamingRules) -> int:
    """Longest identifier, in bytes, the target creates on the database of `rules`."""
    configured = int(config.get("max_identifier_length") or DEFAULT_MAX_IDENTIFIER_LENGTH)
    cap = rules.identifier_cap
    return min(configured, cap) if cap else configured


def identifier(
    name: str,
    rules: NamingRules,
    max_length: int,
    *,
    empty_prefix: str = "c_",
    forbidden: frozenset[str] = frozenset(),
) -> str:
    """Turn any name into a safe identifier for the database of `rules` (see the module).

    `forbidden` names (in the database's case) get `empty_prefix` in front.
    """
    upper = rules.upper_case_names
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


def table_name(config: Mapping[str, Any], stream_name: str, rules: NamingRules) -> str:
    """Name of the table that holds `stream_name`, as stored in the database."""
    prefix = config.get("table_prefix") or ""
    return identifier(
        f"{prefix}{stream_name}",
        rules,
        max_identifier_length(config, rules),
        empty_prefix="t_",
    )


def column_name(config: Mapping[str, Any], name: str, rules: NamingRules) -> str:
    """Name of the column that holds property `name`, as stored in the database."""
    return identifier(
        name,
        rules,
        max_identifier_length(config, rules),
        forbidden=rules.forbidden_column_names,
    )
