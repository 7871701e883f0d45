"""The connector: settings → URL → engine (with each database's session setup) → strategy.

Database rules themselves live in `target_gruponos_oracle.dialects` (one module per
database); the connector owns the engine, picks the strategy and reflects what a table
already has.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from singer_sdk.sql import SQLConnector

from target_gruponos_oracle.dialects import DialectStrategy, strategy_class
from target_gruponos_oracle.dialects.tables import ExistingColumn, ExistingKey, TableSpec
from target_gruponos_oracle.errors import SettingsError

if TYPE_CHECKING:
    from target_gruponos_oracle.table_locks import TableLocks

# Settings whose values are secrets: scrubbed from every message the target prints.
SECRET_SETTINGS = ("password", "wallet_password")


def connection_url(config: Mapping[str, Any]) -> str:
    """``sqlalchemy_url`` when given, else an Oracle URL from host/port/service settings.

    With `dsn` the URL carries only the login: the address goes to the driver as its
    ``dsn`` connect parameter (`OracleStrategy.connect_args`).
    """
    if config.get("sqlalchemy_url"):
        return str(config["sqlalchemy_url"])
    if config.get("dsn"):
        login = sa.URL.create(
            "oracle+oracledb", username=config.get("username"), password=config.get("password")
        )
        return login.render_as_string(hide_password=False)
    if not config.get("host"):
        msg = "Set either `sqlalchemy_url`, `dsn` or `host` (with `username`, `password`)."
        raise ValueError(msg)
    query = {}
    if config.get("service_name"):
        query["service_name"] = config["service_name"]
    url = sa.URL.create(
        "oracle+oracledb",
        username=config.get("username"),
        password=config.get("password"),
        host=config["host"],
        port=int(config.get("port") or 1521),
        database=None if config.get("service_name") else config.get("sid"),
        query=query,
    )
    return url.render_as_string(hide_password=False)


# The settings each engine `create_engine` made was made from (for `engine_config`).
_ENGINE_CONFIGS: weakref.WeakKeyDictionary[sa.Engine, Mapping[str, Any]] = (
    weakref.WeakKeyDictionary()
)


def engine_config(engine: sa.Engine) -> Mapping[str, Any]:
    """Return the settings `create_engine` made `engine` from (empty for other engines)."""
    return _ENGINE_CONFIGS.get(engine, {})


def create_engine(config: Mapping[str, Any], url: str | sa.URL, **options: Any) -> sa.Engine:
    """Return an engine on `url` with the database's connect arguments and session setup.

    `options` go to `sqlalchemy.create_engine` (pool settings, …).
    """
    parsed = sa.make_url(url)
    strategy = strategy_class(parsed.get_backend_name())
    options = {**strategy.engine_options(config), **options}
    options["connect_args"] = {**strategy.connect_args(config), **options.get("connect_args", {})}
    engine = sa.create_engine(parsed, **options)

    def setup_session(dbapi_connection: Any, record: Any) -> None:
        strategy.setup_session(dbapi_connection, record, config)

    def explain(context: sa.engine.ExceptionContext) -> BaseException | None:
        # Connection errors only (no connection yet): the strategy names the setting.
        if context.connection is not None:
            return None
        advice = strategy.explain_connect_error(context.original_exception, config)
        return None if advice is None else SettingsError(advice)

    sa.event.listen(engine, "handle_error", explain)
    sa.event.listen(engine, "connect", setup_session)
    _ENGINE_CONFIGS[engine] = config
    return engine


class GruponosConnector(SQLConnector):
    """Owns the engine (URL from the settings) and the dialect strategy."""

    # Passwords seen in settings, so failure messages can be scrubbed of them.
    _secrets: ClassVar[set[str]] = set()
    _URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")

    @classmethod
    def scrub(cls, text: str) -> str:
        """`text` with every known password and any URL password replaced by ``***``."""
        for secret in sorted(cls._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return cls._URL_PASSWORD.sub(r"\1***@", text)

    def __init__(self, config: dict | None = None, sqlalchemy_url: str | None = None) -> None:
        """Connector for the target `config`."""
        super().__init__(config, sqlalchemy_url)
        self._strategy: DialectStrategy | None = None
        self._prepared = False
        self._table_locks: TableLocks | None = None
        # Tables that `overwrite` has already emptied in this run.
        self.tables_overwritten: set[str] = set()

    def get_sqlalchemy_url(self, config: dict[str, Any]) -> str:
        """Return the URL the settings name (see `connection_url`)."""
        for name in SECRET_SETTINGS:
            if config.get(name):
                self._secrets.add(str(config[name]))
        return connection_url(config)

    def create_engine(self) -> sa.Engine:
        """Engine with the database's session setup (offset time zone, WAL, …)."""
        url = sa.make_url(self.sqlalchemy_url)
        if url.password:
            self._secrets.add(str(url.password))
        return create_engine(self.config, self.sqlalchemy_url)

    def connect_args(self, backend: str) -> dict[str, Any]:
        """Driver connect() arguments for `backend` under these settings."""
        return strategy_class(backend).connect_args(self.config)

    @property
    def engine(self) -> sa.Engine:
        """The shared engine."""
        return self._engine

    @property
    def strategy(self) -> DialectStrategy:
        """The rules for this engine's database."""
        if self._strategy is None:
            dialect = self._engine.dialect
            self._strategy = strategy_class(dialect.name)(dialect, self.config)
        return self._strategy

    @property
    def table_locks(self) -> TableLocks:
        """The tables' named locks (column replacement beside other loads)."""
        if self._table_locks is None:
            from target_gruponos_oracle.table_locks import TableLocks  # it uses this module

            self._table_locks = TableLocks(self._engine, self.strategy)
        return self._table_locks

    def existing_columns(
        self, conn: sa.Connection, spec: TableSpec
    ) -> dict[str, ExistingColumn] | None:
        """Columns already in the table (None when the table does not exist).

        The first call (every table change starts here) lets the strategy learn what the
        server allows, before any table is created or changed.
        """
        if not self._prepared:
            self.strategy.prepare(conn)
            self._prepared = True
        inspector = sa.inspect(conn)
        if not inspector.has_table(spec.name, schema=spec.schema):
            return None
        columns = {
            _stored_name(conn, column["name"]): self.strategy.existing_kind(column["type"])
            for column in inspector.get_columns(spec.name, schema=spec.schema)
        }
        for name in self.strategy.byte_length_columns(conn, spec):
            if name in columns:
                columns[name] = replace(columns[name], byte_semantics=True)
        return columns

    def existing_key(self, conn: sa.Connection, spec: TableSpec) -> ExistingKey:
        """Return the table's primary key, unique indexes and index names."""
        inspector = sa.inspect(conn)
        constraint = inspector.get_pk_constraint(spec.name, schema=spec.schema)
        indexes = inspector.get_indexes(spec.name, schema=spec.schema)
        return ExistingKey(
            primary=[_stored_name(conn, n) for n in constraint.get("constrained_columns") or []],
            unique=[
                # Expression columns (Oracle indexes TIMESTAMP WITH TIME ZONE by its UTC
                # value) are reported as None; the index name still identifies the index.
                [_stored_name(conn, n) for n in index["column_names"] if n is not None]
                for index in indexes
                if index.get("unique")
            ],
            index_names={_stored_name(conn, index["name"]) for index in indexes if index["name"]},
        )


def _stored_name(conn: sa.Connection, reflected: str) -> str:
    """Return the name as stored (SQLAlchemy reports Oracle's uppercase names lowercased)."""
    if conn.dialect.requires_name_normalize:
        return str(conn.dialect.denormalize_name(reflected))
    return reflected
