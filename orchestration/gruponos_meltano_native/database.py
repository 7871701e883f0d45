"""Connections to the target database, for reconciliation and for API users."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from target_gruponos_oracle import database_rules

from gruponos_meltano_native.config import GruponosMeltanoSettings
from gruponos_meltano_native.errors import ConnectivityError

log = logging.getLogger(__name__)

DIALECTS = {"oracle": "oracle", "postgresql": "postgresql", "sqlite": "sqlite"}

# Dialects every machine can share (state and lock in the database); SQLite is one machine's.
SHARED_DIALECTS = ("postgresql", "oracle")


def shares_database(target_config: dict[str, Any]) -> bool:
    """Tell whether the target database is one every machine can share (PostgreSQL, Oracle).

    An unsupported database is refused where it is used (with the run's report), not here.
    """
    try:
        return database_rules(target_config).dialect in SHARED_DIALECTS
    except ValueError:
        return False


def database_url(target_config: dict[str, Any]) -> str:
    """Return the URL the target writes to, built by the target's own connection rules."""
    return database_rules(target_config).url


def create_db_engine(target_config: dict[str, Any], pool_size: int = 5) -> Engine:
    """Create a pooled engine to the target's database that checks connections before use.

    URL, driver arguments (e.g. Oracle over TCPS) and session setup come from the target's
    public rules, so the orchestrator reaches the very database the target loads.
    """
    rules = database_rules(target_config)
    options: dict[str, Any] = {"pool_pre_ping": True}
    if rules.dialect == "oracle":
        options.update(pool_size=pool_size, max_overflow=pool_size)
    return rules.create_engine(**options)


def dialect_of(engine: Engine) -> str:
    """Return the naming dialect (`oracle`, `postgresql`, `sqlite`) of an engine."""
    name = engine.dialect.name
    if name not in DIALECTS:
        raise ConnectivityError(f"unsupported database dialect {name!r}")
    return DIALECTS[name]


def connect_with_retry(engine: Engine, attempts: int = 3, backoff: float = 1.0) -> Connection:
    """Return a live connection from the pool, retried with exponential backoff."""
    last: Exception | None = None
    for attempt in range(attempts):
        try:
            connection = engine.connect()
            connection.execute(sa.text(_ping_sql(engine)))
            return connection
        except sa.exc.SQLAlchemyError as exc:
            last = exc
            if attempt + 1 < attempts:
                time.sleep(backoff * 2**attempt)
    # The URL is shown without its password; the driver's message carries no credentials.
    shown = engine.url.render_as_string(hide_password=True)
    raise ConnectivityError(f"cannot connect to database {shown}: {_short(last)}") from None


def platform_table(
    target_config: dict[str, Any], dialect: str, name: str, *items: sa.schema.SchemaItem
) -> sa.Table:
    """Return one of the platform's own tables as the target would name it on `dialect`.

    The target's rules give its name (upper case on Oracle) and schema, so it lives beside
    the loaded tables.
    """
    rules = database_rules(target_config, dialect)
    # SQLAlchemy's lower-case names are the database's case-insensitive form.
    return sa.Table(rules.identifier(name).lower(), sa.MetaData(), *items, schema=rules.schema)


def ensure_table(engine: Engine, table: sa.Table) -> None:
    """Create `table` unless it exists (another machine may be creating it at the same time)."""
    with engine.begin() as connection:
        if sa.inspect(connection).has_table(table.name, schema=table.schema):
            return
    if table.schema and engine.dialect.name == "postgresql":
        # The target creates its schema when it first loads; the lock and the state come
        # first. (Oracle schemas are users a DBA creates.) A concurrent creator is no error.
        with contextlib.suppress(sa.exc.DatabaseError), engine.begin() as connection:
            connection.execute(sa.schema.CreateSchema(table.schema, if_not_exists=True))
    try:
        with engine.begin() as connection:
            table.create(connection)
        log.info("created table %s", table.name)
    except sa.exc.DatabaseError:
        # The other machine won: its table is as good as ours.
        with engine.begin() as connection:
            if not sa.inspect(connection).has_table(table.name, schema=table.schema):
                raise


def _ping_sql(engine: Engine) -> str:
    return "SELECT 1 FROM DUAL" if engine.dialect.name == "oracle" else "SELECT 1"


def _short(exc: Exception | None) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass
class ConnectionResult:
    """What `get_connection()` returns: `success`, `data` (the connection) and `error`."""

    success: bool
    data: Connection | None = None
    error: str | None = None


class OracleConnectionManager:
    """Pooled, health-checked, retried connections to the target database (async API)."""

    def __init__(self, settings: GruponosMeltanoSettings, attempts: int = 3) -> None:
        """Connect lazily to the database the settings name."""
        self._config = settings.target_config()
        self._attempts = attempts
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        """The pooled SQLAlchemy engine (created on first use)."""
        if self._engine is None:
            self._engine = create_db_engine(self._config)
        return self._engine

    async def get_connection(self) -> ConnectionResult:
        """Return a checked connection as a result: `success`, `data` (the connection), `error`.

        `data` is a SQLAlchemy `Connection` (close it when done). A database that cannot be
        reached (after the retries) is `success=False` with the cause in `error`, not an
        exception.
        """
        try:
            connection = await asyncio.to_thread(connect_with_retry, self.engine, self._attempts)
        except (ConnectivityError, sa.exc.SQLAlchemyError, ValueError) as exc:
            return ConnectionResult(success=False, error=str(exc))
        return ConnectionResult(success=True, data=connection)

    async def test_connection(self) -> bool:
        """Tell whether the database answers."""
        result = await self.get_connection()
        if result.data is not None:
            result.data.close()
        return result.success

    async def close(self) -> None:
        """Close every pooled connection."""
        if self._engine is not None:
            await asyncio.to_thread(self._engine.dispose)
            self._engine = None
