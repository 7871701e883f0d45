"""Schedules: incremental every 2 hours, full weekly (cron strings are settings).

Each tick emits one run per facility partition known to the instance (the configured ones
are added first, so a fresh instance schedules them too).
"""

from __future__ import annotations

from collections.abc import Iterator

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    schedule,
)
from gruponos_meltano_native.config import GruponosMeltanoSettings

from gruponos_dagster.partitions import FACILITY_PARTITIONS, register_configured


def facility_schedule(
    job_name: str, cron: str, timezone: str, settings: GruponosMeltanoSettings
) -> ScheduleDefinition:
    """Return a schedule running the job once per facility partition at each tick of `cron`."""

    @schedule(
        name=f"{job_name}_schedule",
        job_name=job_name,
        cron_schedule=cron,
        execution_timezone=timezone,
        default_status=DefaultScheduleStatus.RUNNING,
    )
    def facility_runs(context: ScheduleEvaluationContext) -> Iterator[RunRequest]:
        register_configured(context.instance, settings)
        tick = context.scheduled_execution_time.isoformat()
        for key in context.instance.get_dynamic_partitions(FACILITY_PARTITIONS.name or ""):
            yield RunRequest(run_key=f"{job_name}:{key}:{tick}", partition_key=key)

    return facility_runs
