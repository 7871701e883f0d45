"""The ledger of plugin configs: a dead run's files go, a live run's and others' stay."""

from __future__ import annotations

import json
import os
import subprocess
import time

from gruponos_meltano_native.pipeline.leftovers import RunFiles, remove_leftovers


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_only_dead_runs_files_are_removed_and_meltanos_only_from_their_window(tmp_path):
    state = tmp_path / "state"
    project = tmp_path / "project"
    run_dir = project / ".meltano" / "run" / "tap-oracle-wms--full"
    run_dir.mkdir(parents=True)
    older = run_dir / "tap.older.config.json"  # another Meltano use, before the dead run
    older.write_text("{}")
    past = time.time() - 3600
    os.utime(older, (past, past))
    dead_config = run_dir / "tap.dead.config.json"
    dead_config.write_text('{"password": "x"}')
    dead_folder = tmp_path / "gruponos-run-dead"
    dead_folder.mkdir()
    (dead_folder / "target.json").write_text('{"sqlalchemy_url": "…"}')
    ledger = state / "running"
    ledger.mkdir(parents=True)
    (ledger / "dead.json").write_text(
        json.dumps(
            {
                "pid": _dead_pid(),
                "pid_started": "1",
                "paths": [str(dead_folder)],
                "meltano_project": str(project),
                "started": time.time() - 60,
                "finished": None,
            }
        )
    )
    (ledger / "cut-short.json").write_text('{"pid": ')  # killed while writing it

    with RunFiles(state, "live") as live:
        live_folder = tmp_path / "gruponos-run-live"
        live_folder.mkdir()
        live.add(live_folder)
        assert remove_leftovers(state) == [str(dead_folder), str(dead_config)]
        assert live_folder.exists() and older.exists()
        assert sorted(p.name for p in ledger.iterdir()) == ["live.json"]
    assert not live_folder.exists() and not list(ledger.iterdir())
