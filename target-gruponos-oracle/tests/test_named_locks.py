"""The named lock: exclusive and shared holders, release, a killed holder, a terminated
session, the keepalive query (a PostgreSQL server started here); the DBMS_LOCK sequence on
Oracle (a recording DB-API connection here, a real Oracle when TARGET_ORACLE_TEST_URL is
set); SQLite's clear refusal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from gruponos_testing.postgres import wait_for
from target_gruponos_oracle import NamedLock, NamedLockBusy, NamedLockUnsupported
from target_gruponos_oracle.connector import create_engine
from target_gruponos_oracle.dialects import OracleStrategy, PostgresStrategy, SqliteStrategy
from target_gruponos_oracle.dialects.postgres import advisory_key

ORACLE_URL = os.environ.get("TARGET_ORACLE_TEST_URL")
FACILITY = "gruponos/facility/GNOS/DC01"


@pytest.fixture
def pg_url(fresh_postgres_url) -> str:
    """A fresh database: advisory locks are per database, so tests stay apart."""
    return fresh_postgres_url


@pytest.fixture
def engine(pg_url) -> Iterator[sa.Engine]:
    """An engine made the way the target makes its engines."""
    engine = create_engine({"sqlalchemy_url": pg_url}, pg_url)
    yield engine
    engine.dispose()


def holder_pids(engine: sa.Engine, name: str) -> list[int]:
    """Backends holding a granted advisory lock on `name`, as the server reports them."""
    key = advisory_key(name)
    with engine.connect() as conn:
        return list(
            conn.exec_driver_sql(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 1",
                ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
            ).scalars()
        )


# PostgreSQL -----------------------------------------------------------------------------


def test_an_exclusive_lock_excludes_a_second_holder_until_released(engine):
    first, second = NamedLock(engine, FACILITY), NamedLock(engine, FACILITY)
    first.acquire()
    try:
        assert first.held()
        assert second.try_acquire() is False
        with pytest.raises(NamedLockBusy, match="GNOS/DC01") as busy:
            second.acquire(wait_seconds=0.6)
        assert busy.value.name == FACILITY
    finally:
        first.release()
    first.release()  # idempotent
    assert not first.held()
    assert second.try_acquire() is True
    assert len(holder_pids(engine, FACILITY)) == 1
    second.release()
    assert holder_pids(engine, FACILITY) == []


def test_acquire_with_a_wait_takes_the_lock_once_the_holder_releases_it(engine):
    import threading

    first, second = NamedLock(engine, FACILITY), NamedLock(engine, FACILITY)
    first.acquire()
    releaser = threading.Timer(0.3, first.release)
    releaser.start()
    try:
        second.acquire(wait_seconds=30)
        assert second.held()
    finally:
        releaser.join()
        second.release()


def test_shared_holders_coexist_and_exclude_an_exclusive_one(engine):
    readers = [NamedLock(engine, "orders", shared=True) for _ in range(2)]
    writer = NamedLock(engine, "orders")
    for reader in readers:
        assert reader.try_acquire()
    assert all(reader.held() for reader in readers)
    assert writer.try_acquire() is False
    readers[0].release()
    assert writer.try_acquire() is False
    readers[1].release()
    assert writer.try_acquire() is True
    assert NamedLock(engine, "orders", shared=True).try_acquire() is False
    writer.release()


def test_different_names_do_not_exclude_each_other(engine):
    with (
        NamedLock(engine, "gruponos/facility/GNOS/DC01") as one,
        NamedLock(engine, "gruponos/facility/GNOS/DC02") as other,
    ):
        assert one.held()
        assert other.held()


def test_the_context_manager_acquires_without_waiting_and_releases(engine):
    with NamedLock(engine, FACILITY) as lock:
        assert lock.held()
        with pytest.raises(NamedLockBusy, match=FACILITY), NamedLock(engine, FACILITY):
            pass
    assert not lock.held()
    assert holder_pids(engine, FACILITY) == []


HOLDER = textwrap.dedent(
    """
    import sys, time
    from target_gruponos_oracle import NamedLock
    from target_gruponos_oracle.connector import create_engine

    url, name = sys.argv[1], sys.argv[2]
    NamedLock(create_engine({"sqlalchemy_url": url}, url), name).acquire()
    print("held", flush=True)
    time.sleep(600)
    """
)


def test_a_holder_killed_with_sigkill_frees_the_lock(engine, pg_url):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, pg_url, FACILITY],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        contender = NamedLock(engine, FACILITY)
        assert contender.try_acquire() is False
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        # The server ends the killed process's session when its socket closes.
        wait_for(contender.try_acquire, timeout=60)
        assert contender.held()
        contender.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_held_turns_false_when_the_holders_session_is_terminated(engine):
    lock = NamedLock(engine, FACILITY)
    lock.acquire()
    [pid] = holder_pids(engine, FACILITY)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT pg_terminate_backend(%s)", (pid,)).scalar()
    wait_for(lambda: not lock.held(), timeout=30)
    lock.release()  # the session is gone: nothing to release, no error
    with NamedLock(engine, FACILITY) as other:
        assert other.held()


def test_the_keepalive_thread_runs_its_query_on_the_lock_session(engine):
    lock = NamedLock(engine, FACILITY, keepalive_seconds=0.2)
    lock.acquire()
    try:
        [pid] = holder_pids(engine, FACILITY)

        def activity() -> tuple[str, object]:
            with engine.connect() as conn:
                row = conn.exec_driver_sql(
                    "SELECT query, state_change FROM pg_stat_activity WHERE pid = %s", (pid,)
                ).one()
                return row[0], row[1]

        first_query, first_change = activity()
        assert "pg_try_advisory_lock" in first_query
        wait_for(lambda: activity()[0] == "SELECT 1", timeout=30)
        wait_for(lambda: activity()[1] > first_change, timeout=30)
        _, change = activity()
        wait_for(lambda: activity()[1] > change, timeout=30)  # again, not once
    finally:
        lock.release()
    with engine.connect() as conn:  # release closed the dedicated connection
        wait_for(
            lambda: (
                not conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)
                ).scalar()
            ),
            timeout=30,
        )


def test_the_lock_connection_sets_keepalives_on_both_ends_and_keeps_the_session_setup(pg_url):
    config = {"sqlalchemy_url": pg_url}
    args = PostgresStrategy.named_lock_connect_args(config)
    assert (args["keepalives"], args["keepalives_idle"]) == (1, 60)
    assert (args["keepalives_interval"], args["keepalives_count"]) == (15, 4)
    engine = create_engine(config, pg_url, connect_args=args)
    try:
        with engine.connect() as conn:
            show = {
                setting: conn.exec_driver_sql(f"SHOW {setting}").scalar()
                for setting in (
                    "tcp_keepalives_idle",
                    "tcp_keepalives_interval",
                    "tcp_keepalives_count",
                    "TimeZone",
                )
            }
    finally:
        engine.dispose()
    assert show == {
        "tcp_keepalives_idle": "60",
        "tcp_keepalives_interval": "15",
        "tcp_keepalives_count": "4",
        "TimeZone": "UTC",
    }


def test_the_advisory_key_is_a_stable_signed_64_bit_integer():
    key = advisory_key(FACILITY)
    assert key == advisory_key(FACILITY)
    assert -(2**63) <= key < 2**63
    assert key != advisory_key("gruponos/facility/GNOS/DC02")
    # Pinned: two releases must agree on the key, or they would not exclude each other.
    assert advisory_key("") == -2039914840885289964


# SQLite ---------------------------------------------------------------------------------


def test_sqlite_has_no_named_locks_and_says_to_keep_the_file_lock(tmp_path):
    assert SqliteStrategy.supports_named_locks is False
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'target.db'}")
    with pytest.raises(NamedLockUnsupported, match=r"sqlite.*file lock"):
        NamedLock(engine, FACILITY)


# Oracle: the DBMS_LOCK sequence (a recording DB-API connection) -------------------------


class StatusVar:
    """An out-bind variable as ``cursor.var(int)`` makes it."""

    def __init__(self) -> None:
        self.value: int | None = None

    def getvalue(self) -> int | None:
        return self.value


class RecordingCursor:
    """Records each PL/SQL block and its binds; sets ``:status`` from the script."""

    def __init__(self, connection: RecordingConnection) -> None:
        self.connection = connection

    def var(self, kind: type) -> StatusVar:
        assert kind is int
        return StatusVar()

    def execute(self, sql: str, binds: dict) -> None:
        if self.connection.error is not None:
            raise self.connection.error
        self.connection.calls.append((sql, {k: v for k, v in binds.items() if k != "status"}))
        binds["status"].value = self.connection.statuses.pop(0)

    def close(self) -> None:
        pass


class RecordingConnection:
    """Stands where the strategy reaches the driver; answers with scripted statuses."""

    def __init__(self, *statuses: int, error: Exception | None = None) -> None:
        self.statuses = list(statuses)
        self.error = error
        self.calls: list[tuple[str, dict]] = []

    def cursor(self) -> RecordingCursor:
        return RecordingCursor(self)


def _dbms_lock_call(sql: str) -> str:
    """The DBMS_LOCK call the block makes after ALLOCATE_UNIQUE (which every block makes)."""
    assert sql.startswith("DECLARE handle VARCHAR2(128); BEGIN DBMS_LOCK.ALLOCATE_UNIQUE(:name, ")
    assert sql.endswith("END;")
    return sql.split(":status := ", 1)[1].removesuffix("; END;")


def test_oracle_request_is_x_mode_or_s_mode_with_timeout_0_and_kept_past_commit():
    # DBMS_LOCK.REQUEST(handle, lockmode, timeout, release_on_commit): X_MODE 6, S_MODE 4;
    # timeout 0 never waits; release_on_commit FALSE keeps it to the end of the session.
    for shared, mode in ((False, 6), (True, 4)):
        conn = RecordingConnection(0)
        assert OracleStrategy.try_named_lock(conn, FACILITY, shared=shared) is True
        [(sql, binds)] = conn.calls
        assert _dbms_lock_call(sql) == "DBMS_LOCK.REQUEST(handle, :mode, 0, FALSE)"
        assert binds == {"name": FACILITY, "mode": mode}


@pytest.mark.parametrize(("status", "taken"), [(0, True), (1, False), (4, True)])
def test_oracle_request_status_0_success_1_timeout_4_already_own(status, taken):
    conn = RecordingConnection(status)
    assert OracleStrategy.try_named_lock(conn, FACILITY, shared=False) is taken


@pytest.mark.parametrize(("status", "meaning"), [(2, "deadlock"), (3, "parameter"), (5, "handle")])
def test_oracle_request_other_statuses_are_errors_naming_the_lock(status, meaning):
    with pytest.raises(RuntimeError, match=f"REQUEST returned {status} .*{meaning}.*GNOS/DC01"):
        OracleStrategy.try_named_lock(RecordingConnection(status), FACILITY, shared=False)


def test_oracle_held_converts_to_the_mode_held_and_release_releases():
    conn = RecordingConnection(0, 4, 0, 4)
    assert OracleStrategy.named_lock_held(conn, FACILITY, shared=True) is True
    assert OracleStrategy.named_lock_held(conn, FACILITY, shared=True) is False  # 4: not own
    OracleStrategy.release_named_lock(conn, FACILITY, shared=True)
    OracleStrategy.release_named_lock(conn, FACILITY, shared=True)  # 4: released already
    calls = [(_dbms_lock_call(sql), binds) for sql, binds in conn.calls]
    assert calls == [
        ("DBMS_LOCK.CONVERT(handle, :mode, 0)", {"name": FACILITY, "mode": 4}),
        ("DBMS_LOCK.CONVERT(handle, :mode, 0)", {"name": FACILITY, "mode": 4}),
        ("DBMS_LOCK.RELEASE(handle)", {"name": FACILITY}),
        ("DBMS_LOCK.RELEASE(handle)", {"name": FACILITY}),
    ]


def test_oracle_without_the_execute_grant_names_the_grant_to_ask_for():
    refused = Exception(
        "ORA-06550: line 1, column 31:\nPLS-00201: identifier 'DBMS_LOCK' must be declared"
    )
    with pytest.raises(Exception, match="PLS-00201") as raised:
        OracleStrategy.try_named_lock(RecordingConnection(error=refused), FACILITY, shared=False)
    reason = OracleStrategy.named_lock_refused(raised.value)
    assert reason is not None
    assert "GRANT EXECUTE ON SYS.DBMS_LOCK" in reason
    assert OracleStrategy.named_lock_refused(Exception("ORA-00054: resource busy")) is None


def test_oracle_lock_connection_sends_keepalive_probes_every_minute():
    # python-oracledb: expire_time is "the number of minutes between the sending of
    # keepalive probes"; the TCPS address the settings spell out is kept.
    config = {"host": "db", "protocol": "tcps", "service_name": "S"}
    args = OracleStrategy.named_lock_connect_args(config)
    assert args["expire_time"] == 1
    assert args["dsn"] == OracleStrategy.connect_args(config)["dsn"]
    assert OracleStrategy.keepalive_statement == "SELECT 1 FROM DUAL"


# Oracle: against a real server ------------------------------------------------------------


@pytest.mark.skipif(
    not ORACLE_URL,
    reason="TARGET_ORACLE_TEST_URL is not set: this runs only against a real Oracle "
    "(whose user needs EXECUTE on SYS.DBMS_LOCK)",
)
def test_oracle_dbms_lock_exclusive_shared_held_and_release_on_a_real_server():
    engine = create_engine({"sqlalchemy_url": ORACLE_URL}, str(ORACLE_URL))
    name = f"gruponos/test/{os.getpid()}"
    try:
        with NamedLock(engine, name, keepalive_seconds=0.5) as lock:
            assert lock.held()
            assert NamedLock(engine, name).try_acquire() is False
            assert NamedLock(engine, name, shared=True).try_acquire() is False
            time.sleep(1.2)  # two keepalive queries on the lock's session
            assert lock.held()
        readers = [NamedLock(engine, name, shared=True) for _ in range(2)]
        assert all(reader.try_acquire() for reader in readers)
        assert all(reader.held() for reader in readers)
        assert NamedLock(engine, name).try_acquire() is False
        for reader in readers:
            reader.release()
        assert not readers[0].held()
        with NamedLock(engine, name) as again:
            assert again.held()
    finally:
        engine.dispose()
