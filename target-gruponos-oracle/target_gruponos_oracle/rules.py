"""The target's naming and connection rules for other programs (the orchestration, analysts).

`database_rules(config)` answers, for the target's own settings: which URL and driver
arguments reach the database, which schema, table and column names the target uses, and
an engine set up the way the target's sessions are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from target_gruponos_oracle import naming
from target_gruponos_oracle.connector import connection_url, create_engine
from target_gruponos_oracle.dialects import DialectStrategy, strategy_class


@dataclass(frozen=True)
class DatabaseRules:
    """Naming and connection rules of the target under one set of settings."""

    config: Mapping[str, Any]
    dialect: str  # SQLAlchemy dialect name: oracle, postgresql or sqlite

    @property
    def strategy(self) -> type[DialectStrategy]:
        """The database's rules (its dialect strategy)."""
        return strategy_class(self.dialect)

    @property
    def url(self) -> str:
        """The database URL the target connects to (ValueError when the settings name none)."""
        return connection_url(self.config)

    @property
    def connect_args(self) -> dict[str, Any]:
        """Driver connect() arguments (Oracle over TCPS spells out its address)."""
        return self.strategy.connect_args(self.config)

    @property
    def schema(self) -> str | None:
        """The schema holding the tables (None: the login's own, or SQLite's main)."""
        return self.strategy.schema_for(self.config)

    def table_name(self, stream: str) -> str:
        """Return the table that holds `stream`, as stored."""
        return naming.table_name(self.config, stream, self.strategy)

    def identifier(self, name: str) -> str:
        """Return `name` made an identifier by the target's rules, without `table_prefix`.

        For objects of other programs that live beside the target's tables (a run-history
        table), so they follow the same case and length rules.
        """
        return naming.identifier(
            name, self.strategy, naming.max_identifier_length(self.config, self.strategy)
        )

    def column_name(self, prop: str) -> str:
        """Return the column that holds property `prop`, as stored."""
        return naming.column_name(self.config, prop, self.strategy)

    def create_engine(self, **options: Any) -> sa.Engine:
        """Return an engine set up like the target's; `options` go to create_engine."""
        return create_engine(self.config, self.url, **options)


def database_rules(config: Mapping[str, Any], dialect: str | None = None) -> DatabaseRules:
    """Return the naming and connection rules for the target settings `config`.

    `dialect` (``oracle``, ``postgresql``, ``sqlite``) is read from the settings' URL when
    not given; naming rules need no URL when it is given.

    Raises:
        ValueError: the settings name no database, or one the target does not support.

    """
    if dialect is None:
        dialect = sa.make_url(connection_url(config)).get_backend_name()
    strategy_class(dialect)  # refuses unsupported databases here, with a clear message
    return DatabaseRules(config=dict(config), dialect=dialect)
