"""Bulk-loading Singer target for Oracle, PostgreSQL and SQLite.

`database_rules(config)` is the public way for other programs to reach the target's naming
and connection rules (see `target_gruponos_oracle.rules`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from target_gruponos_oracle.rules import DatabaseRules

__all__ = ["database_rules"]


def database_rules(config: Mapping[str, Any], dialect: str | None = None) -> DatabaseRules:
    """Naming and connection rules for the target settings `config` (`rules.database_rules`)."""
    # Imported here: `import target_gruponos_oracle.naming` stays free of SQLAlchemy engines.
    from target_gruponos_oracle.rules import database_rules as rules

    return rules(config, dialect)
