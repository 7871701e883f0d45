"""Run history, metrics and report through real runs of `gruponos-meltano` (real processes)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gruponos_meltano_native.pipeline.lock import ScopeLock
from gruponos_testing.browser_and_pushgateway import (
    pushgateway_for_tests,
    pushgateway_groups,
)

SCOPE = ("--company", "GNOS", "--facility", "DC01")


@pytest.fixture
def gateway():
    with pushgateway_for_tests() as url:
        yield url


def _history_rows(db_path: Path) -> list[sqlite3.Row]:
    with sqlite3.connect(db_path) as connection:
        connection.row_factory = sqlite3.Row
        return connection.execute(
            "select * from gruponos_run_history order by started_at, entity"
        ).fetchall()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_every_run_is_recorded_pushed_and_shown(cli, simulator, tmp_path, gateway):
    textfile = tmp_path / "node" / "gruponos.prom"
    textfile.parent.mkdir()
    env = {
        "GRUPONOS_MELTANO_METRICS__TEXTFILE_PATH": str(textfile),
        "GRUPONOS_MELTANO_METRICS__PUSHGATEWAY_URL": gateway,
    }
    full = cli("run", "full", *SCOPE, "--json", env=env)
    assert full.returncode == 0, full.stderr
    full_report = json.loads(full.stdout)
    assert full_report["warnings"] == []
    incremental = cli("run", "incremental", *SCOPE, env=env)
    assert incremental.returncode == 0, incremental.stderr
    wrong = {**env, "GRUPONOS_MELTANO_ORACLE_WMS__PASSWORD": "Wrong-Secret-77"}
    failed = cli("run", "incremental", *SCOPE, env=wrong)
    assert failed.returncode == 5, failed.stdout + failed.stderr

    rows = _history_rows(tmp_path / "wms.db")
    by_run: dict[str, list[sqlite3.Row]] = {}
    for row in rows:
        by_run.setdefault(row["run_id"], []).append(row)
    assert [r[0]["status"] for r in by_run.values()] == ["succeeded", "succeeded", "failed"]
    first = {row["entity"]: row for row in by_run[full_report["run_id"]]}
    for entity, figures in full_report["entities"].items():
        assert first[entity]["extracted"] == figures["extracted"]
        assert first[entity]["loaded"] == figures["loaded"]
        checked = full_report["validation"]["entities"][entity]
        assert first[entity]["wms_count"] == checked["wms_count"] is not None
        assert first[entity]["db_rows"] == checked["db_rows"]
        assert first[entity]["marked_deleted"] == 0
        assert first[entity]["quality_score"] == 100.0
    (last,) = list(by_run.values())[-1]
    assert (last["entity"], last["failure_kind"]) == ("*", "extract")
    assert "rejected the credentials" in last["error_message"]
    assert "Wrong-Secret-77" not in last["error_message"]

    shown = cli("history", "--last", "2")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split()[:3] == ["run", "id", "job"]
    assert "failed (extract)" in lines[2] and "incremental-sync-job" in lines[2]
    assert "succeeded" in lines[3] and len(lines) == 4  # newest first, two runs
    only_full = json.loads(cli("history", "--job", "full-sync-job", "--json").stdout)
    assert {row["run_id"] for row in only_full} == {full_report["run_id"]}
    none = cli("history", "--facility", "DC99", "--job", "full-sync-job")
    assert none.returncode == 0, none.stderr
    assert none.stdout.startswith(
        "no runs match facility DC99, job full-sync-job in gruponos_run_history;"
    )

    # The textfile holds the scope's last run, last success and failures by kind.
    text = textfile.read_text()
    scope = 'job="incremental-sync-job",company="GNOS",facility="DC01"'
    assert f'gruponos_meltano_failures_total{{{scope},kind="extract"}} 1' in text
    assert f'gruponos_meltano_last_run_status{{{scope},status="failed"}} 1' in text
    assert f"gruponos_meltano_last_success_timestamp_seconds{{{scope}}}" in text

    # The Pushgateway holds one group per job for the scope, read back through its API.
    groups = {g["labels"]["job"]: g for g in pushgateway_groups(gateway)}
    loaded = groups["full-sync-job"]["gruponos_meltano_records_loaded"]["metrics"]
    assert {m["labels"]["entity"]: int(float(m["value"])) for m in loaded} == {
        name: figures["loaded"] for name, figures in full_report["entities"].items()
    }
    failures = groups["incremental-sync-job"]["gruponos_meltano_failures_total"]["metrics"]
    assert [(m["labels"]["kind"], float(m["value"])) for m in failures] == [("extract", 1.0)]

    report = cli("report", "--out", "out/report.html")
    assert report.returncode == 0, report.stderr
    page = tmp_path / "out" / "report.html"
    assert report.stdout.strip() == f"report written to {page}"
    html = page.read_text()
    assert html.count('<svg class="chart"') == 4  # records and duration, for each job
    assert "failed (extract)" in html


def test_metrics_problems_are_warnings_not_failures(cli, simulator, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    port = _free_port()
    env = {
        "GRUPONOS_MELTANO_METRICS__TEXTFILE_PATH": str(blocker / "gruponos.prom"),
        "GRUPONOS_MELTANO_METRICS__PUSHGATEWAY_URL": f"http://push:Hidden-9@127.0.0.1:{port}",
    }
    run = cli("run", "full", *SCOPE, "--entities", "order_hdr", env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"warning: metrics textfile {blocker}/gruponos.prom not written" in run.stdout
    assert (
        f"warning: metrics not pushed to Pushgateway http://127.0.0.1:{port}: cannot connect"
        in run.stdout
    )
    assert "Hidden-9" not in run.stdout + run.stderr
    assert [r["status"] for r in _history_rows(tmp_path / "wms.db")] == ["succeeded"]


def test_rows_wait_while_the_database_is_down_and_the_next_run_writes_them(
    cli, simulator, tmp_path
):
    folder = tmp_path / "db-folder"
    env = {"GRUPONOS_MELTANO_ORACLE_DB__SQLALCHEMY_URL": f"sqlite:///{folder / 'wms.db'}"}
    down = cli("run", "full", *SCOPE, "--entities", "order_hdr", env=env)
    assert down.returncode == 6, down.stdout + down.stderr  # the target cannot open it
    assert "warning: run history not written (OperationalError" in down.stdout
    pending = list((tmp_path / "state" / "history" / "pending").glob("*.json"))
    assert len(pending) == 1
    unreadable = cli("history", env=env)
    assert unreadable.returncode == 4
    assert f"cannot read the run history from sqlite:///{folder / 'wms.db'}" in unreadable.stderr

    folder.mkdir()  # the database is back
    up = cli("run", "full", *SCOPE, "--entities", "order_hdr", env=env)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "warning" not in up.stdout
    assert not list((tmp_path / "state" / "history" / "pending").glob("*.json"))
    rows = _history_rows(folder / "wms.db")
    assert [(r["status"], r["failure_kind"]) for r in rows] == [
        ("failed", "load"),
        ("succeeded", None),
    ]
    # The history says why the target failed, not only that it exited with code 1.
    failed_line = cli("history", env=env).stdout.splitlines()[3]
    assert "failed (load)" in failed_line
    assert "target-gruponos-oracle exited with code 1: OperationalError:" in failed_line
    assert "unable to open database file" in failed_line


def test_history_shows_why_the_tap_failed(cli, simulator, tmp_path):
    # The company/facility check passes (entity list, company, facility: 3 requests); the
    # tap's first request after it fails and is not retried.
    simulator.set_faults(fail_every=4, fail_status=503, retry_after=0)
    env = {"GRUPONOS_MELTANO_ORACLE_WMS__MAX_RETRIES": "0"}
    run = cli("run", "incremental", *SCOPE, "--entities", "order_hdr", env=env)
    simulator.set_faults()
    assert run.returncode == 5, run.stdout + run.stderr
    cause = (
        "tap-oracle-wms exited with code 1: Giving up after 1 attempt "
        "(setting 'max_retries' is 0): HTTP 503"
    )
    (row,) = _history_rows(tmp_path / "wms.db")
    assert row["error_message"].startswith(cause)
    shown = cli("history").stdout.splitlines()
    assert "failed (extract)" in shown[2] and cause in shown[2]


def test_a_history_table_with_other_columns_is_an_error_naming_them(cli, simulator, tmp_path):
    with sqlite3.connect(tmp_path / "wms.db") as connection:
        connection.execute("create table runs (id integer, started text, status text)")
    env = {"GRUPONOS_MELTANO_HISTORY__TABLE": "runs"}
    shown = cli("history", env=env)
    assert shown.returncode == 3
    assert "run-history table runs exists with other columns; missing: run_id, job," in (
        shown.stderr
    )
    run = cli("run", "full", *SCOPE, "--entities", "order_hdr", env=env)
    assert run.returncode == 0, run.stdout + run.stderr  # the data was loaded: the run stands
    assert "warning: run history not written: run-history table runs exists" in run.stdout


def test_an_interrupted_run_is_recorded_as_interrupted(simulator, platform_env, tmp_path):
    simulator.set_capacity(page_latency=0.04)
    env = {
        **os.environ,
        **platform_env,
        "GRUPONOS_MELTANO_ORACLE_WMS__PAGE_SIZE": "20",
        "GRUPONOS_MELTANO_ORACLE_DB__BATCH_SIZE_ROWS": "40",
    }
    state = tmp_path / "state" / "bookmarks" / "full-sync-job" / "GNOS" / "DC01.json"
    run = subprocess.Popen(
        [str(Path(sys.executable).parent / "gruponos-meltano"), "run", "full", *SCOPE],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not state.exists():  # the first commit: the run is well under way
        assert run.poll() is None, "the run ended before it could be stopped"
        assert time.monotonic() < deadline, "no state committed within 60 s"
        time.sleep(0.02)
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=120)
    simulator.set_capacity()
    assert run.returncode == 130, out + err
    rows = {r["entity"]: r for r in _history_rows(tmp_path / "wms.db")}
    assert rows, "the interrupted run left no history rows"
    assert {(r["status"], r["failure_kind"]) for r in rows.values()} == {
        ("interrupted", "interrupted")
    }
    # One row per entity it reached, with what got through before the stop: the first
    # commit came after allocation, so allocation was extracted and loaded.
    assert "*" not in rows
    assert rows["allocation"]["extracted"] > 0
    assert rows["allocation"]["loaded"] == rows["allocation"]["extracted"]


def test_a_run_skipped_because_the_facility_is_held_is_recorded(cli, tmp_path):
    holder = {"job": "full-sync-job", "run_id": "20261126T030000Z-holder"}
    with ScopeLock(tmp_path / "state", "GNOS", "DC01", holder):
        run = cli("run", "incremental", *SCOPE, "--entities", "order_hdr")
    assert run.returncode == 9, run.stdout + run.stderr
    # Said once, and nothing printed about records, database or logs it never had.
    assert run.stdout.splitlines()[1:] == [
        "nothing was done: another run holds this company/facility"
    ]
    assert run.stderr.count("is busy: held by full-sync-job run 20261126T030000Z-holder") == 1
    (row,) = _history_rows(tmp_path / "wms.db")
    assert (row["status"], row["failure_kind"], row["entity"]) == ("skipped", None, "order_hdr")
    assert row["extracted"] is None  # never read
    assert "20261126T030000Z-holder" in row["error_message"]
    shown = cli("history")
    assert "skipped" in shown.stdout.splitlines()[2]


def _pending_row(run_id: str, entity: str) -> dict:
    return {
        "run_id": run_id,
        "job": "full-sync-job",
        "company": "GNOS",
        "facility": "DC01",
        "entity": entity,
        "started_at": "2026-12-01T00:00:00+00:00",
        "ended_at": "2026-12-01T00:01:00+00:00",
        "duration_seconds": 60.0,
        "status": "succeeded",
    }


def test_bad_pending_files_and_a_corrupt_snapshot_are_quarantined_not_blocking(
    cli, simulator, tmp_path
):
    pending = tmp_path / "state" / "history" / "pending"
    pending.mkdir(parents=True)
    # A file cut short by a full disk, and one whose rows the table refuses (the same entity
    # twice: the primary key), next to a good waiting run.
    (pending / "20261201T000000Z-aaaaaa.json").write_text('[{"run_id": "20261201T0')
    twice = [_pending_row("20261201T000100Z-bbbbbb", "order_hdr")] * 2
    (pending / "20261201T000100Z-bbbbbb.json").write_text(json.dumps(twice))
    good = [_pending_row("20261201T000200Z-cccccc", "order_hdr")]
    (pending / "20261201T000200Z-cccccc.json").write_text(json.dumps(good))
    snapshot = tmp_path / "state" / "metrics" / "snapshot.json"
    snapshot.parent.mkdir(parents=True)
    snapshot.write_text('{"full-sync-job/GNOS/DC01": {"labels": "cut')
    textfile = tmp_path / "gruponos.prom"
    env = {"GRUPONOS_MELTANO_METRICS__TEXTFILE_PATH": str(textfile)}

    run = cli("run", "full", *SCOPE, "--entities", "order_hdr", env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    quarantined = sorted((pending / "quarantine").glob("*.json"))
    assert [p.name.split(".")[0] for p in quarantined] == [
        "20261201T000000Z-aaaaaa",
        "20261201T000100Z-bbbbbb",
    ]
    for path in quarantined:
        assert f"{path}" in run.stdout  # each warning names its quarantine file
    assert "refused the rows of run 20261201T000100Z-bbbbbb" in run.stdout
    (kept_snapshot,) = (snapshot.parent / "quarantine").glob("snapshot.*.json")
    assert "metrics snapshot unreadable" in run.stdout and str(kept_snapshot) in run.stdout
    assert "gruponos_meltano_runs_total" in textfile.read_text()
    assert not list(pending.glob("*.json"))
    runs = {r["run_id"] for r in _history_rows(tmp_path / "wms.db")}
    assert "20261201T000200Z-cccccc" in runs and len(runs) == 2  # the good one and this run

    again = cli("run", "full", *SCOPE, "--entities", "order_hdr", env=env)
    assert again.returncode == 0 and "warning" not in again.stdout, again.stdout
    assert "wait in" not in cli("history").stdout
    assert len({r["run_id"] for r in _history_rows(tmp_path / "wms.db")}) == 3


def test_a_pending_row_postgresql_refuses_is_quarantined_and_later_rows_written(
    postgres_url, tmp_path
):
    from gruponos_meltano_native.observe.history import (
        HistoryRow,
        PendingRows,
        RunHistory,
        write_with_pending,
    )

    # A facility code longer than the column (varchar(64)), as versions before the code
    # rule could leave waiting.
    history = RunHistory({"sqlalchemy_url": postgres_url}, f"history_{tmp_path.name[-20:]}")
    pending = PendingRows(tmp_path / "state")
    too_long = {**_pending_row("20261201T000000Z-aaaaaa", "order_hdr"), "facility": "F" * 70}
    kept = pending.save("20261201T000000Z-aaaaaa", [HistoryRow.from_mapping(too_long)])
    good = HistoryRow.from_mapping(_pending_row("20261201T000100Z-bbbbbb", "order_hdr"))

    (warning,) = write_with_pending(history, pending, good.run_id, [good])
    (quarantined,) = (kept.parent / "quarantine").glob("*.json")
    assert "refused the rows of run 20261201T000000Z-aaaaaa (DataError" in warning
    assert str(quarantined) in warning
    assert pending.count() == 0
    assert [row.run_id for row in history.runs()] == [good.run_id]
