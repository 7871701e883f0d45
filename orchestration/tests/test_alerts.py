from __future__ import annotations

import json
import socket

import pytest
from gruponos_meltano_native.config import AlertSettings
from gruponos_meltano_native.masking import Redactor
from gruponos_meltano_native.observe.alert_memory import alert_memory
from gruponos_meltano_native.observe.alerts import (
    CHECK_FAILED,
    FAILURE,
    RECOVERY,
    Alert,
    AlertManager,
)
from gruponos_testing.receivers import http_receiver, smtp_server

SECRET = "db-password-xyz"


def _alert(kind=FAILURE, severity="critical", error=f"ORA-01017 for scott/{SECRET}"):
    return Alert(
        kind=kind,
        severity=severity,
        job="incremental-sync-job",
        company="GNOS",
        facility="DC01",
        summary="load failed",
        error=error,
        environment="prod",
        run_id="run-1",
    )


def _manager(tmp_path, **settings):
    return AlertManager(AlertSettings(**settings), tmp_path, Redactor([SECRET]))


def test_webhook_and_slack_receive_the_alert_without_secrets(tmp_path):
    with http_receiver() as hook, http_receiver("/services/T0/B0/x") as slack:
        manager = _manager(tmp_path, webhook_url=hook.url, slack_webhook_url=slack.url)
        assert manager.send(_alert()) == ["webhook", "slack"]

    ((path, payload),) = hook.requests
    assert path == "/hook"
    assert payload["job"] == "incremental-sync-job"
    assert payload["company"] == "GNOS"
    assert payload["facility"] == "DC01"
    assert payload["summary"] == "load failed"
    assert payload["error"].startswith("ORA-01017")
    assert payload["severity"] == "critical"

    ((_, message),) = slack.requests
    assert "DC01" in message["text"] and "ORA-01017" in message["text"]
    assert message["blocks"][0]["type"] == "header"
    for received in (hook.requests, slack.requests):
        assert SECRET not in json.dumps(received)


def test_email_over_smtp_with_login(tmp_path):
    with smtp_server(username="alerts", password="smtp-pw") as smtp:
        manager = _manager(
            tmp_path,
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            smtp_starttls=False,
            smtp_username="alerts",
            smtp_password="smtp-pw",
            email_from="etl@gruponos.example",
            email_to="ops@gruponos.example,dba@gruponos.example",
        )
        assert manager.send(_alert()) == ["email"]
    (message,) = smtp.messages
    assert smtp.logins == ["alerts"]
    assert "incremental-sync-job/GNOS/DC01" in message["Subject"]
    assert message["To"] == "ops@gruponos.example, dba@gruponos.example"
    body = message.get_content()
    assert "facility: DC01" in body and "ORA-01017" in body
    assert SECRET not in body and "smtp-pw" not in message.as_string()


@pytest.mark.parametrize("implicit_tls", [False, True], ids=["starttls", "implicit-tls"])
def test_email_over_tls(tmp_path, self_signed_cert, implicit_tls):
    cert, key = self_signed_cert
    with smtp_server(
        "alerts", "smtp-pw", tls_cert=cert, tls_key=key, implicit_tls=implicit_tls
    ) as smtp:
        manager = _manager(
            tmp_path,
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            smtp_starttls=not implicit_tls,
            smtp_ssl=implicit_tls,
            smtp_ca_file=cert,
            smtp_username="alerts",
            smtp_password="smtp-pw",
            email_to="ops@gruponos.example",
        )
        assert manager.send(_alert()) == ["email"]
    assert len(smtp.messages) == 1 and smtp.logins == ["alerts"]


def test_min_severity_and_cooldown_survive_a_new_process(tmp_path):
    with http_receiver() as hook:
        first = _manager(tmp_path, webhook_url=hook.url, min_severity="error", cooldown_minutes=30)
        assert first.send(_alert(kind=CHECK_FAILED, severity="warning")) == []
        assert first.send(_alert()) == ["webhook"]
        # A new manager stands for the next scheduled run: same failure, still cooling down.
        again = _manager(tmp_path, webhook_url=hook.url, min_severity="error", cooldown_minutes=30)
        assert again.send(_alert()) == []
        no_cooldown = _manager(tmp_path, webhook_url=hook.url, cooldown_minutes=0)
        assert no_cooldown.send(_alert()) == ["webhook"]
    assert len(hook.requests) == 2


def test_recovery_alert_after_a_failure_only(tmp_path):
    with http_receiver() as hook:
        manager = _manager(tmp_path, webhook_url=hook.url, min_severity="error")
        recovery = _alert(kind=RECOVERY, severity="info", error=None)
        assert manager.recovered(recovery) == []  # nothing was failing
        manager.send(_alert())
        assert manager.recovered(recovery) == ["webhook"]
        assert manager.recovered(recovery) == []  # only once
    assert [p["kind"] for _, p in hook.requests] == [FAILURE, RECOVERY]


def test_broken_channel_does_not_stop_the_others(tmp_path):
    with http_receiver() as hook, http_receiver() as broken:
        broken.status = 500
        manager = _manager(tmp_path, webhook_url=hook.url, slack_webhook_url=broken.url)
        assert manager.send(_alert()) == ["webhook"]


def test_an_unreachable_webhook_is_logged_without_its_url(tmp_path, caplog):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    token_url = f"http://127.0.0.1:{port}/hooks/T0-secret-token"
    with http_receiver() as hook:
        manager = _manager(tmp_path, webhook_url=token_url, slack_webhook_url=hook.url)
        assert manager.send(_alert()) == ["slack"]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == ["alert channel webhook failed: webhook request failed (ConnectionError)"]


def test_an_unwritable_cooldown_memory_does_not_stop_the_alert(tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with http_receiver() as hook:
        manager = AlertManager(AlertSettings(webhook_url=hook.url), blocker, Redactor([SECRET]))
        assert manager.send(_alert()) == ["webhook"]
        assert len(hook.requests) == 1
    assert any("cannot save alert cooldown memory" in r.getMessage() for r in caplog.records)


def test_a_failure_alerted_on_one_machine_cools_down_and_recovers_on_the_other(pg_config, tmp_path):
    with http_receiver() as hook:
        settings = AlertSettings(webhook_url=hook.url)
        machine_a, machine_b = (
            AlertManager(
                settings, tmp_path / name, Redactor([]), alert_memory(tmp_path / name, pg_config)
            )
            for name in ("a", "b")
        )
        assert machine_a.send(_alert(FAILURE)) == ["webhook"]
        assert machine_b.send(_alert(FAILURE)) == []  # within A's cooldown
        assert machine_b.recovered(_alert(RECOVERY, "info")) == ["webhook"]
        assert machine_a.recovered(_alert(RECOVERY, "info")) == []  # said once
    assert [payload["kind"] for _, payload in hook.requests] == [FAILURE, RECOVERY]
    assert not (tmp_path / "a" / "alerts.json").exists()
