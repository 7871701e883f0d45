"""Settings of the run history, the Prometheus metrics and the report.

`GRUPONOS_MELTANO_HISTORY__*` and `GRUPONOS_MELTANO_METRICS__*`; they live apart from
`config.py` so that the rest of the settings can change without touching them.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator


class HistorySettings(BaseModel):
    """Where every run leaves its rows: a table in the target database."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    table: str = Field(default="gruponos_run_history", min_length=1, max_length=120)
    report_days: int = Field(default=28, ge=1, le=3660)


class MetricsSettings(BaseModel):
    """Where each run's Prometheus metrics go (either, both or neither)."""

    model_config = ConfigDict(extra="forbid")

    textfile_path: Path | None = None
    pushgateway_url: str | None = None
    pushgateway_timeout: float = Field(default=10, gt=0)

    @field_validator("pushgateway_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @field_validator("textfile_path")
    @classmethod
    def _prom_suffix(cls, value: Path | None) -> Path | None:
        # node_exporter's textfile collector only reads files ending in .prom.
        if value is not None and value.suffix != ".prom":
            raise ValueError("must end in .prom (node_exporter's textfile collector reads *.prom)")
        return value
