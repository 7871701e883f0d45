"""`gruponos-meltano` as users run it: commands, exit codes, output free of secrets."""

from __future__ import annotations

import json
import re
from pathlib import Path

from gruponos_testing.receivers import http_receiver, smtp_server

DB_PASSWORD = "db-Secret-4711"
WEBHOOK_TOKEN = "hook-token-0815"


def _all_output(result, tmp_path: Path) -> str:
    logs = "".join(p.read_text() for p in (tmp_path / "state").rglob("*.log"))
    return result.stdout + result.stderr + logs


def test_run_full_then_incremental_prints_the_reconciliation(cli, simulator, tmp_path, db):
    full = cli("run", "full", "--company", "GNOS", "--facility", "DC01")
    assert full.returncode == 0, full.stderr
    assert "full-sync-job succeeded: GNOS/DC01" in full.stdout
    assert "reconciliation PASSED; quality score 100.0%" in full.stdout
    assert "INFO tap_oracle_wms" not in full.stderr  # the in-process client's chatter: -v
    hdr = simulator.count("order_hdr", "GNOS", "DC01")
    assert re.search(
        rf"^order_hdr\s+{hdr:,}\s+{hdr:,}\s+{hdr:,}\s+{hdr:,}\s+0\s+0", full.stdout, re.M
    )
    assert simulator.password not in _all_output(full, tmp_path)

    simulator.advance(10)
    simulator.touch("allocation", 3, "GNOS", "DC01")
    incremental = cli("run", "incremental", "--company", "GNOS", "--facility", "DC01", "--json")
    assert incremental.returncode == 0, incremental.stderr
    report = json.loads(incremental.stdout)
    assert report["job"] == "incremental-sync-job" and report["success"] is True
    # 3 changed rows, plus what the tap's 5-minute lookback re-reads; far fewer than all.
    allocations = simulator.count("allocation", "GNOS", "DC01")
    assert 3 <= report["entities"]["allocation"]["extracted"] < allocations / 3
    assert report["validation"]["passed"] is True

    shown = cli("state", "show", "--job", "incremental-sync-job")
    (entry,) = json.loads(shown.stdout)
    assert (entry["company"], entry["facility"]) == ("GNOS", "DC01")
    cleared = cli(
        "state",
        "clear",
        "--job",
        "incremental-sync-job",
        "--company",
        "GNOS",
        "--facility",
        "DC01",
        "--yes",
    )
    assert cleared.returncode == 0 and "cleared" in cleared.stdout
    assert json.loads(cli("state", "show", "--job", "incremental-sync-job").stdout) == []


def test_entities_option_and_dry_run(cli, tmp_path):
    plan = cli(
        "run",
        "incremental",
        "--company",
        "GNOS",
        "--facility",
        "DC02",
        "--entities",
        "order_hdr,allocation",
        "--dry-run",
    )
    assert plan.returncode == 0, plan.stderr
    shown = json.loads(plan.stdout)
    assert shown["entities"] == ["order_hdr", "allocation"]
    assert shown["tap"]["password"] == "********"
    assert shown["tap"]["facility_code"] == "DC02" and shown["tap"]["username"] == "demo"
    assert shown["deletions"] == "off"  # incremental runs never mirror deletions
    assert shown["lock_path"].endswith("locks/GNOS/DC02.lock")
    assert not (tmp_path / "wms.db").exists()  # nothing ran

    only = cli(
        "run",
        "full",
        "--company",
        "GNOS",
        "--facility",
        "DC02",
        "--entities",
        "order_hdr",
        "--json",
    )
    assert only.returncode == 0, only.stderr
    assert set(json.loads(only.stdout)["entities"]) == {"order_hdr"}


def test_config_jobs_validate_and_health(cli, tmp_path):
    env = {"GRUPONOS_MELTANO_ALERTS__SMTP_PASSWORD": DB_PASSWORD}
    config = cli("config", env=env)
    assert config.returncode == 0
    assert DB_PASSWORD not in config.stdout and "demo-password" not in config.stdout
    assert json.loads(config.stdout)["oracle_wms"]["username"] == "demo"

    jobs = cli("jobs")
    assert "full-sync-job" in jobs.stdout and "@weekly" in jobs.stdout
    assert "incremental-sync-job" in jobs.stdout and "0 */2 * * *" in jobs.stdout

    ok = cli("validate")
    assert ok.returncode == 0, ok.stderr
    assert "wms: ok" in ok.stdout and "database: ok" in ok.stdout

    unreachable = cli(
        "validate",
        env={
            "GRUPONOS_MELTANO_ORACLE_WMS__BASE_URL": "http://127.0.0.1:9/x",
            "GRUPONOS_MELTANO_ORACLE_WMS__MAX_RETRIES": "0",
        },
    )
    assert unreachable.returncode == 4
    assert "wms:" in unreachable.stderr

    health = cli("health")
    assert health.returncode == 0, health.stdout
    assert "tap-oracle-wms: /" in health.stdout and "state dir:" in health.stdout


def test_invalid_setting_exits_3_naming_it(cli):
    bad = cli(
        "run",
        "full",
        "--company",
        "GNOS",
        "--facility",
        "DC01",
        env={"GRUPONOS_MELTANO_ORACLE_WMS__PAGE_SIZE": "99999"},
    )
    assert bad.returncode == 3
    assert "GRUPONOS_MELTANO_ORACLE_WMS__PAGE_SIZE" in bad.stderr


def test_failed_run_alerts_every_channel_without_secrets(cli, tmp_path):
    with (
        http_receiver(f"/hooks/{WEBHOOK_TOKEN}") as hook,
        http_receiver("/services/T0/B0/slack") as slack,
        smtp_server() as smtp,
    ):
        env = {
            "GRUPONOS_MELTANO_ORACLE_WMS__PASSWORD": "wrong-Password-99",
            "GRUPONOS_MELTANO_ALERTS__WEBHOOK_URL": hook.url,
            "GRUPONOS_MELTANO_ALERTS__SLACK_WEBHOOK_URL": slack.url,
            "GRUPONOS_MELTANO_ALERTS__SMTP_HOST": smtp.host,
            "GRUPONOS_MELTANO_ALERTS__SMTP_PORT": str(smtp.port),
            "GRUPONOS_MELTANO_ALERTS__SMTP_STARTTLS": "false",
            "GRUPONOS_MELTANO_ALERTS__EMAIL_TO": "ops@gruponos.example",
        }
        failed = cli("run", "incremental", "--company", "GNOS", "--facility", "DC01", env=env)
        assert failed.returncode == 5, failed.stdout + failed.stderr  # extract failed
        assert "401" in failed.stderr

        again = cli("run", "incremental", "--company", "GNOS", "--facility", "DC01", env=env)
        assert again.returncode == 5  # still failing, but within the cooldown: no new alert

        env.pop("GRUPONOS_MELTANO_ORACLE_WMS__PASSWORD")
        recovered = cli("run", "incremental", "--company", "GNOS", "--facility", "DC01", env=env)
        assert recovered.returncode == 0, recovered.stderr

    assert [p["kind"] for _, p in hook.requests] == ["failure", "recovery"]
    alert = hook.requests[0][1]
    assert (alert["job"], alert["company"], alert["facility"]) == (
        "incremental-sync-job",
        "GNOS",
        "DC01",
    )
    assert alert["summary"] == "extract failed" and "401" in alert["error"]
    assert len(slack.requests) == 2 and "blocks" in slack.requests[0][1]
    assert len(smtp.messages) == 2
    assert "FAILED: incremental-sync-job/GNOS/DC01" in smtp.messages[0]["Subject"]
    everything = (
        json.dumps([payload for _, payload in hook.requests + slack.requests])
        + "".join(m.as_string() for m in smtp.messages)
        + _all_output(failed, tmp_path)
        + failed.stdout
    )
    assert "wrong-Password-99" not in everything
    assert WEBHOOK_TOKEN not in everything


def test_load_failure_exits_6_naming_the_target(cli, tmp_path):
    env = {"GRUPONOS_MELTANO_ORACLE_DB__SQLALCHEMY_URL": "sqlite:////nonexistent-dir/x/wms.db"}
    failed = cli(
        "run", "full", "--company", "GNOS", "--facility", "DC01", "--entities", "order_hdr", env=env
    )
    assert failed.returncode == 6, failed.stdout + failed.stderr
    assert "target-gruponos-oracle exited with code" in failed.stderr
    assert "FAILED (load)" in failed.stdout
