"""The Meltano project: `meltano install` and `meltano run` against the simulator and SQLite.

Meltano lives in its own virtualenv (`.venv-meltano`, made by `make test`), since its
dependencies conflict with the plugins'. The plugins' own virtualenvs come from meltano.yml's
`pip_url`s, installed by `meltano install` itself.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from gruponos_testing.postgres import skip_or_fail
from gruponos_testing.receivers import kill_process_tree, wait_for

REPO = Path(__file__).resolve().parents[1]
STATE_ID = "dev:tap-oracle-wms-to-target-gruponos-oracle"


@pytest.fixture(scope="session")
def meltano_bin() -> Path:
    """Meltano from `.venv-meltano` (or MELTANO_BIN); a skip locally, a failure in CI."""
    path = Path(os.environ.get("MELTANO_BIN", REPO / ".venv-meltano" / "bin" / "meltano"))
    if not path.exists():
        skip_or_fail(
            "Meltano", f"not installed at {path}; `make test` installs it in .venv-meltano"
        )
    return path


@pytest.fixture(scope="session")
def meltano_installed(meltano_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`meltano install` in the repository, with a system database of the session's own."""
    system_db = tmp_path_factory.mktemp("meltano") / "meltano.db"
    result = subprocess.run(
        [str(meltano_bin), "install"],
        cwd=REPO,
        env={**os.environ, "MELTANO_DATABASE_URI": f"sqlite:///{system_db}"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return system_db


def _meltano_ok(meltano_bin: Path, env: dict[str, str], *args: str) -> str:
    """Run a Meltano command in the repository; its stdout (it must succeed)."""
    done = subprocess.run(
        [str(meltano_bin), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _tap_records(output: str) -> int:
    return sum(
        json.loads(m)["value"]
        for m in re.findall(r"tap-oracle-wms\S* METRIC: (\{.*\})", output)
        if '"record_count"' in m
    )


def test_meltano_run_loads_and_keeps_state(meltano_bin, meltano_installed, simulator, tmp_path, db):
    env = {
        **os.environ,
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "NO_COLOR": "1",
        "TAP_ORACLE_WMS_BASE_URL": simulator.base_url,
        "TAP_ORACLE_WMS_USERNAME": simulator.username,
        "TAP_ORACLE_WMS_PASSWORD": simulator.password,
        "TARGET_GRUPONOS_ORACLE_SQLALCHEMY_URL": f"sqlite:///{tmp_path / 'wms.db'}",
    }

    def meltano(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(meltano_bin), *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    first = meltano("run", "tap-oracle-wms", "target-gruponos-oracle")
    assert first.returncode == 0, first.stdout + first.stderr
    hdr = simulator.count("order_hdr", "GNOS", "DC01")
    assert db("select count(*) from order_hdr") == [(hdr,)]
    state = json.loads(meltano("state", "get", STATE_ID).stdout)
    assert "order_hdr" in state["singer_state"]["bookmarks"]
    everything = _tap_records(first.stdout + first.stderr)
    assert everything >= hdr

    simulator.advance(20)
    simulator.touch("order_hdr", 4, "GNOS", "DC01")
    second = meltano("run", "tap-oracle-wms", "target-gruponos-oracle")
    assert second.returncode == 0, second.stdout + second.stderr
    changed = _tap_records(second.stdout + second.stderr)
    assert 4 <= changed < everything / 5  # Meltano handed the tap its state
    assert simulator.password not in first.stdout + first.stderr + second.stdout + second.stderr


def test_orchestrator_runs_jobs_through_meltano(
    meltano_bin, meltano_installed, cli, simulator, tmp_path
):
    env = {
        "GRUPONOS_MELTANO_RUNNER": "meltano",
        "GRUPONOS_MELTANO_MELTANO_EXECUTABLE": str(meltano_bin),
        "GRUPONOS_MELTANO_MELTANO_PROJECT_DIR": str(REPO),
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
    }
    full = cli("run", "full", "--company", "GNOS", "--facility", "DC01", "--json", env=env)
    assert full.returncode == 0, full.stderr[-3000:]
    report = json.loads(full.stdout)
    hdr = simulator.count("order_hdr", "GNOS", "DC01")
    assert report["entities"]["order_hdr"] == {"extracted": hdr, "loaded": hdr}
    assert report["validation"]["passed"]
    assert report["validation"]["entities"]["order_hdr"]["wms_count"] == hdr

    simulator.advance(20)
    simulator.touch("order_hdr", 3, "GNOS", "DC01")
    first_incremental = cli(
        "run", "incremental", "--company", "GNOS", "--facility", "DC01", "--json", env=env
    )
    assert first_incremental.returncode == 0, first_incremental.stderr[-3000:]
    second_incremental = cli(
        "run", "incremental", "--company", "GNOS", "--facility", "DC01", "--json", env=env
    )
    assert second_incremental.returncode == 0, second_incremental.stderr[-3000:]
    extracted = json.loads(second_incremental.stdout)["entities"]["order_hdr"]["extracted"]
    assert extracted < hdr / 3  # the second incremental run started from Meltano's state


def test_meltano_yml_declares_the_platforms_jobs_and_schedules():
    import yaml
    from gruponos_meltano_native.jobs import JOBS

    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    jobs = {job["name"]: job["tasks"] for job in project["jobs"]}
    schedules = {s["name"]: (s["job"], s["interval"]) for s in project["schedules"]}
    extractors = {p["name"]: p for p in project["plugins"]["extractors"]}
    for job in JOBS.values():
        assert jobs[job.name] == [f"{job.meltano_extractor} target-gruponos-oracle"]
        assert schedules[job.schedule_name] == (job.name, job.schedule)
        assert extractors[job.meltano_extractor]["inherit_from"] == "tap-oracle-wms"
    assert {e["name"] for e in project["environments"]} == {"dev", "staging", "prod"}


def test_deletions_are_mirrored_per_facility_through_meltano(
    meltano_bin, meltano_installed, cli, simulator, tmp_path, db
):
    from target_gruponos_oracle.target import TargetGruponosOracle

    if "activate_version_scope" not in TargetGruponosOracle.config_jsonschema["properties"]:
        pytest.fail("needs target-gruponos-oracle with activate_version_scope (issue 9/10 merge)")
    env = {
        "GRUPONOS_MELTANO_RUNNER": "meltano",
        "GRUPONOS_MELTANO_MELTANO_EXECUTABLE": str(meltano_bin),
        "GRUPONOS_MELTANO_MELTANO_PROJECT_DIR": str(REPO),
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
    }
    both = cli("run", "full", "--company", "GNOS", "--facility", "DC01,DC02", env=env, timeout=600)
    assert both.returncode == 0, both.stdout[-3000:] + both.stderr[-3000:]
    purged = simulator.delete("allocation", 3, "GNOS", "DC02")
    again = cli("run", "full", "--company", "GNOS", "--facility", "DC02", "--json", env=env)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    allocation = json.loads(again.stdout)["validation"]["entities"]["allocation"]
    assert allocation["marked_deleted"] == 3
    assert allocation["db_rows"] == allocation["wms_count"]
    marked = db("select id, scope_facility_code from allocation where sdc_deleted_at is not null")
    assert sorted(marked) == [(i, "DC02") for i in purged]


def test_meltano_hands_the_plugins_the_platforms_scope_parallelism_and_lock_settings(
    meltano_bin, settings_for, tmp_path
):
    # The settings the Meltano runner passes as environment variables are declared in
    # meltano.yml, so Meltano hands them to the plugins (it drops undeclared ones).
    from gruponos_meltano_native.jobs import RunScope
    from gruponos_meltano_native.runners.meltano_runner import plugin_env

    scope_paths = {"order_dtl": {"facility": "order_id__facility_id__code"}}
    settings = settings_for(
        GRUPONOS_MELTANO_ORACLE_WMS__SCOPE_PATHS=json.dumps(scope_paths),
        GRUPONOS_MELTANO_ORACLE_WMS__UNSCOPED_ENTITIES="item",
        GRUPONOS_MELTANO_ORACLE_WMS__MAX_PARALLEL_REQUESTS="2",
        GRUPONOS_MELTANO_ORACLE_DB__DDL_LOCK_TIMEOUT="15",
    )
    scope = RunScope.of("full", "GNOS", "DC02")
    env = {
        **os.environ,
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        **plugin_env("TAP_ORACLE_WMS", settings.tap_config(scope)),
        **plugin_env("TARGET_GRUPONOS_ORACLE", settings.target_config(scope)),
    }

    def effective(plugin: str) -> dict:
        return json.loads(_meltano_ok(meltano_bin, env, "config", "print", plugin))

    tap = effective(scope.job.meltano_extractor)
    assert tap["scope_paths"] == scope_paths
    assert tap["unscoped_entities"] == ["item"]
    assert tap["max_parallel_requests"] == 2
    assert (tap["company_code"], tap["facility_code"]) == ("GNOS", "DC02")
    target = effective("target-gruponos-oracle")
    assert target["ddl_lock_timeout"] == 15
    assert target["activate_version_scope"] == {
        "scope_company_code": "GNOS",
        "scope_facility_code": "DC02",
    }


def test_the_meltano_runners_configs_of_a_killed_run_are_removed_by_the_next_run(
    meltano_bin, meltano_installed, simulator, platform_env, tmp_path, cli
):
    simulator.set_capacity(page_latency=0.04)
    env = {
        "GRUPONOS_MELTANO_RUNNER": "meltano",
        "GRUPONOS_MELTANO_MELTANO_EXECUTABLE": str(meltano_bin),
        "GRUPONOS_MELTANO_MELTANO_PROJECT_DIR": str(REPO),
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
    }
    run_dir = REPO / ".meltano" / "run"
    before = set(run_dir.glob("*/*.config.json"))
    slow = {"GRUPONOS_MELTANO_ORACLE_WMS__PAGE_SIZE": "20"}
    bin_dir = Path(sys.executable).parent
    scope = ("--company", "GNOS", "--facility", "DC01")
    run = subprocess.Popen(
        [str(bin_dir / "gruponos-meltano"), "run", "incremental", *scope],
        env={**os.environ, **platform_env, **slow, **env},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def new_configs() -> list[Path]:
        return [p for p in run_dir.glob("*/*.config.json") if p not in before]

    def holding_password() -> list[Path]:
        return [p for p in new_configs() if simulator.password.encode() in _bytes(p)]

    wait_for(holding_password, run, "Meltano's config")
    kill_process_tree(run)  # Meltano too: nobody is left to remove its configs
    assert new_configs()

    # Another job: Meltano itself holds the killed job's id as running until it goes stale.
    rerun = cli("run", "full", *scope, "--entities", "facility", env=env)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "removed plugin configs left by killed runs" in rerun.stderr
    assert new_configs() == []


def _bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def test_a_future_mod_ts_never_stalls_the_meltano_runner(
    meltano_bin, meltano_installed, cli, simulator, tmp_path, db
):
    # WMS data-entry errors: orders stamped in 2099 and in 9999 (see test_future_bookmarks),
    # both in one run: each Meltano run costs seconds.
    env = {
        "GRUPONOS_MELTANO_RUNNER": "meltano",
        "GRUPONOS_MELTANO_MELTANO_EXECUTABLE": str(meltano_bin),
        "GRUPONOS_MELTANO_MELTANO_PROJECT_DIR": str(REPO),
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
        "GRUPONOS_MELTANO_ORACLE_WMS__ENTITIES": "order_hdr",
    }
    future = dict(zip(simulator.touch("order_hdr", 2, "GNOS", "DC01"), (2099, 9999), strict=True))
    values = {}
    for row_id, year in future.items():
        values[row_id] = dt.datetime(year, 1, 1, tzinfo=simulator.now().tzinfo)
        simulator.set_value("order_hdr", row_id, "mod_ts", values[row_id])
    value = max(values.values())  # the 9999 one: the bookmark the repair below must undo

    def incremental() -> dict:
        run = cli(
            "run", "incremental", "--company", "GNOS", "--facility", "DC01", "--json", env=env
        )
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        return json.loads(run.stdout)

    first = incremental()
    for row_id, stamped in values.items():
        assert db(f"select mod_ts from order_hdr where id = {row_id}") == [(stamped.isoformat(),)]
    checks = {c["name"]: c for c in first["validation"]["checks"] if c["entity"] == "order_hdr"}
    assert "beyond the WMS's clock" in checks["freshness"]["detail"]

    simulator.advance(20)
    touched = simulator.touch("order_hdr", 3, "GNOS", "DC01")
    second = incremental()
    assert 3 <= second["entities"]["order_hdr"]["extracted"] < 20
    newest = simulator.now().isoformat()
    for row_id in touched:
        assert db(f"select mod_ts from order_hdr where id = {row_id}") == [(newest,)]

    # A bookmark an earlier version left in the future, in Meltano's state: brought back.
    state_id = "dev:tap-oracle-wms--incremental-to-target-gruponos-oracle:GNOS-DC01"
    menv = {**os.environ, "MELTANO_DATABASE_URI": env["MELTANO_DATABASE_URI"]}

    def meltano_state(*args: str) -> str:
        return _meltano_ok(meltano_bin, menv, "state", *args)

    state = json.loads(meltano_state("get", state_id))["singer_state"]
    assert state["bookmarks"]["order_hdr"]["replication_key_value"] < "2099"  # the WMS's clock
    state["bookmarks"]["order_hdr"]["replication_key_value"] = value.isoformat()
    meltano_state("set", "--force", state_id, json.dumps({"singer_state": state}))
    simulator.advance(20)
    later = simulator.touch("order_hdr", 2, "GNOS", "DC01")
    run = cli("run", "incremental", "--company", "GNOS", "--facility", "DC01", "--json", env=env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "STATE REPAIRED: stream 'order_hdr'" in run.stderr
    assert f"Meltano state {state_id}" in run.stderr
    assert 2 <= json.loads(run.stdout)["entities"]["order_hdr"]["extracted"] < 20
    for row_id in later:
        assert db(f"select mod_ts from order_hdr where id = {row_id}") == [
            (simulator.now().isoformat(),)
        ]
