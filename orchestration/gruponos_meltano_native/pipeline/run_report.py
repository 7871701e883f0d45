"""What a run did: the report every caller gets (CLI, Python API, run history)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gruponos_meltano_native.checks.reconciliation import ReconciliationReport
from gruponos_meltano_native.errors import ExitCode, InterruptedRun, ScopeBusy


@dataclass
class RunReport:
    """Everything a run did; `success` is False whenever any part failed."""

    run_id: str
    job: str
    mode: str
    company: str
    facility: str
    success: bool = False
    error: str | None = None
    failure_kind: str | None = None
    exit_code: int = ExitCode.OK
    extracted: dict[str, int] = field(default_factory=dict)
    loaded: dict[str, int] = field(default_factory=dict)
    duration_seconds: float = 0.0
    states_committed: int = 0
    state_path: str | None = None
    log_dir: str | None = None
    database: str | None = None
    validation: ReconciliationReport | None = None
    alerts_sent: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # "mark", "remove" or "off" (always "off" for incremental runs); per stream, whether
    # its deletions were mirrored ("activated") or why not.
    deletions_mode: str = "off"
    deletions: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """`succeeded`, `failed`, `interrupted` or `skipped` (another run held the scope)."""
        if self.success:
            return "succeeded"
        if self.failure_kind in (ScopeBusy.kind, InterruptedRun.kind):
            return str(self.failure_kind)
        return "failed"

    @property
    def records_processed(self) -> int:
        """Records extracted and handed to the target in this run."""
        return sum(self.extracted.values())

    @property
    def records_per_second(self) -> float:
        """Throughput of the pipe."""
        return self.records_processed / self.duration_seconds if self.duration_seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as the API's `result.data` and `--json` output carry it."""
        entities = {
            name: {"extracted": count, "loaded": self.loaded.get(name)}
            for name, count in sorted(self.extracted.items())
        }
        return {
            "run_id": self.run_id,
            "job": self.job,
            "mode": self.mode,
            "company": self.company,
            "facility": self.facility,
            "success": self.success,
            "status": self.status,
            "error": self.error,
            "failure_kind": self.failure_kind,
            "records_processed": self.records_processed,
            "entities": entities,
            "duration_seconds": round(self.duration_seconds, 3),
            "records_per_second": round(self.records_per_second, 1),
            "states_committed": self.states_committed,
            "state_path": self.state_path,
            "log_dir": self.log_dir,
            "database": self.database,
            "validation": self.validation.to_dict() if self.validation else None,
            "alerts_sent": self.alerts_sent,
            "started_at": self.started_at.isoformat(),
            "deletions": {"mode": self.deletions_mode, "streams": self.deletions},
            "warnings": self.warnings,
        }
