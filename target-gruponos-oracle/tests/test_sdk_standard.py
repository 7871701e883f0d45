"""The Singer SDK's standard target tests, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from singer_sdk.testing import get_target_test_class
from target_gruponos_oracle.target import TargetGruponosOracle

# The SDK's runner keeps a reference to these dicts; fixtures point them at a fresh
# database before each test.
SQLITE_CONFIG: dict = {}
POSTGRES_CONFIG: dict = {}

_SqliteStandardTests = get_target_test_class(TargetGruponosOracle, config=SQLITE_CONFIG)
_PostgresStandardTests = get_target_test_class(TargetGruponosOracle, config=POSTGRES_CONFIG)


class TestStandardOnSqlite(_SqliteStandardTests):
    """Standard target tests against a fresh SQLite file."""

    @pytest.fixture(autouse=True)
    def _fresh_database(self, tmp_path):
        SQLITE_CONFIG["sqlalchemy_url"] = f"sqlite:///{tmp_path / 'standard.db'}"


class TestStandardOnPostgres(_PostgresStandardTests):
    """Standard target tests against a fresh PostgreSQL database."""

    @pytest.fixture(autouse=True)
    def _fresh_database(self, fresh_postgres_url):
        POSTGRES_CONFIG["sqlalchemy_url"] = fresh_postgres_url
