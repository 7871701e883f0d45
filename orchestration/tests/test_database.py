"""Connections to the target's database: retried, and named without the password."""

from __future__ import annotations

import asyncio
import socket

import pytest
import sqlalchemy as sa
from gruponos_meltano_native.config import load_settings
from gruponos_meltano_native.database import (
    OracleConnectionManager,
    connect_with_retry,
    create_db_engine,
)
from gruponos_meltano_native.errors import ConnectivityError

PASSWORD = "s3cret-db-pass"


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://loader:{password}@127.0.0.1:{port}/wms",
        "oracle+oracledb://loader:{password}@127.0.0.1:{port}/?service_name=FREEPDB1",
    ],
)
def test_an_unreachable_database_is_tried_again_then_named_without_its_password(url):
    engine = create_db_engine({"sqlalchemy_url": url.format(password=PASSWORD, port=closed_port())})
    attempts: list[object] = []
    sa.event.listen(engine, "do_connect", lambda *args: attempts.append(args))
    with pytest.raises(ConnectivityError) as caught:
        connect_with_retry(engine, attempts=3, backoff=0.01)
    message = str(caught.value)
    assert len(attempts) == 3
    assert message.startswith(f"cannot connect to database {engine.url.drivername}://loader:***@")
    assert PASSWORD not in message
    assert len(message.splitlines()) == 1  # the driver's first line, not a traceback


def test_the_manager_checks_its_connection_keeps_one_pool_and_closes_it(tmp_path, monkeypatch):
    monkeypatch.setenv("GRUPONOS_MELTANO_ORACLE_DB__SQLALCHEMY_URL", f"sqlite:///{tmp_path}/t.db")
    manager = OracleConnectionManager(load_settings())

    async def use() -> tuple[bool, bool, bool]:
        healthy = await manager.test_connection()
        pool = manager.engine
        same = manager.engine is pool
        await manager.close()
        return healthy, same, manager.engine is not pool

    assert asyncio.run(use()) == (True, True, True)
