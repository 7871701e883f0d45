"""The Python API end to end: full sync, changes in the WMS, incremental sync."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path

from gruponos_meltano_native import (
    create_gruponos_meltano_oracle_manager,
    create_gruponos_meltano_platform,
)

ENTITIES = ("allocation", "order_dtl", "order_hdr")


def test_full_then_incremental_sync_lands_every_change(simulator, settings_for, db, tmp_path):
    platform = create_gruponos_meltano_platform(settings_for())

    full = asyncio.run(platform.execute_full_sync("GNOS", "DC01"))
    assert full.success, full.error
    assert full.error is None
    data = full.data
    assert set(data["entities"]) == set(ENTITIES)
    for entity in ("allocation", "order_hdr"):
        expected = simulator.count(entity, "GNOS", "DC01")
        assert expected > 0
        assert data["entities"][entity] == {"extracted": expected, "loaded": expected}
        (rows,) = db(f"select count(*) from {entity} where facility_id_key = 'DC01'")[0]
        assert rows == expected
        assert db(f"select count(*) from {entity} where facility_id_key <> 'DC01'") == [(0,)]
    # order_dtl has no facility of its own: the tap scopes it through its order.
    lines = simulator.count("order_dtl", "GNOS", "DC01")
    assert 0 < lines < simulator.count("order_dtl")
    assert data["entities"]["order_dtl"] == {"extracted": lines, "loaded": lines}
    assert data["records_processed"] == sum(e["extracted"] for e in data["entities"].values())
    assert data["records_per_second"] > 0 and data["duration_seconds"] > 0
    validation = data["validation"]
    assert validation["passed"] and validation["quality_score"] == 100.0
    assert {c["name"] for c in validation["checks"]} >= {
        "extracted_equals_loaded",
        "wms_count_equals_db_rows",
        "keys_unique_non_null",
        "freshness",
    }
    state = json.loads(Path(data["state_path"]).read_text())
    assert state["company"] == "GNOS" and state["facility"] == "DC01"
    assert "order_hdr" in json.dumps(state["value"])

    simulator.advance(30)
    touched = simulator.touch("order_hdr", 7, "GNOS", "DC01")
    before = _mod_ts(db, touched[0])
    inserted = simulator.insert("order_hdr", 4, "GNOS", "DC01")

    # The tap re-reads the last `lookback_minutes` (5) before its bookmark, by design.
    (newest,) = db("select max(mod_ts) from order_hdr")[0]
    window_start = datetime.fromisoformat(newest) - timedelta(minutes=5)
    in_window = sum(
        datetime.fromisoformat(ts) >= window_start for (ts,) in db("select mod_ts from order_hdr")
    )

    incremental = asyncio.run(platform.execute_incremental_sync("GNOS", "DC01"))
    assert incremental.success, incremental.error
    counts = incremental.data["entities"]
    changed = len(touched) + len(inserted)
    assert changed <= counts["order_hdr"]["extracted"] <= changed + in_window
    assert counts["order_hdr"]["loaded"] == counts["order_hdr"]["extracted"]
    assert incremental.data["records_processed"] < data["records_processed"] / 5
    (rows,) = db("select count(*) from order_hdr")[0]
    assert rows == simulator.count("order_hdr", "GNOS", "DC01")
    new_ids = ",".join(str(i) for i in inserted)
    assert db(f"select count(*) from order_hdr where id in ({new_ids})") == [(len(inserted),)]
    assert db("select count(*) - count(distinct id) from order_dtl") == [(0,)]
    assert _mod_ts(db, touched[0]) - before >= timedelta(minutes=30)


def _mod_ts(db, order_id):
    (value,) = db(f"select mod_ts from order_hdr where id = {order_id}")[0]
    return datetime.fromisoformat(str(value))


def test_oracle_manager_hands_out_checked_connections(settings_for):
    manager = create_gruponos_meltano_oracle_manager(settings_for())

    async def use() -> int:
        result = await manager.get_connection()
        assert result.success and result.error is None
        try:
            return result.data.exec_driver_sql("select 41 + 1").scalar_one()
        finally:
            result.data.close()
            await manager.close()

    assert asyncio.run(use()) == 42


def test_a_connection_failure_is_a_result_with_its_cause(settings_for, tmp_path):
    missing = tmp_path / "no-such-folder" / "wms.db"
    settings = settings_for(GRUPONOS_MELTANO_ORACLE_DB__SQLALCHEMY_URL=f"sqlite:///{missing}")
    manager = create_gruponos_meltano_oracle_manager(settings)
    result = asyncio.run(manager.get_connection())
    assert (result.success, result.data) == (False, None)
    assert result.error.startswith(f"cannot connect to database sqlite:///{missing}")
    assert "unable to open database file" in result.error


# The GrupoNOS documentation's three examples, verbatim (its top-level awaits run in main()).
DOCUMENTED_EXAMPLES = """\
platform = create_gruponos_meltano_platform()
result = await platform.execute_full_sync("GNOS", "DC01")
if result.success:
    print(f"ETL completed: {result.data.records_processed} records")
else:
    print(f"ETL failed: {result.error}")

settings = GruponosMeltanoSettings()
print(f"Environment: {settings.environment}")
print(f"Oracle WMS URL: {settings.oracle_wms.base_url}")

manager = create_gruponos_meltano_oracle_manager()
connection_result = await manager.get_connection()
if connection_result.success:
    conn = connection_result.data
"""


def test_the_documentations_examples_run_as_written(simulator, platform_env, tmp_path):
    import os
    import subprocess
    import sys
    import textwrap

    script = tmp_path / "examples.py"
    script.write_text(
        "import asyncio\n"
        "from gruponos_meltano_native import (\n"
        "    GruponosMeltanoSettings,\n"
        "    create_gruponos_meltano_oracle_manager,\n"
        "    create_gruponos_meltano_platform,\n"
        ")\n\n\n"
        "async def main():\n"
        + textwrap.indent(DOCUMENTED_EXAMPLES, "    ")
        + "    print(conn.exec_driver_sql('select count(*) from order_hdr').scalar_one())\n"
        + "    print(result.data['records_processed'] == result.data.records_processed)\n\n\n"
        + "asyncio.run(main())\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={**os.environ, **platform_env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    records = sum(simulator.count(e, "GNOS", "DC01") for e in ENTITIES)
    assert done.stdout.splitlines()[-5:] == [
        f"ETL completed: {records} records",
        "Environment: dev",
        f"Oracle WMS URL: {simulator.base_url}",
        str(simulator.count("order_hdr", "GNOS", "DC01")),
        "True",
    ]
