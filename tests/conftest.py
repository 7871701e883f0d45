"""End-to-end fixtures: a live WMS simulator, settings pointing at it, and a SQLite target.

Every test here runs the real executables (`tap-oracle-wms`, `target-gruponos-oracle`,
`gruponos-meltano`, `meltano`) as processes over loopback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ORDERS = 150


@pytest.fixture(autouse=True)
def _no_developer_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own GRUPONOS_MELTANO_* variables must not leak into a test."""
    for name in list(os.environ):
        if name.startswith(("GRUPONOS_MELTANO_", "TAP_ORACLE_WMS_", "TARGET_GRUPONOS_ORACLE_")):
            monkeypatch.delenv(name)


@pytest.fixture
def simulator() -> Iterator[Any]:
    """A fresh WMS simulator on loopback (GNOS with DC01 and DC02)."""
    from wms_simulator import WMSSimulator

    with WMSSimulator(orders=ORDERS, seed=3) as sim:
        yield sim


@pytest.fixture
def platform_env(simulator: Any, tmp_path: Path) -> dict[str, str]:
    """GRUPONOS_MELTANO_* settings for the simulator, SQLite and a state folder in tmp."""
    return {
        "GRUPONOS_MELTANO_ORACLE_WMS__BASE_URL": simulator.base_url,
        "GRUPONOS_MELTANO_ORACLE_WMS__USERNAME": simulator.username,
        "GRUPONOS_MELTANO_ORACLE_WMS__PASSWORD": simulator.password,
        "GRUPONOS_MELTANO_ORACLE_DB__SQLALCHEMY_URL": f"sqlite:///{tmp_path / 'wms.db'}",
        "GRUPONOS_MELTANO_STATE_DIR": str(tmp_path / "state"),
    }


@pytest.fixture
def settings_for(
    platform_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Any]:
    """Build settings from `platform_env` plus overrides (same names, as env variables)."""
    from gruponos_meltano_native.config import load_settings

    def build(**extra: str) -> Any:
        for name, value in {**platform_env, **extra}.items():
            monkeypatch.setenv(name, value)
        return load_settings()

    return build


@pytest.fixture
def cli(
    platform_env: dict[str, str], tmp_path: Path
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `gruponos-meltano` as a process with the test's settings (plus `env` overrides)."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> Any:
        full_env = {**os.environ, **platform_env, **(env or {})}
        full_env["PATH"] = f"{BIN}{os.pathsep}{full_env.get('PATH', '')}"
        return subprocess.run(
            [str(BIN / "gruponos-meltano"), *args],
            env=full_env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture
def db(tmp_path: Path) -> Callable[[str], Any]:
    """Run one SQL query on the test's SQLite database and return all rows."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'wms.db'}")

    def query(sql: str) -> Any:
        with engine.connect() as conn:
            return conn.exec_driver_sql(sql).fetchall()

    yield query
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server; skipped when missing, except in CI where that fails."""
    from gruponos_testing.postgres import postgres_for_tests

    with postgres_for_tests() as url:
        yield url
