"""NUL characters in WMS values: PostgreSQL cannot store them, and the run says so.

A tap stand-in sends one stream whose values hold NUL characters (as a WMS text field can);
the real orchestrator and target load it into a PostgreSQL server the test starts.
"""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

STREAM = "nul_probe_orders"


def _tap(path: Path) -> Path:
    now = datetime.now(UTC).isoformat()
    scope = {"scope_company_code": "GNOS", "scope_facility_code": "DC01"}
    properties = {name: {"type": ["string", "null"]} for name in ("note", "ref", "mod_ts", *scope)}
    properties["id"] = {"type": "integer"}
    properties["mod_ts"]["format"] = "date-time"
    records = [
        {"id": 1, "note": "fine", "ref": "a", "mod_ts": now, **scope},
        {"id": 2, "note": "bad\x00note", "ref": "b\x00", "mod_ts": now, **scope},
        {"id": 3, "note": "\x00", "ref": "c", "mod_ts": now, **scope},
    ]
    lines = [
        {"type": "SCHEMA", "stream": STREAM, "key_properties": ["id"],
         "schema": {"type": "object", "properties": properties}},
        *({"type": "RECORD", "stream": STREAM, "record": r} for r in records),
        {"type": "STATE", "value": {"bookmarks": {STREAM: {"replication_key_value": now}}}},
    ]  # fmt: skip
    body = "\n".join(json.dumps(line) for line in lines)
    path.write_text(f"#!/bin/sh\ncat <<'EOF'\n{body}\nEOF\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_nul_characters_dropped_on_postgresql_are_warned_and_reconciled(
    cli, tmp_path, postgres_url
):
    result = cli(
        "run", "incremental", "--company", "GNOS", "--facility", "DC01",
        env={
            "GRUPONOS_MELTANO_TAP_EXECUTABLE": str(_tap(tmp_path / "tap-with-nul")),
            "GRUPONOS_MELTANO_ORACLE_DB__SQLALCHEMY_URL": postgres_url,
        },
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        f"warning: NUL characters dropped from values stored in postgresql (its text cannot "
        f"hold them; the rest of each value is stored): {STREAM} (note: 2 values, ref: 1 value)"
    ) in result.stdout
    assert (
        f"FAILED warning: {STREAM} values_stored_as_sent: NUL characters dropped by "
        "postgresql: note: 2 values, ref: 1 value"
    ) in result.stdout
    assert "quality score 100.0%" not in result.stdout
