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
        connection = await manager.get_connection()
        try:
            return connection.exec_driver_sql("select 41 + 1").scalar_one()
        finally:
            connection.close()
            await manager.close()

    assert asyncio.run(use()) == 42
