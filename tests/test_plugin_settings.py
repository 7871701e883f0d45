"""Plugin settings set on the platform reach the tap and target processes of a run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

BIN = Path(sys.executable).parent

# Records the config file the orchestrator hands a plugin, then runs the real plugin.
RECORDER = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open(args[args.index("--config") + 1]) as handle:
    config = json.load(handle)
with open({record!r}, "a") as out:
    out.write(json.dumps({{"args": args, "config": config}}) + "\\n")
os.execv({real!r}, [{real!r}, *args])
"""

SCOPE_PATHS = {
    "order_dtl": {
        "company": "order_id__company_id__code",
        "facility": "order_id__facility_id__code",
    }
}


def _recorder(folder: Path, plugin: str) -> tuple[Path, Path]:
    record = folder / f"{plugin}.jsonl"
    script = folder / plugin
    script.write_text(
        RECORDER.format(python=sys.executable, record=str(record), real=str(BIN / plugin))
    )
    script.chmod(0o755)
    return script, record


def _calls(record: Path) -> list[dict]:
    return [json.loads(line) for line in record.read_text().splitlines()]


def test_scope_paths_unscoped_entities_parallelism_and_ddl_lock_timeout_reach_the_plugins(
    cli, simulator, tmp_path
):
    folder = tmp_path / "recorders"
    folder.mkdir()
    tap, tap_record = _recorder(folder, "tap-oracle-wms")
    target, target_record = _recorder(folder, "target-gruponos-oracle")
    env = {
        "GRUPONOS_MELTANO_TAP_EXECUTABLE": str(tap),
        "GRUPONOS_MELTANO_TARGET_EXECUTABLE": str(target),
        "GRUPONOS_MELTANO_ORACLE_WMS__SCOPE_PATHS": json.dumps(SCOPE_PATHS),
        "GRUPONOS_MELTANO_ORACLE_WMS__UNSCOPED_ENTITIES": "item,location",
        "GRUPONOS_MELTANO_ORACLE_WMS__MAX_PARALLEL_REQUESTS": "2",
        "GRUPONOS_MELTANO_ORACLE_DB__DDL_LOCK_TIMEOUT": "15",
    }
    run = cli(
        "run", "full", "--company", "GNOS", "--facility", "DC01", "--entities", "order_dtl", env=env
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "reconciliation PASSED" in run.stdout  # the given paths scoped order_dtl exactly

    tap_calls = _calls(tap_record)
    assert [c["args"][-1] == "--discover" for c in tap_calls] == [True, False]
    for call in tap_calls:  # discovery and extraction alike
        config = call["config"]
        assert config["scope_paths"] == SCOPE_PATHS
        assert config["unscoped_entities"] == ["item", "location"]
        assert config["max_parallel_requests"] == 2
        assert (config["company_code"], config["facility_code"]) == ("GNOS", "DC01")
    (target_call,) = _calls(target_record)
    assert target_call["config"]["ddl_lock_timeout"] == 15
    assert target_call["config"]["activate_version_scope"] == {
        "scope_company_code": "GNOS",
        "scope_facility_code": "DC01",
    }
