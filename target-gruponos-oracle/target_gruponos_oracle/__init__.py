"""Bulk-loading Singer target for Oracle, PostgreSQL and SQLite.

`database_rules(config)` is the public way for other programs to reach the target's naming
and connection rules (see `target_gruponos_oracle.rules`); `NamedLock` (with `NamedLockBusy`
and `NamedLockUnsupported`) is a database-wide lock held by a session of its own (see
`target_gruponos_oracle.named_locks`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from target_gruponos_oracle.named_locks import NamedLock, NamedLockBusy, NamedLockUnsupported
    from target_gruponos_oracle.rules import DatabaseRules

__all__ = ["NamedLock", "NamedLockBusy", "NamedLockUnsupported", "database_rules"]
_NAMED_LOCKS = frozenset({"NamedLock", "NamedLockBusy", "NamedLockUnsupported"})


def __getattr__(name: str) -> Any:
    """Import the named-lock classes on first use (they bring SQLAlchemy engines)."""
    if name in _NAMED_LOCKS:
        from target_gruponos_oracle import named_locks

        return getattr(named_locks, name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def database_rules(config: Mapping[str, Any], dialect: str | None = None) -> DatabaseRules:
    """Naming and connection rules for the target settings `config` (`rules.database_rules`)."""
    # Imported here: `import target_gruponos_oracle.naming` stays free of SQLAlchemy engines.
    from target_gruponos_oracle.rules import database_rules as rules

    return rules(config, dialect)
