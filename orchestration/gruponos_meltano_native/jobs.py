"""The platform's jobs; meltano.yml declares the same two jobs and schedules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from gruponos_meltano_native.codes import check_code
from gruponos_meltano_native.state import StateKey

Mode = Literal["full", "incremental"]
# Properties tap-oracle-wms adds to every record when company_code/facility_code are set.
SCOPE_COMPANY_PROPERTY = "scope_company_code"
SCOPE_FACILITY_PROPERTY = "scope_facility_code"


@dataclass(frozen=True)
class Job:
    """A sync job: its mode, its schedule, the Meltano names it maps to."""

    name: str
    mode: Mode
    schedule: str
    schedule_name: str
    meltano_extractor: str
    description: str

    @property
    def uses_state(self) -> bool:
        """Incremental jobs start from the last committed state; full jobs from nothing.

        (A full job whose last run did not finish resumes it: see the orchestrator.)
        """
        return self.mode == "incremental"


JOBS: dict[Mode, Job] = {
    "full": Job(
        name="full-sync-job",
        mode="full",
        schedule="@weekly",
        schedule_name="full-sync-weekly",
        meltano_extractor="tap-oracle-wms--full",
        description="Every record of every entity, then a check against the WMS's own counts.",
    ),
    "incremental": Job(
        name="incremental-sync-job",
        mode="incremental",
        schedule="0 */2 * * *",
        schedule_name="incremental-sync-every-2h",
        meltano_extractor="tap-oracle-wms--incremental",
        description="Records changed since the last committed state (with the tap's lookback).",
    ),
}


def job_for(mode: str) -> Job:
    """Return the job of a mode (`full` or `incremental`)."""
    for name, job in JOBS.items():
        if name == mode:
            return job
    raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(JOBS)}")


@dataclass(frozen=True)
class RunScope:
    """What one run covers: a job, for one company and facility, optionally some entities."""

    job: Job
    company: str
    facility: str
    entities: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        """Refuse a bad company or facility code before any run uses it (`codes`)."""
        check_code(self.company, "company code")
        check_code(self.facility, "facility code")

    @classmethod
    def of(
        cls, mode: str, company: str, facility: str, entities: Sequence[str] | None = None
    ) -> RunScope:
        """Build the scope of a `full` or `incremental` run."""
        return cls(job_for(mode), company, facility, tuple(entities) if entities else None)

    def record_scope(self) -> dict[str, str]:
        """Return the scope properties the tap adds to every record, with this run's values."""
        return {SCOPE_COMPANY_PROPERTY: self.company, SCOPE_FACILITY_PROPERTY: self.facility}

    @property
    def state_key(self) -> StateKey:
        """Where this run's Singer state is kept."""
        return StateKey(self.job.name, self.company, self.facility)

    def __str__(self) -> str:
        return f"{self.job.name}/{self.company}/{self.facility}"
