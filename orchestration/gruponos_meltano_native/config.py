"""Settings of the GrupoNOS platform, read from `GRUPONOS_MELTANO_*` variables and `.env`.

The orchestrator does not re-state the plugins' defaults: a setting left unset here is not
passed on, so the tap and the target apply their own documented defaults.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from tap_oracle_wms.horizon import parse_timestamp

from gruponos_meltano_native.codes import check_code
from gruponos_meltano_native.errors import SettingsError
from gruponos_meltano_native.jobs import RunScope
from gruponos_meltano_native.masking import (
    MASK,
    http_url_secrets,
    mask_http_url,
    mask_url,
    mask_userinfo,
    url_password,
    with_encoded_forms,
)
from gruponos_meltano_native.observe_settings import HistorySettings, MetricsSettings
from gruponos_meltano_native.setting_names import check_setting_names

ENV_PREFIX = "GRUPONOS_MELTANO_"
Severity = Literal["info", "warning", "error", "critical"]


def _split_list(value: Any) -> Any:
    """Accept a JSON list or a comma-separated string for list settings."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


def _fill(value: Any, company: str, facility: str) -> Any:
    """Put the run's company and facility into `{company}`/`{facility}` placeholders."""
    if isinstance(value, str):
        return value.replace("{company}", company).replace("{facility}", facility)
    return value


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def plugin_config(self) -> dict[str, Any]:
        """Return the settings that are set, by the plugin's names, secrets revealed."""
        config: dict[str, Any] = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, Path):
                value = str(value)
            config[field.alias or name] = value
        return config


class OracleWMSSettings(_Group):
    """The tap's settings (names as tap-oracle-wms documents them)."""

    base_url: str | None = None
    api_version: str | None = None
    auth_method: Literal["basic", "oauth2"] | None = None
    username: str | None = None
    password: SecretStr | None = None
    oauth_token_url: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: SecretStr | None = None
    oauth_scope: str | None = None
    company_code: str | None = None
    facility_code: str | None = None
    entities: Annotated[list[str] | None, NoDecode] = None
    entity_filters: dict[str, dict[str, Any]] | None = None
    scope_paths: dict[str, dict[str, str]] | None = None
    unscoped_entities: Annotated[list[str] | None, NoDecode] = None
    page_size: int | None = Field(default=None, ge=1, le=1250)
    page_mode: Literal["sequenced", "paged"] | None = None
    start_date: str | None = None
    lookback_minutes: float | None = Field(default=None, ge=0)
    request_timeout: float | None = Field(default=None, gt=0)
    max_retries: int | None = Field(default=None, ge=0)
    verify_ssl: bool | None = None
    max_parallel_requests: int | None = Field(default=None, ge=1, le=16)

    _split_entities = field_validator("entities", "unscoped_entities", mode="before")(_split_list)

    @field_validator("company_code", "facility_code")
    @classmethod
    def _codes(cls, value: str | None) -> str | None:
        # facility_code may list several facilities for the CLI (`DC01,DC02`).
        for code in (value or "").split(","):
            if code.strip():
                check_code(code.strip())
        return value

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @field_validator("start_date")
    @classmethod
    def _iso_time(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_timestamp(value)
            except (ValueError, OverflowError):
                msg = "must be an ISO 8601 date or time, like 2026-01-31 or 2026-01-31T00:00:00Z"
                raise ValueError(msg) from None
        return value


class OracleDBSettings(_Group):
    """The target's settings (names as target-gruponos-oracle documents them).

    `schema` maps to the target's `default_target_schema`.
    """

    sqlalchemy_url: SecretStr | None = None
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    service_name: str | None = None
    sid: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    protocol: Literal["tcp", "tcps"] | None = None
    dsn: str | None = None
    config_dir: Path | None = None
    wallet_location: Path | None = None
    wallet_password: SecretStr | None = None
    ssl_server_dn_match: bool | None = None
    ssl_server_cert_dn: str | None = None
    retry_count: int | None = Field(default=None, ge=0)
    retry_delay: int | None = Field(default=None, ge=0)
    target_schema: str | None = Field(default=None, alias="schema")
    table_prefix: str | None = None
    load_method: Literal["upsert", "append-only", "overwrite"] | None = None
    batch_size_rows: int | None = Field(default=None, ge=1)
    max_identifier_length: int | None = Field(default=None, ge=30)
    add_record_metadata: bool | None = None
    ddl_lock_timeout: int | None = Field(default=None, ge=0, le=1_000_000)

    @field_validator("sqlalchemy_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        # Checked here so a typo is a settings error naming the setting, not a failed run.
        # The messages never repeat the URL: it holds the password.
        if value is not None:
            check_database_url(value.get_secret_value())
        return value

    def plugin_config(self) -> dict[str, Any]:
        """Return the target's config; `schema` becomes `default_target_schema`."""
        config = super().plugin_config()
        if "schema" in config:
            config["default_target_schema"] = config.pop("schema")
        return config

    @property
    def configured(self) -> bool:
        """True when a database was named (URL, DSN or host)."""
        return any(value is not None for value in (self.sqlalchemy_url, self.dsn, self.host))


class AlertSettings(_Group):
    """Where alerts go, and how often."""

    webhook_url: SecretStr | None = None
    slack_webhook_url: SecretStr | None = None
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_ssl: bool = False
    smtp_ca_file: Path | None = None
    smtp_timeout: float = Field(default=30, gt=0)
    email_from: str | None = None
    email_to: Annotated[list[str], NoDecode] = Field(default_factory=list)
    min_severity: Severity = "warning"
    cooldown_minutes: float = Field(default=60, ge=0)
    http_timeout: float = Field(default=10, gt=0)

    _split_to = field_validator("email_to", mode="before")(_split_list)


class ValidationSettings(_Group):
    """Reconciliation checks run after every sync."""

    enabled: bool = True
    fail_run_on_check_failure: bool = True
    compare_wms_counts: bool = True
    max_staleness_minutes: float | None = Field(default=1440, gt=0)
    min_quality_score: float = Field(default=0, ge=0, le=100)


class GruponosMeltanoSettings(BaseSettings):
    """All settings; env prefix `GRUPONOS_MELTANO_`, nested delimiter `__`, `.env` read."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    environment: Literal["dev", "staging", "prod"] = "dev"
    state_dir: Path = Path(".state")
    runner: Literal["standalone", "meltano"] = "standalone"
    meltano_executable: str = "meltano"
    meltano_project_dir: Path | None = None
    facilities: Annotated[list[str], NoDecode] = Field(default_factory=list)
    deletions: Literal["mark", "remove", "off"] = "mark"
    tap_executable: str = "tap-oracle-wms"
    target_executable: str = "target-gruponos-oracle"
    oracle_wms: OracleWMSSettings = Field(default_factory=OracleWMSSettings)
    oracle_db: OracleDBSettings = Field(default_factory=OracleDBSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    validation: ValidationSettings = Field(default_factory=ValidationSettings)
    history: HistorySettings = Field(default_factory=HistorySettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)

    _split_facilities = field_validator("facilities", mode="before")(_split_list)

    @model_validator(mode="before")
    @classmethod
    def _known_names_only(cls, data: Any) -> Any:
        # A mistyped name would be ignored and change the run silently (setting_names).
        env_file = cls.model_config.get("env_file")
        check_setting_names(
            cls, ENV_PREFIX, "__", Path(env_file) if isinstance(env_file, str) else None
        )
        return data

    @field_validator("facilities")
    @classmethod
    def _facility_codes(cls, value: list[str]) -> list[str]:
        return [check_code(code) for code in value]

    def tap_config(self, scope: RunScope | None = None) -> dict[str, Any]:
        """Return the tap's config, for one run's company, facility and entities when given."""
        config = self.oracle_wms.plugin_config()
        if scope is None:
            return config
        config["company_code"] = scope.company
        config["facility_code"] = scope.facility
        if scope.entities:
            config["entities"] = list(scope.entities)
        if self.mirrors_deletions(scope):
            config["emit_activate_version_messages"] = True
        if "entity_filters" in config:
            config["entity_filters"] = {
                entity: {
                    name: _fill(value, scope.company, scope.facility)
                    for name, value in params.items()
                }
                for entity, params in config["entity_filters"].items()
            }
        return config

    def target_config(self, scope: RunScope | None = None) -> dict[str, Any]:
        """Return the target's config; SQLite in `state_dir` when no database is configured.

        For a full sync that mirrors deletions, ACTIVATE_VERSION is confined to the run's
        own company/facility (the scope columns the tap adds to every record), so a full
        sync of one facility never marks or removes another's rows in a shared table.
        """
        config = self.oracle_db.plugin_config()
        if not self.oracle_db.configured:
            config["sqlalchemy_url"] = default_sqlite_url(self.state_dir)
        if scope is not None and self.mirrors_deletions(scope):
            config["activate_version_scope"] = scope.record_scope()
            config["hard_delete"] = self.deletions == "remove"
        return config

    def mirrors_deletions(self, scope: RunScope) -> bool:
        """Whether this run marks/removes rows the WMS no longer has: full syncs only."""
        return scope.job.mode == "full" and self.deletions != "off"

    def require_runnable(self) -> None:
        """Fail with the setting's name when a run cannot start."""
        if not self.oracle_wms.base_url:
            raise SettingsError(f"{ENV_PREFIX}ORACLE_WMS__BASE_URL is required to run a sync")
        if self.environment == "prod" and not self.oracle_db.configured:
            raise SettingsError(
                f"{ENV_PREFIX}ORACLE_DB__SQLALCHEMY_URL, {ENV_PREFIX}ORACLE_DB__DSN or "
                f"{ENV_PREFIX}ORACLE_DB__HOST is "
                "required in the prod environment (the SQLite default is for dev only)"
            )

    def secret_values(self) -> list[str]:
        """Every secret value set, so outputs can be scrubbed of them."""
        secrets: list[str] = []
        for group in (self.oracle_wms, self.oracle_db, self.alerts):
            for name in type(group).model_fields:
                value = getattr(group, name)
                if isinstance(value, SecretStr) and value.get_secret_value():
                    secrets.append(value.get_secret_value())
        url = self.oracle_db.sqlalchemy_url
        if url is not None:
            password = url_password(url.get_secret_value())
            if password:
                secrets.append(password)
        for hook in (self.alerts.webhook_url, self.alerts.slack_webhook_url):
            if hook is not None:
                secrets += http_url_secrets(hook.get_secret_value())
        if self.metrics.pushgateway_url:
            secrets.append(urlsplit(self.metrics.pushgateway_url).password or "")
        return with_encoded_forms(secrets)

    def masked(self) -> dict[str, Any]:
        """Return the settings as a plain dict with every secret replaced by a mask."""
        shown = self.model_dump(mode="json", by_alias=True)
        for group in ("oracle_wms", "oracle_db", "alerts"):
            for name, value in shown[group].items():
                if value and isinstance(getattr(getattr(self, group), name), SecretStr):
                    shown[group][name] = MASK
        # URLs whose secret is only a part of them keep the rest visible.
        url = self.oracle_db.sqlalchemy_url
        if url is not None:
            shown["oracle_db"]["sqlalchemy_url"] = mask_url(url.get_secret_value())
        for hook in ("webhook_url", "slack_webhook_url"):
            value = getattr(self.alerts, hook)
            if value is not None:
                shown["alerts"][hook] = mask_http_url(value.get_secret_value())
        if self.metrics.pushgateway_url:
            shown["metrics"]["pushgateway_url"] = mask_userinfo(self.metrics.pushgateway_url)
        return shown


def check_database_url(url: str) -> None:
    """Raise ValueError (without the URL, which holds the password) unless `url` is usable."""
    from sqlalchemy.engine import make_url
    from target_gruponos_oracle.dialects import strategy_class

    try:
        parsed = make_url(url)
    except ValueError:
        raise ValueError(
            "not a database URL (expected dialect+driver://user:password@host:port/database; "
            "the port, when given, is a number)"
        ) from None
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise ValueError(f"port {parsed.port} is out of range (1-65535)")
    strategy_class(parsed.get_backend_name())  # "Unsupported database …; use Oracle, …"


def default_database(state_dir: Path) -> Path:
    """Return the embedded default database's file: SQLite, next to the state."""
    return (Path(state_dir) / "gruponos.db").resolve()


def default_sqlite_url(state_dir: Path) -> str:
    """Return the embedded default database's URL (`default_database`)."""
    return f"sqlite:///{default_database(state_dir)}"


def load_settings(**overrides: Any) -> GruponosMeltanoSettings:
    """Read the settings, turning validation errors into one message naming each setting."""
    try:
        return GruponosMeltanoSettings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ENV_PREFIX + "__".join(str(part).upper() for part in error["loc"])
            # The offending value is left out on purpose: it may be a secret.
            problems.append(f"{name}: {error['msg']}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(problems)) from None
    except ValueError as exc:
        raise SettingsError(f"invalid settings: {exc}") from None
