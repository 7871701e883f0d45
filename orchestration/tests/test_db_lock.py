"""The company/facility lock in the target database: real processes on a real PostgreSQL
(and Oracle when TARGET_ORACLE_TEST_URL is set), its Oracle statements compiled."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from gruponos_meltano_native.errors import ExitCode, ScopeBusy
from gruponos_meltano_native.pipeline.db_lock import (
    HEARTBEAT_SECONDS,
    MAX_NAME_BYTES,
    DatabaseScopeLock,
    LockLost,
    database_holders,
    holders_table,
    is_live,
    lock_name,
)
from gruponos_meltano_native.pipeline.lock import ScopeLock, file_holders, scope_lock
from sqlalchemy.dialects import oracle
from sqlalchemy.schema import CreateTable

ORACLE_URL = os.environ.get("TARGET_ORACLE_TEST_URL")
HOLDER = textwrap.dedent(
    """
    import json, sys, time
    from gruponos_meltano_native.pipeline.db_lock import DatabaseScopeLock
    config, hold = json.loads(sys.argv[1]), float(sys.argv[2])
    lock = DatabaseScopeLock(config, "GNOS", "DC01", {"job": "full-sync-job", "run_id": "R-1"})
    lock.acquire()
    print("held", flush=True)
    time.sleep(hold)
    lock.release()
    """
)


def _start_holder(tmp_path, config, hold: float) -> subprocess.Popen[str]:
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    process = subprocess.Popen(
        [sys.executable, str(script), json.dumps(config), str(hold)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    return process


def _contender(config, job="incremental-sync-job") -> DatabaseScopeLock:
    return DatabaseScopeLock(config, "GNOS", "DC01", {"job": job, "run_id": "R-2"})


def test_postgresql_and_oracle_targets_lock_in_the_database_sqlite_in_a_file(tmp_path):
    holder = {"job": "j", "run_id": "r"}
    for url in ("postgresql+psycopg://u@h/db", "oracle+oracledb://u:p@h/s"):
        lock = scope_lock(tmp_path, {"sqlalchemy_url": url}, "GNOS", "DC01", holder)
        assert isinstance(lock, DatabaseScopeLock)
        assert lock.location.startswith("database lock gruponos-meltano/GNOS/DC01 in ")
        assert ":p@" not in lock.location
    sqlite = scope_lock(tmp_path, {"sqlalchemy_url": "sqlite:///x.db"}, "GNOS", "DC01", holder)
    assert isinstance(sqlite, ScopeLock)


def test_a_second_holder_is_refused_naming_the_first_and_the_kill_of_it_frees_the_lock(
    pg_config, tmp_path
):
    holder = _start_holder(tmp_path, pg_config, hold=60)
    try:
        with pytest.raises(ScopeBusy) as busy:
            _contender(pg_config).acquire()
        message = str(busy.value)
        assert busy.value.exit_code == ExitCode.BUSY == 9
        assert message.startswith("GNOS/DC01 is busy: held by full-sync-job run R-1 on host ")
        assert f"on host {socket.gethostname()} (pid {holder.pid}) since 20" in message
        assert "(--wait SECONDS queues instead)" in message
        assert "database lock gruponos-meltano/GNOS/DC01 in postgresql" in message
        # Readers that take no lock see who holds it.
        (row,) = database_holders(pg_config)
        assert (row["run_id"], row["pid"], row["live"]) == ("R-1", holder.pid, True)
        # kill -9: the database ends the holder's session, and with it the lock, at once.
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        contender = _contender(pg_config)
        contender.acquire(wait_seconds=10)
        (row,) = database_holders(pg_config)  # the dead holder's row replaced by ours
        assert (row["run_id"], row["pid"]) == ("R-2", os.getpid())
        contender.release()
        assert database_holders(pg_config) == []
    finally:
        holder.kill()


def test_wait_queues_behind_the_holder(pg_config, tmp_path):
    holder = _start_holder(tmp_path, pg_config, hold=1.0)
    try:
        contender = _contender(pg_config)
        contender.acquire(wait_seconds=30)  # the holder releases after about a second
        assert holder.wait(timeout=30) == 0
        contender.release()
        holder = _start_holder(tmp_path, pg_config, hold=30)
        with pytest.raises(ScopeBusy, match=r"after waiting 0\.5s: held by full-sync-job run R-1"):
            _contender(pg_config).acquire(wait_seconds=0.5)
    finally:
        holder.kill()


def test_a_run_that_lost_its_lock_stops_before_writing_state(pg_config, postgres_url):
    lock = _contender(pg_config)
    lock.acquire()
    lock.check()  # held: nothing raised
    # The database ends the lock's session (a DBA, a network cut, an idle-session killer).
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        ended = connection.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
            "AND pid <> pg_backend_pid()"
        ).all()
    engine.dispose()
    assert ended
    with pytest.raises(LockLost, match="lost its lock") as lost:
        lock.check()
    assert lost.value.exit_code == ExitCode.STATE
    lock.release()


def test_a_holder_whose_heartbeat_stopped_is_not_named_as_holding():
    now = datetime.now(UTC)
    fresh = {"heartbeat_at": (now - timedelta(seconds=HEARTBEAT_SECONDS)).isoformat()}
    stale = {"heartbeat_at": (now - timedelta(seconds=4 * HEARTBEAT_SECONDS)).isoformat()}
    assert is_live(fresh, now) and not is_live(stale, now) and not is_live({}, now)


def test_file_locks_held_now_are_listed_without_taking_them(tmp_path):
    lock = ScopeLock(tmp_path, "GNOS", "DC01", {"job": "full-sync-job", "run_id": "R-9"})
    lock.acquire()
    (held,) = file_holders(tmp_path)
    assert (held["run_id"], held["pid"], held["host"]) == ("R-9", os.getpid(), socket.gethostname())
    lock.release()
    assert file_holders(tmp_path) == []
    # A killed holder's details stay in its file: its process being gone tells them apart.
    lock.path.write_text(
        json.dumps({"run_id": "R-0", "pid": 2**22 + 1, "host": socket.gethostname()})
    )
    assert file_holders(tmp_path) == []


def test_lock_names_stay_within_oracles_128_bytes():
    assert lock_name("GNOS", "DC01") == "gruponos-meltano/GNOS/DC01"
    long = lock_name("C" * 64, "F" * 64)
    assert len(long.encode()) <= MAX_NAME_BYTES and long != lock_name("C" * 64, "F" * 63 + "G")


# Oracle: the holders table's statements, compiled with SQLAlchemy's Oracle dialect -----------


def test_oracle_holders_table_and_its_statements():
    table = holders_table({"default_target_schema": "wms"}, "oracle")
    ddl = str(CreateTable(table).compile(dialect=oracle.dialect()))
    assert 'CREATE TABLE "WMS".gruponos_lock_holders' in ddl
    assert "lock_name VARCHAR2(128 CHAR) NOT NULL" in ddl
    assert "pid INTEGER NOT NULL" in ddl and "PRIMARY KEY (lock_name)" in ddl
    lock = DatabaseScopeLock(
        {"sqlalchemy_url": "oracle+oracledb://u:p@h/s"}, "GNOS", "DC01", {"run_id": "R"}
    )
    beat = table.update().where(*lock._mine(table)).values(heartbeat_at="t")
    compiled = str(beat.compile(dialect=oracle.dialect()))
    assert compiled == (
        'UPDATE "WMS".gruponos_lock_holders SET heartbeat_at=:heartbeat_at WHERE '
        '"WMS".gruponos_lock_holders.lock_name = :lock_name_1 AND '
        '"WMS".gruponos_lock_holders.run_id = :run_id_1'
    )


@pytest.mark.skipif(
    not ORACLE_URL,
    reason="TARGET_ORACLE_TEST_URL is not set: no Oracle server runs here; this takes the "
    "company/facility lock (DBMS_LOCK) on a real Oracle when it is",
)
def test_oracle_lock_excludes_a_second_holder_and_names_the_first():
    config = {"sqlalchemy_url": ORACLE_URL}
    company = f"T{uuid.uuid4().hex[:8]}"
    first = DatabaseScopeLock(config, company, "DC01", {"job": "full-sync-job", "run_id": "R-1"})
    first.acquire()
    try:
        second = DatabaseScopeLock(config, company, "DC01", {"job": "j", "run_id": "R-2"})
        with pytest.raises(ScopeBusy, match="held by full-sync-job run R-1 on host"):
            second.acquire()
        first.check()
    finally:
        first.release()
    second.acquire()
    second.release()
    # Nothing left behind: the holders table has no row of this company.
    assert [h for h in database_holders(config) if h["company"] == company] == []


def test_health_reports_an_unreachable_database_without_failing_on_it(tmp_path):
    from gruponos_meltano_native.config import GruponosMeltanoSettings
    from gruponos_meltano_native.pipeline.health import held_locks, last_states

    settings = GruponosMeltanoSettings.model_validate(
        {
            "state_dir": tmp_path,
            "oracle_db": {"sqlalchemy_url": "postgresql+psycopg://u:secret@127.0.0.1:9/none"},
        }
    )
    states, readable = last_states(settings)
    assert not readable and states[0].startswith("states: NOT READABLE (cannot use state table")
    (locks,) = held_locks(settings)
    assert locks.startswith("database locks: cannot read them in postgresql+psycopg://u:***@")
    assert "secret" not in " ".join([*states, locks])
