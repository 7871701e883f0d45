"""A killed sync resumes where its last committed STATE says (tap → target, real processes).

Each case runs `tap-oracle-wms | target-gruponos-oracle` on SQLite, SIGKILLs both after the
target's k-th STATE (a STATE the target emits follows its commit), changes the WMS between
attempts, and reruns with the last committed STATE until a run ends by itself. Then every
WMS row is in the database exactly once with its latest `mod_ts`, and the reruns read
less than everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from gruponos_meltano_native.state import SEED_MARGIN
from tap_oracle_wms.testing import PipeRun, run_pipe, tap_args

from tests.processes import children, wait_gone
from tests.test_full_sync_deletions import full_table_catalog

BIN = Path(sys.executable).parent
ENTITY = "allocation"  # rows nothing refers to: the simulator can delete them


def _config(simulator: Any, **extra: Any) -> dict:
    return {
        "base_url": simulator.base_url,
        "username": simulator.username,
        "password": simulator.password,
        "entities": [ENTITY],
        "page_size": 10,
        "max_parallel_requests": 4,
        "max_retries": 0,
        **extra,
    }


def _full_table_catalog(folder: Path, config: dict) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "discover.json"
    path.write_text(json.dumps(config))
    return full_table_catalog(path)


class Pipe:
    """Runs tap | target for one test, attempt after attempt, from the committed state."""

    def __init__(self, tmp_path: Path, config: dict, catalog: dict | None = None) -> None:
        self.tmp_path = tmp_path
        self.config = config
        self.catalog = catalog
        self.url = f"sqlite:///{tmp_path / 'wms.db'}"
        target = tmp_path / "target.json"
        target.write_text(json.dumps({"sqlalchemy_url": self.url, "batch_size_rows": 25}))
        self.target = [str(BIN / "target-gruponos-oracle"), "--config", str(target)]
        self.state: dict | None = None
        self.attempts = 0

    def run(self, kill_after_states: int | None = None, kill_when: Any = None) -> PipeRun:
        """One attempt from the committed state; killed after its k-th new state, or on cue.

        The first state a rerun prints is the one it started from (the tap repeats it):
        only states after it count.
        """
        self.attempts += 1
        if kill_after_states is not None:
            start, seen = self.state, []

            def kill_when(value: dict, committed: int) -> bool:
                if value != start:
                    seen.append(value)
                return len(seen) >= kill_after_states

        folder = self.tmp_path / f"attempt-{self.attempts}"
        args = tap_args(folder, self.config, self.state, self.catalog)
        run = run_pipe(
            args,
            self.target,
            kill_when=kill_when,
            timeout=120,
        )
        if not run.killed:
            assert run.returncodes == (0, 0), run.tap_log[-3000:]
        self.state = run.last_state or self.state
        return run

    def rows(self, where: str = "") -> dict[int, str]:
        engine = sa.create_engine(self.url)
        try:
            with engine.connect() as conn:
                found = conn.exec_driver_sql(f"SELECT id, mod_ts FROM {ENTITY} {where}").all()
        finally:
            engine.dispose()
        assert len(found) == len({row[0] for row in found})  # every id once
        return {int(row[0]): str(row[1]) for row in found}


def _wms_rows(simulator: Any) -> dict[int, str]:
    return {i: row["mod_ts"].isoformat() for i, row in simulator.rows(ENTITY).items()}


def _same_instants(db: dict[int, str], wms: dict[int, str]) -> list[int]:
    from tap_oracle_wms.horizon import parse_timestamp

    return [i for i in wms if parse_timestamp(db[i]) != parse_timestamp(wms[i])]


@pytest.mark.parametrize("k", [1, 3])
def test_an_incremental_sync_killed_after_every_kth_state_lands_every_row_once(
    simulator: Any, tmp_path: Path, k: int
):
    pipe = Pipe(tmp_path, _config(simulator))
    total = simulator.count(ENTITY)
    deleted: list[int] = []
    reads: list[int] = []
    while True:
        run = pipe.run(kill_after_states=k)
        reads.append(run.records[ENTITY])
        if not run.killed or "resume" not in pipe.state["bookmarks"][ENTITY]:
            break  # ended, or killed after its last commit
        # The WMS changes between attempts: inserts, updates and deletes.
        simulator.advance(1)
        simulator.insert(ENTITY, 2)
        simulator.touch(ENTITY, 3)
        deleted += simulator.delete(ENTITY, 1)
        assert pipe.attempts < 40, "the resumed runs make no progress"
    assert pipe.attempts >= 3  # killed, resumed and killed again, resumed again
    assert "resume" not in pipe.state["bookmarks"][ENTITY]  # a finished sync leaves none
    db, wms = pipe.rows(), _wms_rows(simulator)
    assert set(wms) <= set(db) <= set(wms) | set(deleted)  # incremental: deletions stay
    assert not _same_instants(db, wms)  # every update arrived
    # A resumed run reads what was not done plus changes, not everything again.
    assert all(read < total for read in reads[1:])


def test_a_full_sync_killed_twice_keeps_its_version_and_mirrors_deletions(
    simulator: Any, tmp_path: Path
):
    config = _config(simulator, entities=["order_hdr", ENTITY], emit_activate_version_messages=True)
    pipe = Pipe(tmp_path, config, _full_table_catalog(tmp_path, config))
    assert not pipe.run().killed  # a first complete full sync: every row loaded
    gone_before = simulator.delete(ENTITY, 4)  # deleted before the next full sync
    pipe.state = None  # the next full sync starts from nothing, as the full job does
    # Killed once the first stream (allocation) has finished: it is not read again, yet
    # the last ACTIVATE_VERSION, of the first attempt's version, marks its deletions.
    assert pipe.run(kill_when=lambda state, _: _done_ranges(state, "order_hdr") >= 2).killed
    version = pipe.state["bookmarks"][ENTITY]["resume"]["version"]
    deleted_between = simulator.delete(ENTITY, 3)
    simulator.advance(1)
    inserted = simulator.insert(ENTITY, 2)
    assert pipe.run(kill_when=lambda state, _: _done_ranges(state, "order_hdr") >= 5).killed
    last = pipe.run()  # a resumed run killed again, resumed again
    assert not last.killed
    # The finished stream: only its changes since the first attempt began are read.
    assert len(inserted) <= last.records[ENTITY] < 10
    live = pipe.rows("WHERE sdc_deleted_at IS NULL")
    marked = set(pipe.rows("WHERE sdc_deleted_at IS NOT NULL"))
    wms = _wms_rows(simulator)
    assert set(wms) <= set(live) and set(inserted) <= set(live)
    assert set(gone_before) <= marked  # deleted before the sync: marked, across attempts
    # Rows deleted between attempts inside finished ranges may stay live until the next
    # full sync; none is ever lost, and nothing the first attempt loaded is marked.
    assert set(live) - set(wms) <= set(deleted_between)
    assert marked <= set(gone_before) | set(deleted_between)
    assert _versions(pipe, "WHERE sdc_deleted_at IS NULL") == {version}


def _done_ranges(state: dict, stream: str) -> int:
    return len(state.get("bookmarks", {}).get(stream, {}).get("resume", {}).get("done", ()))


def _versions(pipe: Pipe, where: str) -> set[int]:
    engine = sa.create_engine(pipe.url)
    try:
        with engine.connect() as conn:
            found = conn.exec_driver_sql(f"SELECT sdc_table_version FROM {ENTITY} {where}")
            return {int(row[0]) for row in found}
    finally:
        engine.dispose()


FULL_STATE = Path("state/bookmarks/full-sync-job/GNOS/DC01.json")
INCREMENTAL_STATE = Path("state/bookmarks/incremental-sync-job/GNOS/DC01.json")
SLOW = {
    # Small pages and batches, slow answers: the run commits many times and lasts a while.
    "GRUPONOS_MELTANO_ORACLE_WMS__PAGE_SIZE": "20",
    "GRUPONOS_MELTANO_ORACLE_DB__BATCH_SIZE_ROWS": "40",
}


def test_a_second_run_full_after_a_killed_one_resumes_it(
    simulator: Any, platform_env: dict[str, str], tmp_path: Path, db: Any, cli: Any
):
    assert cli("run", "full", "--company", "GNOS", "--facility", "DC01").returncode == 0
    gone = simulator.delete(ENTITY, 3, "GNOS", "DC01")  # deleted before the next full sync
    simulator.set_capacity(page_latency=0.04)
    state = tmp_path / FULL_STATE
    env = {**os.environ, **platform_env, **SLOW}
    command = [str(BIN / "gruponos-meltano"), "run", "full", "--company", "GNOS", "--facility"]
    run = subprocess.Popen([*command, "DC01"], env=env, cwd=tmp_path, text=True)
    deadline = time.monotonic() + 60
    # Killed once allocation is finished and order_dtl under way.
    while not (state.exists() and _finished_first(json.loads(state.read_text())["value"])):
        assert run.poll() is None, "the full sync ended before it could be killed"
        assert time.monotonic() < deadline, "no progress committed within 60 s"
        time.sleep(0.02)
    plugins = children(run.pid)
    run.kill()
    run.wait(timeout=60)
    wait_gone(plugins)
    began = min(
        datetime.fromisoformat(b["resume"]["started"])
        for b in json.loads(state.read_text())["value"]["bookmarks"].values()
        if "resume" in b
    )
    simulator.set_capacity()
    # The second `run full` resumes: the same table version, only what was not done.
    rerun = cli("run", "full", "--company", "GNOS", "--facility", "DC01", "--json")
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming the read of an earlier attempt" in _tap_log(tmp_path)
    report = json.loads(rerun.stdout)
    assert report["validation"]["passed"], report["validation"]
    entities = ("allocation", "order_hdr", "order_dtl")
    total = sum(simulator.count(e, "GNOS", "DC01") for e in entities)
    assert report["records_processed"] < total
    for entity in entities:
        expected = simulator.count(entity, "GNOS", "DC01")
        live = db(f"select count(*), count(distinct id) from {entity} where sdc_deleted_at is null")
        assert live == [(expected, expected)], entity
    assert not _has_progress(json.loads(state.read_text())["value"])  # the sync is finished
    # The incremental job it seeds starts from the first attempt's start (minus its margin).
    seeded = json.loads((tmp_path / INCREMENTAL_STATE).read_text())["value"]["bookmarks"]
    assert {b["replication_key_value"] for b in seeded.values()} == {
        (began - SEED_MARGIN).isoformat()
    }
    # Marked although their stream finished in the killed attempt, whose ACTIVATE_VERSION
    # the orchestrator never forwarded (the tap did not succeed): the resumed run's is.
    marked = {row[0] for row in db("select id from allocation where sdc_deleted_at is not null")}
    assert marked == set(gone)
    # The next full sync starts afresh.
    again = cli("run", "full", "--company", "GNOS", "--facility", "DC01", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["records_processed"] == total


def _finished_first(state: dict) -> bool:
    bookmarks = state.get("bookmarks", {})
    entry = bookmarks.get(ENTITY, {}).get("resume")
    finished = entry is not None and len(entry["done"]) == len(entry["bounds"]) + 1
    return finished and "resume" in bookmarks.get("order_dtl", {})


def _has_progress(state: dict) -> bool:
    return any("resume" in bookmark for bookmark in state.get("bookmarks", {}).values())


def _tap_log(tmp_path: Path) -> str:
    return "\n".join(p.read_text() for p in (tmp_path / "state" / "logs").rglob("*tap*"))
