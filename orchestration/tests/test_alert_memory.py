"""The alerts' memory in the target database (real PostgreSQL; Oracle compiled, and live when
TARGET_ORACLE_TEST_URL is set), and in a file while the database is unreachable."""

from __future__ import annotations

import os
import uuid

import pytest
from gruponos_meltano_native.observe.alert_memory import (
    DatabaseAlertMemory,
    FileAlertMemory,
    alert_memory,
    alert_memory_table,
    merge,
)
from sqlalchemy.dialects import oracle
from sqlalchemy.schema import CreateTable

ORACLE_URL = os.environ.get("TARGET_ORACLE_TEST_URL")

UNREACHABLE = {"sqlalchemy_url": "postgresql+psycopg://u:p@127.0.0.1:9/none"}


def test_the_file_stands_in_while_the_database_is_unreachable_and_is_taken_over(
    pg_config, tmp_path
):
    file = FileAlertMemory(tmp_path / "alerts.json")
    with DatabaseAlertMemory(UNREACHABLE, file).scope("j/GNOS/DC01") as entry:
        entry.update(failing=True, alerted=True)
    assert file.pop("j/GNOS/DC01") == {"failing": True, "alerted": True}
    with file.scope("j/GNOS/DC01") as entry:
        entry.update(failing=True, alerted=True)
    # Back online: the database takes the entry over, and the file no longer has it.
    with DatabaseAlertMemory(pg_config, file).scope("j/GNOS/DC01") as entry:
        assert entry == {"failing": True, "alerted": True}
        entry.clear()
    assert file.pop("j/GNOS/DC01") == {}
    with DatabaseAlertMemory(pg_config, file).scope("j/GNOS/DC01") as entry:
        assert entry == {}


def test_two_memories_of_a_scope_merge_without_forgetting_a_failure_or_a_send():
    one = {"failing": True, "last_sent": {"failure": "2026-12-01T10:00:00+00:00"}}
    other = {"alerted": True, "last_sent": {"failure": "2026-12-01T11:00:00+00:00"}}
    assert merge(one, other) == {
        "failing": True,
        "alerted": True,
        "last_sent": {"failure": "2026-12-01T11:00:00+00:00"},
    }
    assert merge({}, {}) == {}


def test_sqlite_targets_keep_the_memory_file(tmp_path):
    memory = alert_memory(tmp_path, {"sqlalchemy_url": f"sqlite:///{tmp_path / 'w.db'}"})
    assert isinstance(memory, FileAlertMemory) and memory.path == tmp_path / "alerts.json"


def test_oracle_alert_memory_table_ddl():
    table = alert_memory_table({"default_target_schema": "wms"}, "oracle")
    ddl = str(CreateTable(table).compile(dialect=oracle.dialect()))
    assert 'CREATE TABLE "WMS".gruponos_alert_memory' in ddl
    assert "scope VARCHAR2(200 CHAR) NOT NULL" in ddl and "memory CLOB NOT NULL" in ddl
    update = table.update().where(table.c.scope == "s").values(memory="{}", updated_at="t")
    assert str(update.compile(dialect=oracle.dialect())) == (
        'UPDATE "WMS".gruponos_alert_memory SET memory=:memory, updated_at=:updated_at '
        'WHERE "WMS".gruponos_alert_memory.scope = :scope_1'
    )


@pytest.mark.skipif(
    not ORACLE_URL,
    reason="TARGET_ORACLE_TEST_URL is not set: no Oracle server runs here; this keeps the "
    "alert memory in a real Oracle when it is",
)
def test_oracle_keeps_the_alert_memory(tmp_path):
    scope = f"test/{uuid.uuid4().hex[:8]}/DC01"
    memory = DatabaseAlertMemory({"sqlalchemy_url": ORACLE_URL}, FileAlertMemory(tmp_path / "a"))
    with memory.scope(scope) as entry:
        entry.update(failing=True)
    with memory.scope(scope) as entry:
        assert entry == {"failing": True}
        entry.clear()
    assert not (tmp_path / "a").exists()
