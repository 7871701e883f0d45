"""`make demo` on a fresh machine: both facilities into one database, with the proof."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from gruponos_meltano_native.demo import DELETED


def test_the_demo_syncs_two_facilities_and_marks_only_the_purged_allocations(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "gruponos_meltano_native.demo"],
        cwd=tmp_path,  # the demo writes demo-output/ where it runs
        env=dict(os.environ),  # conftest removed any developer GRUPONOS_MELTANO_* settings
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for step in ("##### 1. full sync", "##### 2. incremental sync", "##### 3. second full sync"):
        assert step in out
    assert out.count("reconciliation PASSED") == 6  # 3 syncs x 2 facilities
    assert "WMS simulator stopped." in out

    output = tmp_path / "demo-output"
    with sqlite3.connect(output / "gruponos-demo.db") as db:
        marked = dict(
            db.execute(
                "select scope_facility_code, count(sdc_deleted_at) from allocation group by 1"
            ).fetchall()
        )
    assert marked == {"DC01": DELETED, "DC02": 0}  # DC02's full syncs never touch DC01's rows
    report = (output / "report.html").read_text()
    assert "GNOS / DC01" in report and "GNOS / DC02" in report

    # The closing hint: commands that work when copied into a shell in the same folder.
    hints = out.split("The demo's runs again, from this folder:\n", 1)[1].splitlines()[:2]
    (output / "report.html").unlink()
    for command in hints:
        copied = subprocess.run(
            command.strip(), shell=True, cwd=tmp_path, capture_output=True, text=True
        )
        assert copied.returncode == 0, command + copied.stderr
    assert (
        "full-sync-job"
        in subprocess.run(
            hints[0].strip(), shell=True, cwd=tmp_path, capture_output=True, text=True
        ).stdout
    )
    assert "GNOS / DC01" in (output / "report.html").read_text()


def test_ctrl_c_during_the_demo_stops_the_runs_and_records_each_once(tmp_path):
    import signal

    from gruponos_testing.receivers import wait_for

    demo = subprocess.Popen(
        [sys.executable, "-m", "gruponos_meltano_native.demo"],
        cwd=tmp_path,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    logs = tmp_path / "demo-output" / "state" / "logs"
    wait_for(lambda: list(logs.glob("*/tap.log")), demo, "a run's plugin log")
    os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C on the terminal does
    out, err = demo.communicate(timeout=120)

    assert demo.returncode == 130, out + err
    assert "Traceback" not in err and "interrupted" in err
    with sqlite3.connect(tmp_path / "demo-output" / "gruponos-demo.db") as db:
        runs = db.execute(
            "select run_id, status, failure_kind, count(*) from gruponos_run_history "
            "group by run_id, status, failure_kind"
        ).fetchall()
    by_run: dict[str, list[str]] = {}
    for run_id, status, kind, _ in runs:
        by_run.setdefault(run_id, []).append(f"{status}/{kind}")
    assert all(len(outcomes) == 1 for outcomes in by_run.values()), by_run  # recorded once
    outcomes = [outcome for (outcome,) in by_run.values()]
    # The run in flight was stopped by the Ctrl-C, not by the simulator dying under it.
    assert outcomes.count("interrupted/interrupted") == 1, outcomes
    assert all(o in ("succeeded/None", "interrupted/interrupted") for o in outcomes), outcomes
    assert _simulators_running_in(tmp_path) == []  # stopped once the runs had stopped


def _simulators_running_in(folder: Path) -> list[str]:
    found = []
    for cwd in Path("/proc").glob("[0-9]*/cwd"):
        try:
            command = (cwd.parent / "cmdline").read_bytes()
            if cwd.resolve() == folder and b"wms_simulator" in command:
                found.append(cwd.parent.name)
        except OSError:
            continue
    return found
