"""Shared fixtures: real databases (SQLite, a PostgreSQL server started here, Oracle when
TARGET_ORACLE_TEST_URL is set) and helpers to run the target in-process or as a process."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from gruponos_testing.postgres import postgres_for_tests
from target_gruponos_oracle import naming
from target_gruponos_oracle.dialects import strategy_class
from target_gruponos_oracle.target import TargetGruponosOracle

EXECUTABLE = Path(sys.executable).parent / "target-gruponos-oracle"
ORACLE_URL = os.environ.get("TARGET_ORACLE_TEST_URL")
_counter = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server_url():
    """One throwaway PostgreSQL server for the whole session."""
    with postgres_for_tests() as url:
        yield url


@dataclass
class Database:
    """A fresh, empty database (or table namespace) for one test."""

    dialect: str
    url: str
    extra_config: dict[str, Any] = field(default_factory=dict)

    def config(self, **settings: Any) -> dict[str, Any]:
        """Target settings pointing at this database."""
        return {"sqlalchemy_url": self.url, **self.extra_config, **settings}

    def table(self, stream: str, **settings: Any) -> str:
        """The stored table name for `stream`."""
        return naming.table_name(self.config(**settings), stream, strategy_class(self.dialect))

    def column(self, prop: str, **settings: Any) -> str:
        """The stored column name for `prop`."""
        return naming.column_name(self.config(**settings), prop, strategy_class(self.dialect))

    def engine(self) -> sa.Engine:
        """An engine on this database."""
        return sa.create_engine(self.url)

    def rows(self, stream: str, order_by: str | None = "id", **settings: Any) -> list[dict]:
        """All rows of `stream`'s table as dicts keyed by *property-style* lowercase names."""
        table = self.table(stream, **settings)
        quote = sa.create_engine(self.url).dialect.identifier_preparer.quote_identifier
        sql = f"SELECT * FROM {quote(table)}"
        if order_by:
            sql += f" ORDER BY {quote(self.column(order_by, **settings))}"
        engine = self.engine()
        try:
            with engine.connect() as conn:
                result = conn.exec_driver_sql(sql)
                return [
                    {key.lower(): value for key, value in row._mapping.items()} for row in result
                ]
        finally:
            engine.dispose()

    def count(self, stream: str, **settings: Any) -> int:
        """Number of rows in `stream`'s table."""
        return len(self.rows(stream, order_by=None, **settings))

    def column_names(self, stream: str, **settings: Any) -> list[str]:
        """Stored column names of `stream`'s table."""
        engine = self.engine()
        try:
            with engine.connect() as conn:
                table = self.table(stream, **settings)
                return [
                    conn.dialect.denormalize_name(c["name"])
                    if conn.dialect.requires_name_normalize
                    else c["name"]
                    for c in sa.inspect(conn).get_columns(table)
                ]
        finally:
            engine.dispose()


def _postgres_database(server_url: str) -> str:
    name = f"t{os.getpid()}_{next(_counter)}"
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def fresh_postgres_url(postgres_server_url) -> str:
    """URL of a new, empty database on the session's PostgreSQL server."""
    return _postgres_database(postgres_server_url)


DIALECTS = ["sqlite", "postgresql", "oracle"]
NO_ORACLE = (
    "TARGET_ORACLE_TEST_URL is not set: no Oracle server runs here; the Oracle variant runs "
    "against a real Oracle (README: Oracle Database Free in a container)"
)


@pytest.fixture(params=DIALECTS)
def db(request, tmp_path) -> Database:
    """A fresh database on each engine the suite runs against."""
    if request.param == "sqlite":
        return Database("sqlite", f"sqlite:///{tmp_path / 'target.db'}")
    if request.param == "postgresql":
        return Database("postgresql", request.getfixturevalue("fresh_postgres_url"))
    if not ORACLE_URL:
        pytest.skip(NO_ORACLE)
    # Oracle: a unique table prefix per test keeps tests apart in one schema.
    import oracledb

    oracledb.defaults.fetch_decimals = True  # read NUMBER back exactly
    oracledb.defaults.fetch_lobs = False  # read CLOB back as str
    prefix = f"T{os.getpid() % 1000}_{next(_counter)}_"
    request.addfinalizer(lambda: _drop_oracle_tables(prefix))
    return Database("oracle", str(ORACLE_URL), {"table_prefix": prefix})


@pytest.fixture
def oracle_db(request) -> Database:
    """A table namespace on the Oracle of TARGET_ORACLE_TEST_URL (the caller skips without)."""
    import oracledb

    oracledb.defaults.fetch_decimals = True
    oracledb.defaults.fetch_lobs = False
    prefix = f"L{os.getpid() % 1000}_{next(_counter)}_"
    request.addfinalizer(lambda: _drop_oracle_tables(prefix))
    return Database("oracle", str(ORACLE_URL), {"table_prefix": prefix})


def _drop_oracle_tables(prefix: str) -> None:
    engine = sa.create_engine(ORACLE_URL)
    with engine.begin() as conn:
        names = conn.exec_driver_sql(
            "SELECT table_name FROM user_tables WHERE table_name LIKE :p", {"p": prefix + "%"}
        ).scalars()
        for name in list(names):
            conn.exec_driver_sql(f'DROP TABLE "{name}" PURGE')
    engine.dispose()


# Singer messages and runners, handed to tests through the `h` fixture -------------------


class Helpers:
    """Build Singer messages and run the target (in-process or as the real executable)."""

    executable = EXECUTABLE

    @staticmethod
    def schema(stream: str, properties: dict, keys: list[str] | None = None) -> dict:
        """A SCHEMA message."""
        return {
            "type": "SCHEMA",
            "stream": stream,
            "schema": {"type": "object", "properties": properties},
            "key_properties": keys if keys is not None else ["id"],
        }

    @staticmethod
    def record(stream: str, data: dict, **extra: Any) -> dict:
        """A RECORD message."""
        return {"type": "RECORD", "stream": stream, "record": data, **extra}

    @staticmethod
    def state(value: dict) -> dict:
        """A STATE message."""
        return {"type": "STATE", "value": value}

    @staticmethod
    def activate_version(stream: str, version: int) -> dict:
        """An ACTIVATE_VERSION message."""
        return {"type": "ACTIVATE_VERSION", "stream": stream, "version": version}

    @staticmethod
    def singer_lines(messages: list[dict | str]) -> str:
        """Messages as Singer lines; strings are written as they are (for bad input)."""
        return "".join(
            (m if isinstance(m, str) else json.dumps(m, default=str)) + "\n" for m in messages
        )

    @staticmethod
    def run_target(config: dict, messages: list[dict | str]) -> list[dict]:
        """Run the target in-process; return the STATE values it emitted."""
        target = TargetGruponosOracle(config=config)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            target.listen(io.BytesIO(Helpers.singer_lines(messages).encode()))
        return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]

    @staticmethod
    def run_cli(
        config: dict, messages: list[dict | str], tmp_path: Path
    ) -> subprocess.CompletedProcess:
        """Run the real executable as a process."""
        config_path = tmp_path / f"config-{next(_counter)}.json"
        config_path.write_text(json.dumps(config))
        return subprocess.run(
            [str(EXECUTABLE), "--config", str(config_path)],
            input=Helpers.singer_lines(messages),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    @staticmethod
    def as_decimal(value: Any) -> Decimal:
        """Numbers read back from any engine (SQLite keeps exact decimal text)."""
        return Decimal(str(value))


@pytest.fixture
def h() -> type[Helpers]:
    """The helpers."""
    return Helpers
