"""The platform's jobs; meltano.yml declares the same two jobs and schedules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Mode = Literal["full", "incremental"]


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
        """Incremental jobs start from the last committed state; full jobs from nothing."""
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
    try:
        return JOBS[mode]  # type: ignore[index]
    except KeyError:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(JOBS)}") from None
