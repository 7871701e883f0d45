"""`make demo` on a fresh machine: both facilities into one database, with the proof."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

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
