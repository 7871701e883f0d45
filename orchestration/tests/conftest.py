"""Shared fixtures: clean settings environment, a self-signed certificate for STARTTLS, a
PostgreSQL server and a fresh schema in it."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa


@pytest.fixture(autouse=True)
def clean_settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No GRUPONOS_MELTANO_* variable or .env of the developer leaks into a test."""
    import os

    for name in list(os.environ):
        if name.startswith("GRUPONOS_MELTANO_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def self_signed_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1, made with the openssl command."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server; skipped when missing, except in CI where that fails."""
    from gruponos_testing.postgres import postgres_for_tests

    with postgres_for_tests() as url:
        yield url


@pytest.fixture
def pg_config(postgres_url: str) -> dict[str, Any]:
    """Target settings on that server with a schema of the test's own (its own tables)."""
    schema = f"t_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine.dispose()
    return {"sqlalchemy_url": postgres_url, "default_target_schema": schema}
