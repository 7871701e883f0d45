"""Fixtures: a WMS simulator, the platform's settings for it, and a Dagster instance."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ORDERS = 120


@pytest.fixture(autouse=True)
def _no_developer_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("GRUPONOS_MELTANO_", "GRUPONOS_DAGSTER_", "DAGSTER_HOME")):
            monkeypatch.delenv(name)


@pytest.fixture
def simulator() -> Iterator[Any]:
    """A WMS simulator on loopback: GNOS with DC01 and DC02."""
    from tap_oracle_wms.simulator import WMSSimulator

    with WMSSimulator(orders=ORDERS, seed=3) as sim:
        yield sim


@pytest.fixture
def platform_env(simulator: Any, tmp_path: Path) -> dict[str, str]:
    """The platform's settings: the simulator, SQLite, a state folder, facilities DC01, DC02."""
    return {
        "GRUPONOS_MELTANO_ORACLE_WMS__BASE_URL": simulator.base_url,
        "GRUPONOS_MELTANO_ORACLE_WMS__USERNAME": simulator.username,
        "GRUPONOS_MELTANO_ORACLE_WMS__PASSWORD": simulator.password,
        "GRUPONOS_MELTANO_ORACLE_WMS__COMPANY_CODE": "GNOS",
        "GRUPONOS_MELTANO_FACILITIES": "DC01,DC02",
        "GRUPONOS_MELTANO_ORACLE_DB__SQLALCHEMY_URL": f"sqlite:///{tmp_path / 'wms.db'}",
        "GRUPONOS_MELTANO_STATE_DIR": str(tmp_path / "state"),
    }


@pytest.fixture
def settings_for(
    platform_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Any]:
    """Build the platform's settings from `platform_env` plus overrides (env names)."""
    from gruponos_meltano_native.config import load_settings

    def build(**extra: str) -> Any:
        for name, value in {**platform_env, **extra}.items():
            monkeypatch.setenv(name, value)
        return load_settings()

    return build


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Any]:
    """A Dagster instance on SQLite in tmp."""
    from dagster import instance_for_test

    home = tmp_path / "dagster"
    home.mkdir()
    with instance_for_test(temp_dir=str(home)) as dagster_instance:
        yield dagster_instance


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server; skipped when missing, except in CI where that fails."""
    from target_gruponos_oracle.testing import postgres_for_tests

    with postgres_for_tests() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A throwaway Redis server (Debian's `redis-server`); skipped when missing, except in CI."""
    from gruponos_dagster.testing import RedisUnavailableError, redis_server
    from target_gruponos_oracle.testing import required_in_ci

    with required_in_ci(redis_server(), RedisUnavailableError, "redis-server") as url:
        yield url
