"""Dagster fixtures on top of the end-to-end ones (../conftest.py): the platform's settings
with a company and its facilities, a Dagster instance, a Redis server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _no_developer_dagster_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("GRUPONOS_DAGSTER_") or name == "DAGSTER_HOME":
            monkeypatch.delenv(name)


@pytest.fixture
def platform_env(platform_env: dict[str, str]) -> dict[str, str]:
    """The end-to-end settings plus the partitions' source: GNOS with DC01 and DC02."""
    return {
        **platform_env,
        "GRUPONOS_MELTANO_ORACLE_WMS__COMPANY_CODE": "GNOS",
        "GRUPONOS_MELTANO_FACILITIES": "DC01,DC02",
    }


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Any]:
    """A Dagster instance on SQLite in tmp."""
    from dagster import instance_for_test

    home = tmp_path / "dagster"
    home.mkdir()
    with instance_for_test(temp_dir=str(home)) as dagster_instance:
        yield dagster_instance


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A throwaway Redis server (Debian's `redis-server`); skipped when missing, except in CI."""
    from gruponos_testing.dagster_deployment import RedisUnavailableError, redis_server
    from gruponos_testing.postgres import required_in_ci

    with required_in_ci(redis_server(), RedisUnavailableError, "redis-server") as url:
        yield url
