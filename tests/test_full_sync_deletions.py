"""A full sync marks rows deleted only once it has completed (tap → target, real processes).

The tap writes ACTIVATE_VERSION after a FULL_TABLE stream's last record: a full sync that
fails halfway must leave every loaded row alone; a completed one marks the rows that no
longer came from the WMS.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


def full_table_catalog(config_path: Path) -> dict:
    discovered = subprocess.run(
        [str(BIN / "tap-oracle-wms"), "--config", str(config_path), "--discover"],
        capture_output=True,
        text=True,
        check=True,
    )
    catalog = json.loads(discovered.stdout)
    for stream in catalog["streams"]:
        stream["replication_method"] = "FULL_TABLE"
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"].update(
                    selected=True, **{"forced-replication-method": "FULL_TABLE"}
                )
    return catalog


def pipe(tmp_path: Path, tap_config: dict, catalog: dict) -> tuple[int, int, str]:
    """Run tap | target; both exit codes and the tap's stderr."""
    paths = {name: tmp_path / f"{name}.json" for name in ("tap", "catalog", "target")}
    paths["tap"].write_text(json.dumps(tap_config))
    paths["catalog"].write_text(json.dumps(catalog))
    paths["target"].write_text(json.dumps({"sqlalchemy_url": f"sqlite:///{tmp_path / 'wms.db'}"}))
    tap = subprocess.Popen(
        [
            str(BIN / "tap-oracle-wms"),
            "--config",
            str(paths["tap"]),
            "--catalog",
            str(paths["catalog"]),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    target = subprocess.run(
        [str(BIN / "target-gruponos-oracle"), "--config", str(paths["target"])],
        stdin=tap.stdout,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert tap.stdout is not None and tap.stderr is not None
    tap.stdout.close()
    stderr = tap.stderr.read().decode()
    return tap.wait(timeout=60), target.returncode, stderr


def test_only_a_completed_full_sync_marks_rows_deleted(simulator: Any, db: Any, tmp_path: Path):
    config = {
        "base_url": simulator.base_url,
        "username": simulator.username,
        "password": simulator.password,
        "facility_code": "DC01",
        "entities": ["order_hdr"],
        "page_size": 20,
        "max_retries": 0,
        "emit_activate_version_messages": True,
    }
    config_path = tmp_path / "discover.json"
    config_path.write_text(json.dumps(config))
    catalog = full_table_catalog(config_path)
    loaded = simulator.count("order_hdr", facility="DC01")

    before = simulator.api_requests
    assert pipe(tmp_path, config, catalog)[:2] == (0, 0)
    requests_per_run = simulator.api_requests - before
    # The target names `_sdc_deleted_at` sdc_deleted_at (no leading underscore).
    deleted = "select count(*) from order_hdr where sdc_deleted_at is not null"
    assert db("select count(*) from order_hdr") == [(loaded,)] and db(deleted) == [(0,)]

    # A full sync failing on its last page: nothing may be marked deleted.
    simulator.set_faults(fail_every=requests_per_run, fail_status=503, retry_after=0)
    tap_code, target_code, stderr = pipe(tmp_path, config, catalog)
    assert tap_code == 1 and "Giving up" in stderr and target_code == 0
    assert db(deleted) == [(0,)]

    # A completed full sync without the lowest ids: exactly those rows are marked deleted.
    simulator.set_faults()
    ids = sorted(r[0] for r in db("select id from order_hdr"))
    narrowed = {**config, "entity_filters": {"order_hdr": {"id__gte": ids[3]}}}
    assert pipe(tmp_path, narrowed, catalog)[:2] == (0, 0)
    assert db("select id from order_hdr where sdc_deleted_at is not null order by id") == [
        (i,) for i in ids[:3]
    ]
