"""One module per database: types, values, names, DDL, staging, bulk load, upsert, session.

`strategy_class(name)` returns the strategy for a SQLAlchemy dialect name.
"""

from __future__ import annotations

from target_gruponos_oracle.dialects.base import DialectStrategy
from target_gruponos_oracle.dialects.oracle import OracleStrategy
from target_gruponos_oracle.dialects.postgres import PostgresStrategy
from target_gruponos_oracle.dialects.sqlite import SqliteStrategy

STRATEGIES: dict[str, type[DialectStrategy]] = {
    strategy.name: strategy for strategy in (OracleStrategy, PostgresStrategy, SqliteStrategy)
}


def strategy_class(name: str) -> type[DialectStrategy]:
    """Return the strategy for SQLAlchemy dialect `name`; ValueError for other databases."""
    if name not in STRATEGIES:
        msg = f"Unsupported database {name!r}; use Oracle, PostgreSQL or SQLite."
        raise ValueError(msg)
    return STRATEGIES[name]


__all__ = [
    "STRATEGIES",
    "DialectStrategy",
    "OracleStrategy",
    "PostgresStrategy",
    "SqliteStrategy",
    "strategy_class",
]
