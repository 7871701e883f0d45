from __future__ import annotations

import json

import pytest
from gruponos_meltano_native.config import load_settings
from gruponos_meltano_native.errors import SettingsError
from gruponos_meltano_native.jobs import RunScope


def test_nested_env_settings_become_plugin_configs(monkeypatch):
    monkeypatch.setenv(
        "GRUPONOS_MELTANO_ORACLE_WMS__BASE_URL", "https://wms.example.com/gnos_prod/"
    )
    monkeypatch.setenv("GRUPONOS_MELTANO_ORACLE_WMS__PASSWORD", "wms-pw")
    monkeypatch.setenv("GRUPONOS_MELTANO_ORACLE_WMS__ENTITIES", "order_hdr, order_dtl")
    monkeypatch.setenv("GRUPONOS_MELTANO_ORACLE_WMS__ENTITY_FILTERS", '{"order_dtl": {"x": "1"}}')
    monkeypatch.setenv("GRUPONOS_MELTANO_ORACLE_DB__HOST", "db.example.com")
    monkeypatch.setenv("GRUPONOS_MELTANO_ORACLE_DB__SCHEMA", "WMS")
    monkeypatch.setenv("GRUPONOS_MELTANO_STATE_DIR", "/tmp/somewhere")
    settings = load_settings()

    tap = settings.tap_config(RunScope.of("incremental", "GNOS", "DC01"))
    assert tap == {
        "base_url": "https://wms.example.com/gnos_prod",
        "password": "wms-pw",
        "entities": ["order_hdr", "order_dtl"],
        "entity_filters": {"order_dtl": {"x": "1"}},
        "company_code": "GNOS",
        "facility_code": "DC01",
    }
    assert settings.tap_config(RunScope.of("full", "GNOS", "DC02", ["item"]))["entities"] == [
        "item"
    ]
    assert settings.target_config() == {"host": "db.example.com", "default_target_schema": "WMS"}
    assert str(settings.state_dir) == "/tmp/somewhere"


def test_dotenv_file_is_read(tmp_path):
    (tmp_path / ".env").write_text("GRUPONOS_MELTANO_ORACLE_WMS__COMPANY_CODE=GNOS\n")
    assert load_settings().oracle_wms.company_code == "GNOS"


def test_without_database_settings_the_target_writes_sqlite_in_state_dir(tmp_path):
    config = load_settings().target_config()
    assert config == {"sqlalchemy_url": f"sqlite:///{tmp_path / '.state' / 'gruponos.db'}"}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GRUPONOS_MELTANO_ORACLE_WMS__PAGE_SIZE", "5000"),
        ("GRUPONOS_MELTANO_ORACLE_WMS__BASE_URL", "wms.example.com"),
        ("GRUPONOS_MELTANO_ALERTS__MIN_SEVERITY", "loud"),
        ("GRUPONOS_MELTANO_ENVIRONMENT", "qa"),
    ],
)
def test_invalid_setting_is_named(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert name in str(caught.value)


def test_invalid_secret_value_is_not_echoed(monkeypatch):
    monkeypatch.setenv("GRUPONOS_MELTANO_ORACLE_DB__PORT", "s3cr3t-port")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "GRUPONOS_MELTANO_ORACLE_DB__PORT" in str(caught.value)
    assert "s3cr3t-port" not in str(caught.value)


def test_prod_needs_a_real_database(monkeypatch):
    monkeypatch.setenv("GRUPONOS_MELTANO_ENVIRONMENT", "prod")
    monkeypatch.setenv("GRUPONOS_MELTANO_ORACLE_WMS__BASE_URL", "https://wms.example.com/x")
    with pytest.raises(SettingsError, match="GRUPONOS_MELTANO_ORACLE_DB__SQLALCHEMY_URL"):
        load_settings().require_runnable()


def test_masked_settings_hold_no_secret(monkeypatch):
    secrets = {
        "GRUPONOS_MELTANO_ORACLE_WMS__PASSWORD": "wms-pass-1",
        "GRUPONOS_MELTANO_ORACLE_WMS__OAUTH_CLIENT_SECRET": "oauth-secret-2",
        "GRUPONOS_MELTANO_ORACLE_DB__SQLALCHEMY_URL": "oracle+oracledb://scott:db-pass-3@db:1521/?service_name=P",
        "GRUPONOS_MELTANO_ORACLE_DB__PASSWORD": "db-pass-4",
        "GRUPONOS_MELTANO_ALERTS__WEBHOOK_URL": "https://hooks.example.com/T000/hook-token-5",
        "GRUPONOS_MELTANO_ALERTS__SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/slack-token-6",
        "GRUPONOS_MELTANO_ALERTS__SMTP_PASSWORD": "smtp-pass-7",
        "GRUPONOS_MELTANO_ORACLE_DB__WALLET_PASSWORD": "wallet-pass-8",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    shown = json.dumps(settings.masked())
    for token in (
        "wms-pass-1",
        "oauth-secret-2",
        "db-pass-3",
        "db-pass-4",
        "hook-token-5",
        "slack-token-6",
        "smtp-pass-7",
        "wallet-pass-8",
    ):
        assert token not in shown
    assert "scott:***@db:1521" in shown  # the URL stays useful
    assert set(settings.secret_values()) >= {
        "wms-pass-1",
        "db-pass-3",
        "smtp-pass-7",
        "wallet-pass-8",
    }


def test_oracle_cloud_settings_reach_the_targets_connection(monkeypatch, tmp_path):
    from target_gruponos_oracle import database_rules

    (tmp_path / "ewallet.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    cloud = {
        "DSN": "gnosdb_high",
        "CONFIG_DIR": str(tmp_path),
        "WALLET_LOCATION": str(tmp_path),
        "WALLET_PASSWORD": "wallet-pass-9",
        "SSL_SERVER_DN_MATCH": "true",
        "SSL_SERVER_CERT_DN": "CN=adb.example.oraclecloud.com",
        "RETRY_COUNT": "20",
        "RETRY_DELAY": "3",
        "USERNAME": "wms_etl",
        "PASSWORD": "db-pass-10",
    }
    for name, value in cloud.items():
        monkeypatch.setenv(f"GRUPONOS_MELTANO_ORACLE_DB__{name}", value)
    settings = load_settings()
    assert settings.oracle_db.configured
    rules = database_rules(settings.target_config())
    assert rules.dialect == "oracle"
    assert rules.connect_args == {
        "dsn": "gnosdb_high",
        "config_dir": str(tmp_path),
        "wallet_location": str(tmp_path),
        "wallet_password": "wallet-pass-9",
        "ssl_server_dn_match": True,
        "ssl_server_cert_dn": "CN=adb.example.oraclecloud.com",
        "retry_count": 20,
        "retry_delay": 3,
    }
    assert "wallet-pass-9" not in json.dumps(settings.masked())


def test_url_encoded_secrets_are_known_too(monkeypatch):
    monkeypatch.setenv("GRUPONOS_MELTANO_ORACLE_WMS__PASSWORD", "p@ss/word")
    assert {"p@ss/word", "p%40ss%2Fword"} <= set(load_settings().secret_values())


def test_one_mask_for_every_shape_of_secret():
    from gruponos_meltano_native.masking import (
        MASK,
        Redactor,
        mask_http_url,
        mask_url,
        with_encoded_forms,
    )

    redact = Redactor(with_encoded_forms(["p@ss/word"]))
    assert redact("login p@ss/word, form p%40ss%2Fword") == f"login {MASK}, form {MASK}"
    assert mask_url("postgresql://u:p%40ss@db/x") == "postgresql://u:***@db/x"
    assert mask_http_url("https://hooks.example.com/T0/B0/secret") == (
        f"https://hooks.example.com/{MASK}"
    )


def test_full_syncs_mirror_deletions_confined_to_their_scope():
    from gruponos_meltano_native.config import GruponosMeltanoSettings

    full, incremental = (RunScope.of(mode, "GNOS", "DC02") for mode in ("full", "incremental"))
    settings = GruponosMeltanoSettings(oracle_wms={"base_url": "http://wms"})
    assert settings.tap_config(full)["emit_activate_version_messages"] is True
    target = settings.target_config(full)
    assert target["activate_version_scope"] == {
        "scope_company_code": "GNOS",
        "scope_facility_code": "DC02",
    }
    assert target["hard_delete"] is False  # mark (default): history kept
    for config in (settings.tap_config(incremental), settings.target_config(incremental)):
        assert not {"emit_activate_version_messages", "activate_version_scope"} & set(config)

    remove = GruponosMeltanoSettings(oracle_wms={"base_url": "http://wms"}, deletions="remove")
    assert remove.target_config(full)["hard_delete"] is True
    off = GruponosMeltanoSettings(oracle_wms={"base_url": "http://wms"}, deletions="off")
    assert "emit_activate_version_messages" not in off.tap_config(full)
    assert "activate_version_scope" not in off.target_config(full)
