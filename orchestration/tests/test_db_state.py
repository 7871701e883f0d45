"""The Singer state in the target database: real PostgreSQL (and Oracle when
TARGET_ORACLE_TEST_URL is set), its Oracle statements compiled, state files taken over."""

from __future__ import annotations

import json
import os
import re
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from gruponos_meltano_native.errors import StateError
from gruponos_meltano_native.pipeline.db_state import (
    TAKEN_OVER_SUFFIX,
    DatabaseStateStore,
    state_store,
    state_table,
)
from gruponos_meltano_native.state import StateKey, StateStore
from sqlalchemy.dialects import oracle
from sqlalchemy.schema import CreateTable

ORACLE_URL = os.environ.get("TARGET_ORACLE_TEST_URL")
DC01 = StateKey("incremental-sync-job", "GNOS", "DC01")
DC02 = StateKey("incremental-sync-job", "GNOS", "DC02")


# Distinct bookmark times, named for what each test tells apart (a state must hold times).
_TIMES = {
    name: f"2026-01-{day:02d}T00:00:00+00:00"
    for day, name in enumerate(["a", "b", "c", "x", "from-file", "shared", "local"], 1)
}


def _bookmark(name: str) -> dict[str, Any]:
    return {"bookmarks": {"order_hdr": {"replication_key_value": _TIMES[name]}}}


def _exercise(store: StateStore, one: StateKey, two: StateKey) -> None:
    """What every store must do: per key, replace, list, clear."""
    store.put(one, _bookmark("a"), "run-1")
    store.put(two, _bookmark("b"), "run-1")
    store.put(one, _bookmark("c"), "run-2")
    assert store.get(one) == _bookmark("c")
    assert store.get(two) == _bookmark("b")
    assert store.get(StateKey("full-sync-job", one.company, one.facility)) is None
    mine = [e for e in store.entries() if e["job"] == one.job]
    assert [(e["facility"], e["run_id"], e["value"]) for e in mine] == [
        (one.facility, "run-2", _bookmark("c")),
        (two.facility, "run-1", _bookmark("b")),
    ]
    assert store.clear(one) is True
    assert store.get(one) is None
    assert store.clear(one) is False


def test_postgresql_keeps_state_per_job_company_and_facility_in_the_database(pg_config, tmp_path):
    store = state_store(tmp_path / "a", pg_config)
    assert isinstance(store, DatabaseStateStore)
    _exercise(store, DC01, DC02)
    # Another machine (another state folder) sees what this one wrote.
    store.put(DC01, _bookmark("x"), "run-3")
    other = state_store(tmp_path / "b", pg_config)
    assert other.get(DC01) == _bookmark("x")
    assert "gruponos_singer_state[incremental-sync-job/GNOS/DC01]" in other.location(DC01)
    assert not (tmp_path / "a" / "bookmarks").exists()  # nothing written to files


def test_sqlite_keeps_the_state_files(tmp_path):
    store = state_store(tmp_path, {"sqlalchemy_url": f"sqlite:///{tmp_path / 'wms.db'}"})
    assert type(store) is StateStore
    store.put(DC01, _bookmark("a"), "run-1")
    assert store.path(DC01).is_file()
    assert store.location(DC01) == str(store.path(DC01))


def test_a_state_file_is_taken_over_on_first_use_and_never_read_again(pg_config, tmp_path):
    files = StateStore(tmp_path)
    files.put(DC01, _bookmark("from-file"), "old-run")
    store = state_store(tmp_path, pg_config)
    assert store.get(DC01) == _bookmark("from-file")
    assert [e["run_id"] for e in store.entries()] == ["old-run"]
    assert not files.path(DC01).exists()
    assert files.path(DC01).with_name("DC01.json" + TAKEN_OVER_SUFFIX).is_file()
    # Cleared in the database, the state stays cleared: the old file is not taken again.
    store.clear(DC01)
    assert state_store(tmp_path, pg_config).get(DC01) is None


def test_the_database_state_wins_over_a_file_of_another_machine(pg_config, tmp_path):
    state_store(tmp_path / "a", pg_config).put(DC01, _bookmark("shared"), "run-a")
    StateStore(tmp_path / "b").put(DC01, _bookmark("local"), "run-b")
    assert state_store(tmp_path / "b", pg_config).get(DC01) == _bookmark("shared")


def test_a_damaged_state_file_to_take_over_is_named(pg_config, tmp_path):
    path = StateStore(tmp_path).path(DC01)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"job": DC01.job}))
    with pytest.raises(StateError, match=re.escape(str(path))):
        state_store(tmp_path, pg_config).get(DC01)


def test_an_unreachable_database_is_a_state_error_naming_the_table(tmp_path):
    config = {"sqlalchemy_url": "postgresql+psycopg://u:secret@127.0.0.1:9/none"}
    with pytest.raises(StateError, match="gruponos_singer_state") as caught:
        state_store(tmp_path, config).get(DC01)
    assert "secret" not in str(caught.value)


# Oracle: the statements the store sends, compiled with SQLAlchemy's Oracle dialect ----------


class _Recorder:
    """Stands in for a connection: compiles each statement for Oracle, matches no row."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def execute(self, statement: Any, parameters: Any = None) -> Any:
        self.statements.append(str(statement.compile(dialect=oracle.dialect())))
        return type("Result", (), {"rowcount": 0})()


def _oracle_table() -> sa.Table:
    return state_table({"default_target_schema": "wms"}, "oracle")


def test_oracle_state_table_ddl_is_what_oracle_accepts():
    ddl = str(CreateTable(_oracle_table()).compile(dialect=oracle.dialect()))
    # Oracle upper-cases unquoted names (SQL Language Reference, Database Object Names):
    # the table is GRUPONOS_SINGER_STATE, in the schema the target names "WMS".
    assert 'CREATE TABLE "WMS".gruponos_singer_state' in ddl
    assert "state_value CLOB NOT NULL" in ddl  # > 4,000 bytes: VARCHAR2 would refuse it
    assert "job VARCHAR2(64 CHAR) NOT NULL" in ddl
    assert "PRIMARY KEY (job, company, facility)" in ddl
    assert not ddl.rstrip().endswith(";")


def test_oracle_state_commit_is_an_update_then_an_insert_in_one_transaction(tmp_path):
    recorder = _Recorder()
    store = DatabaseStateStore(tmp_path, {"sqlalchemy_url": "oracle+oracledb://u:p@h/s"})
    store._write(recorder, _oracle_table(), StateKey("j", "", "DC01"), _bookmark("a"), "r")  # type: ignore[arg-type]
    update, insert = recorder.statements
    assert update.startswith('UPDATE "WMS".gruponos_singer_state SET state_value=:state_value')
    assert 'WHERE "WMS".gruponos_singer_state.job = :job_1' in update
    assert insert.startswith('INSERT INTO "WMS".gruponos_singer_state (job, company, facility')
    # '' is NULL in Oracle (a key column refuses it): an empty part is stored as '*'.
    assert store._where(_oracle_table(), StateKey("j", "", "DC01"))[1].right.value == "*"


@pytest.mark.skipif(
    not ORACLE_URL,
    reason="TARGET_ORACLE_TEST_URL is not set: no Oracle server runs here; this runs the "
    "state store against a real Oracle when it is",
)
def test_oracle_keeps_state_in_the_database(tmp_path):
    job = f"test-{uuid.uuid4().hex[:8]}"
    store = state_store(tmp_path, {"sqlalchemy_url": ORACLE_URL})
    assert isinstance(store, DatabaseStateStore)
    _exercise(store, StateKey(job, "GNOS", "DC01"), StateKey(job, "GNOS", "DC02"))
    store.clear(StateKey(job, "GNOS", "DC02"))


def test_the_target_schema_is_created_when_the_state_comes_before_the_first_load(
    postgres_url, tmp_path
):
    # The target creates its schema on its first load; a run takes its lock and reads its
    # state before that.
    config = {
        "sqlalchemy_url": postgres_url,
        "default_target_schema": f"new_{uuid.uuid4().hex[:8]}",
    }
    store = state_store(tmp_path, config)
    store.put(DC01, _bookmark("a"), "run-1")
    assert state_store(tmp_path / "other", config).get(DC01) == _bookmark("a")
