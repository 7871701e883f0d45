"""No credential stays on disk after a run, however it ends; none is printed at any verbosity.

The orchestrator is killed with SIGKILL while its plugins hold their configs (the database
URL with its password, the WMS password); the next run removes what the dead one left.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gruponos_testing.receivers import http_receiver, kill_process_tree, wait_for

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
DB_PASSWORD = "Db-pass-5150"
SLOW = {
    "GRUPONOS_MELTANO_ORACLE_WMS__PAGE_SIZE": "20",
    "GRUPONOS_MELTANO_ORACLE_DB__BATCH_SIZE_ROWS": "40",
}


def _holding(root: Path, secret: str) -> list[Path]:
    """Every file under `root` whose bytes hold `secret`."""
    found = []
    for path in root.rglob("*"):
        try:
            if path.is_file() and secret.encode() in path.read_bytes():
                found.append(path)
        except OSError:
            continue
    return found


def _start(env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN / "gruponos-meltano"), *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_configs_of_a_killed_run_are_removed_by_the_next_run(
    simulator, platform_env, tmp_path, cli
):
    simulator.set_capacity(page_latency=0.04)
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, **platform_env, **SLOW, "TMPDIR": str(temp)}
    run = _start(env, tmp_path, "run", "full", "--company", "GNOS", "--facility", "DC01")
    configs = wait_for(lambda: list(temp.glob("gruponos-run-*/target.json")), run, "config")
    kill_process_tree(run)
    assert _holding(temp, simulator.password), "the kill left no config: nothing was tested"
    assert configs[0].exists()

    rerun = cli(
        "run", "incremental", "--company", "GNOS", "--facility", "DC01",
        env={"TMPDIR": str(temp)},
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    assert "removed plugin configs left by killed runs" in rerun.stderr
    assert _holding(temp, simulator.password) == []
    assert _holding(tmp_path / "state", simulator.password) == []
    assert not list((tmp_path / "state" / "running").glob("*.json"))


def test_webhook_path_and_pushgateway_password_are_masked_at_every_verbosity(cli, tmp_path):
    token = "hook-path-token-31337"
    with http_receiver(f"/hooks/{token}") as hook:
        env = {
            "GRUPONOS_MELTANO_ALERTS__WEBHOOK_URL": hook.url,
            "GRUPONOS_MELTANO_ORACLE_WMS__PASSWORD": "wrong-password",  # fails: an alert
            "GRUPONOS_MELTANO_METRICS__PUSHGATEWAY_URL": "http://push:Gw-Secret-77@127.0.0.1:9",
            "GRUPONOS_MELTANO_METRICS__PUSHGATEWAY_TIMEOUT": "1",
        }
        verbose = cli(
            "-v", "run", "incremental", "--company", "GNOS", "--facility", "DC01", env=env
        )
        shown = cli("-v", "config", env=env)
    assert verbose.returncode != 0 and hook.requests, verbose.stderr  # the alert went out
    assert "DEBUG urllib3" in verbose.stderr  # the HTTP library's request lines were logged
    for output in (verbose.stdout + verbose.stderr, shown.stdout + shown.stderr):
        assert token not in output and "Gw-Secret-77" not in output
    config = json.loads(shown.stdout)
    assert config["metrics"]["pushgateway_url"] == "http://push:********@127.0.0.1:9"
    assert config["alerts"]["webhook_url"].endswith("/********")
