"""Column replacement beside another load of the same table.

Two real target processes load one table; one of them changes a column's type in the middle
of the other's run (SQLite: copy through a replacement column in one transaction;
PostgreSQL: one ALTER … TYPE; Oracle, when TARGET_ORACLE_TEST_URL is set: ADD / UPDATE /
SET UNUSED / RENAME under the table's named lock). No row of either load may be lost.

Oracle's lock protocol is also checked here, without a server, on the statements and lock
calls the sink makes in order (`test_oracle_replacement_holds_the_lock_alone_and_loads_share_it`).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from gruponos_testing.postgres import wait_for
from sqlalchemy.dialects import oracle
from target_gruponos_oracle.dialects.tables import ExistingColumn, ExistingKey
from target_gruponos_oracle.kinds import Kind

from .conftest import EXECUTABLE

ITEMS = {"id": {"type": "integer"}, "qty": {"type": ["null", "integer"]}}
ITEMS_AS_TEXT = {"id": {"type": "integer"}, "qty": {"type": ["null", "string"]}}


def _count(db) -> int:
    engine = db.engine()
    try:
        with engine.connect() as conn:
            table = conn.dialect.identifier_preparer.quote_identifier(db.table("items"))
            return int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar_one())
    except sa.exc.DatabaseError:
        return 0  # not created yet
    finally:
        engine.dispose()


def test_a_column_replaced_while_another_load_writes_loses_no_row(db, h, tmp_path):
    config = db.config(batch_size_rows=20)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    first = [h.schema("items", ITEMS)]
    first += [h.record("items", {"id": i, "qty": i}) for i in range(1, 201)]
    later = [h.record("items", {"id": i, "qty": i}) for i in range(201, 401)]
    # Load A: its first 200 records, then it waits (stdin open) with batches committed.
    log_a = tmp_path / "load-a.log"
    load_a = subprocess.Popen(
        [str(EXECUTABLE), "--config", str(config_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=log_a.open("w"),
        text=True,
    )
    assert load_a.stdin is not None
    try:
        load_a.stdin.write(h.singer_lines(first))
        load_a.stdin.flush()
        wait_for(lambda: _count(db) >= 100, timeout=60)
        # Load B changes `qty` to text (a column replacement) and writes, in the middle
        # of A's run, while A keeps writing with its own (older) idea of the column.
        stdin = load_a.stdin

        def feed_a() -> None:
            for start in range(0, len(later), 20):
                stdin.write(h.singer_lines(later[start : start + 20]))
                stdin.flush()
                time.sleep(0.05)
            stdin.close()

        feeder = threading.Thread(target=feed_a)
        feeder.start()
        changed = [h.schema("items", ITEMS_AS_TEXT)]
        changed += [h.record("items", {"id": 1000 + i, "qty": f"q{i}"}) for i in range(50)]
        result_b = h.run_cli(config, changed, tmp_path)
        feeder.join(timeout=60)
        assert result_b.returncode == 0, result_b.stderr
        load_a.wait(timeout=120)
    finally:
        if load_a.poll() is None:
            load_a.kill()
            load_a.wait()
    assert load_a.returncode == 0, log_a.read_text()
    rows = {row["id"]: row["qty"] for row in db.rows("items")}
    assert sorted(rows) == [*range(1, 401), *range(1000, 1050)]
    assert all(str(rows[i]) == str(i) for i in range(1, 401))  # old and new rows, as text
    assert rows[1049] == "q49"
    assert sorted(c.lower() for c in db.column_names("items")) == ["id", "qty"]


# Oracle's lock protocol, on the calls the sink makes (no Oracle server runs here) -----------


class _Transaction:
    def __init__(self, events: list) -> None:
        self.events = events

    def __enter__(self) -> _Transaction:
        self.events.append("begin")
        return self

    def __exit__(self, *exc: object) -> None:
        self.events.append("commit" if exc[0] is None else "rollback")


class _Cursor:
    def __init__(self, events: list) -> None:
        self.events = events

    def execute(self, sql: str, *_: Any) -> None:
        self.events.append(sql.split(" (", 1)[0])

    def setinputsizes(self, *_: Any) -> None:
        pass

    def executemany(self, sql: str, rows: list) -> None:
        self.events.append(sql.split(" (", 1)[0])


class _Connection:
    """Stands for both SQLAlchemy's connection and the driver's, recording what is sent."""

    def __init__(self, events: list) -> None:
        self.events = events
        self.connection = self
        self.dbapi_connection = self

    def __enter__(self) -> _Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def begin(self) -> _Transaction:
        return _Transaction(self.events)

    def exec_driver_sql(self, sql: str) -> None:
        self.events.append(sql)

    def cursor(self) -> _Cursor:
        return _Cursor(self.events)


class _Engine:
    def __init__(self, events: list) -> None:
        self.events = events
        self.dialect = oracle.dialect()
        self.url = sa.make_url("oracle+oracledb://u:p@db.invalid:1521/?service_name=x")

    def connect(self) -> _Connection:
        return _Connection(self.events)


def test_oracle_replacement_holds_the_lock_alone_and_loads_share_it(monkeypatch):
    # Oracle commits each of ADD / UPDATE / SET UNUSED / RENAME: the replacement holds the
    # table's named lock exclusively for all four; each load batch holds it shared for its
    # transaction only (never for the run: a shared holder asking for it exclusively would
    # deadlock with another).
    from target_gruponos_oracle import table_locks
    from target_gruponos_oracle.sinks import GruponosSink
    from target_gruponos_oracle.target import TargetGruponosOracle

    events: list = []

    class RecordingLock:
        def __init__(self, engine: Any, name: str, *, shared: bool = False) -> None:
            self.name, self.mode = name, "shared" if shared else "exclusive"

        def acquire(self, wait_seconds: float = 0) -> None:
            events.append(f"lock {self.mode} {self.name} (waits {wait_seconds} s)")

        def release(self) -> None:
            events.append(f"unlock {self.mode}")

    monkeypatch.setattr(table_locks, "NamedLock", RecordingLock)
    target = TargetGruponosOracle(config={"sqlalchemy_url": str(_Engine(events).url)})
    sink = GruponosSink(target, "items", {"properties": ITEMS_AS_TEXT}, ["id"])
    connector = sink.connector
    connector._cached_engine = _Engine(events)  # type: ignore[assignment]
    connector._prepared = True  # what `prepare` learns is checked in test_oracle_sql.py

    def existing_columns(conn: Any, spec: Any) -> dict:
        replaced = any("RENAME COLUMN" in str(event) for event in events)
        qty = ExistingColumn(Kind.STRING, 4000) if replaced else ExistingColumn(Kind.INTEGER)
        return {"ID": ExistingColumn(Kind.INTEGER), "QTY": qty}

    monkeypatch.setattr(connector, "existing_columns", existing_columns)
    monkeypatch.setattr(
        connector, "existing_key", lambda conn, spec: ExistingKey(["ID"], [], set())
    )
    sink.setup()
    events.append("-- a batch")
    sink.write_rows([(1, "one")])
    wait = table_locks.WAIT_SECONDS
    lock = f"target-gruponos-oracle:table:.ITEMS (waits {wait} s)"
    assert events == [
        "begin",  # inspected: a replacement is needed
        "commit",
        f"lock exclusive {lock}",
        "begin",  # inspected again, under the lock
        'ALTER TABLE "ITEMS" ADD "QTY$NEW" VARCHAR2(4000 CHAR)',
        """UPDATE "ITEMS" SET "QTY$NEW" = """ + events[5].split(" = ", 1)[1],
        'ALTER TABLE "ITEMS" SET UNUSED ("QTY")',
        'ALTER TABLE "ITEMS" RENAME COLUMN "QTY$NEW" TO "QTY"',
        "commit",
        "unlock exclusive",
        "-- a batch",
        "begin",  # the batch's strings were measured: the table is inspected, fits
        "commit",
        f"lock shared {lock}",
        "begin",
        'CREATE PRIVATE TEMPORARY TABLE "ORA$PTT_ITEMS"',
        'INSERT INTO "ORA$PTT_ITEMS"',
        'MERGE INTO "ITEMS" t USING "ORA$PTT_ITEMS" s ON',
        "commit",
        "unlock shared",
    ]


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_databases_whose_replacement_is_one_transaction_take_no_named_lock(dialect):
    # PostgreSQL's ALTER … TYPE and SQLite's copy are one transaction each: the database's
    # own locks order them with the loads (the two-loads test above proves it).
    from target_gruponos_oracle.dialects import strategy_class

    assert not strategy_class(dialect).replacement_spans_transactions
    assert strategy_class("oracle").replacement_spans_transactions


def test_a_load_waits_while_the_replacement_holds_the_lock(fresh_postgres_url):
    # The mechanism on a real server: PostgreSQL's advisory locks (the same NamedLock as
    # Oracle's DBMS_LOCK), a batch's shared hold waiting for a replacement's exclusive one.
    from target_gruponos_oracle.dialects import strategy_class
    from target_gruponos_oracle.dialects.tables import TableSpec
    from target_gruponos_oracle.rules import database_rules
    from target_gruponos_oracle.table_locks import TableLocks

    engine = database_rules({"sqlalchemy_url": fresh_postgres_url}).create_engine()
    locks = TableLocks(engine, strategy_class("postgresql")(engine.dialect, {}))
    locks.needed = True  # as on Oracle
    spec = TableSpec(None, "items", [], [])
    order: list[str] = []

    def load() -> None:
        with locks.for_batch(spec):
            order.append("batch")

    try:
        with locks.for_replacement(spec):
            loader = threading.Thread(target=load)
            loader.start()
            time.sleep(1.0)
            order.append("replacement done")
        loader.join(timeout=30)
    finally:
        engine.dispose()
    assert order == ["replacement done", "batch"]


def test_without_the_dbms_lock_grant_loads_go_on_and_a_replacement_stops_first(monkeypatch, caplog):
    # Oracle: NamedLockUnsupported when the user lacks EXECUTE on SYS.DBMS_LOCK. Loads
    # carry on (warned once); a replacement refuses before changing anything.
    from target_gruponos_oracle import table_locks
    from target_gruponos_oracle.dialects import strategy_class
    from target_gruponos_oracle.dialects.tables import TableSpec
    from target_gruponos_oracle.errors import DatabaseSettingsError
    from target_gruponos_oracle.named_locks import NamedLockUnsupported

    tries: list[bool] = []

    class Refused:
        def __init__(self, engine: Any, name: str, *, shared: bool = False) -> None:
            self.shared = shared

        def acquire(self, wait_seconds: float = 0) -> None:
            tries.append(self.shared)
            raise NamedLockUnsupported("PLS-00201: identifier 'SYS.DBMS_LOCK' must be declared")

    monkeypatch.setattr(table_locks, "NamedLock", Refused)
    locks = table_locks.TableLocks(_Engine([]), strategy_class("oracle")(oracle.dialect(), {}))
    spec = TableSpec(None, "ITEMS", [], [])
    for _ in range(3):
        with locks.for_batch(spec):
            pass
    assert tries == [True]  # asked once, then loads go on without it
    assert "Loading without the table's named lock" in caplog.text
    refused = pytest.raises(DatabaseSettingsError, match=r"table ITEMS: a column replacement.*PLS")
    with refused, locks.for_replacement(spec):
        pytest.fail("the replacement ran without the lock")
