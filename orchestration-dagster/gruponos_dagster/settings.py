"""Settings of the Dagster definitions, read from `GRUPONOS_DAGSTER_*` variables and `.env`.

The platform's own settings (WMS, database, facilities, alerts) stay `GRUPONOS_MELTANO_*`.
"""

from __future__ import annotations

from gruponos_meltano_native.errors import SettingsError
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "GRUPONOS_DAGSTER_"


class DagsterSettings(BaseSettings):
    """Schedules and retries; env prefix `GRUPONOS_DAGSTER_`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    incremental_cron: str = "0 */2 * * *"
    full_cron: str = "0 3 * * 0"
    schedule_timezone: str = "UTC"
    # Busy: another run holds the company/facility; try again after it had time to finish.
    busy_retries: int = Field(default=6, ge=0)
    busy_retry_seconds: float = Field(default=300, ge=0)
    # WMS unavailable: wait base, 2 x base, 4 x base, ...
    unavailable_retries: int = Field(default=4, ge=0)
    unavailable_backoff_seconds: float = Field(default=60, ge=0)
    sensor_interval_seconds: int = Field(default=600, ge=30)


def load_dagster_settings() -> DagsterSettings:
    """Read the settings; a bad value is a `SettingsError` naming the variable."""
    try:
        return DagsterSettings()
    except ValidationError as exc:
        problems = [
            f"{ENV_PREFIX}{'__'.join(str(p).upper() for p in e['loc'])}: {e['msg']}"
            for e in exc.errors()
        ]
        raise SettingsError("invalid settings:\n  " + "\n  ".join(problems)) from None
