"""A schema change while another load of the table holds it: the change waits, then
retries with backoff, and the run completes (real SQLite and PostgreSQL here; Oracle in
`test_oracle_live.py` when TARGET_ORACLE_TEST_URL is set)."""

from __future__ import annotations

import sqlite3
import threading
import time

from gruponos_testing.postgres import wait_for

ITEMS = {"id": {"type": "integer"}, "qty": {"type": "integer"}}
WIDER = {**ITEMS, "note": {"type": ["null", "string"]}}
RETRY_LOGGED = "waits: another load holds the table"


def test_sqlite_schema_change_retries_with_backoff_while_another_load_holds_the_lock(
    tmp_path, h, caplog
):
    # SQLite answers "database is locked" once its busy timeout (0.2 s here) is over,
    # as Oracle answers ORA-00054 once DDL_LOCK_TIMEOUT is over: the same retry path.
    path = tmp_path / "target.db"
    config = {"sqlalchemy_url": f"sqlite:///{path}?timeout=0.2"}
    h.run_target(config, [h.schema("items", ITEMS), h.record("items", {"id": 1, "qty": 1})])
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another load's batch: uncommitted, holds the lock
    other.execute('INSERT INTO "items" ("id", "qty") VALUES (2, 2)')

    def commit_after_the_first_retry() -> None:
        wait_for(lambda: RETRY_LOGGED in caplog.text, timeout=15)
        other.execute("COMMIT")

    holder = threading.Thread(target=commit_after_the_first_retry)
    holder.start()
    try:
        h.run_target(config, [h.schema("items", WIDER), h.record("items", {"id": 3, "note": "n"})])
    finally:
        holder.join()
        other.close()
    assert RETRY_LOGGED in caplog.text
    engine_rows = (
        sqlite3.connect(path).execute('SELECT "id", "note" FROM "items" ORDER BY "id"').fetchall()
    )
    assert engine_rows == [(1, None), (2, None), (3, "n")]


def test_postgres_schema_change_waits_for_another_loads_uncommitted_insert(fresh_postgres_url, h):
    # PostgreSQL's ALTER TABLE waits for the lock (lock_timeout 0 = no limit): the run
    # completes once the other load commits.
    import sqlalchemy as sa

    config = {"sqlalchemy_url": fresh_postgres_url}
    h.run_target(config, [h.schema("items", ITEMS), h.record("items", {"id": 1, "qty": 1})])
    engine = sa.create_engine(fresh_postgres_url)
    conn = engine.connect()
    transaction = conn.begin()
    conn.exec_driver_sql('INSERT INTO "items" ("id", "qty") VALUES (2, 2)')
    started = time.monotonic()
    holder = threading.Timer(1.0, transaction.commit)
    holder.start()
    try:
        h.run_target(config, [h.schema("items", WIDER), h.record("items", {"id": 3, "note": "n"})])
    finally:
        holder.join()
        conn.close()
        engine.dispose()
    assert time.monotonic() - started >= 1.0  # it did wait for the other load
    engine = sa.create_engine(fresh_postgres_url)
    with engine.connect() as check:
        rows = check.exec_driver_sql('SELECT "id", "note" FROM "items" ORDER BY "id"').all()
    engine.dispose()
    assert [tuple(row) for row in rows] == [(1, None), (2, None), (3, "n")]
