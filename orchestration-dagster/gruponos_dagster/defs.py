"""The Dagster definitions: `dagster dev -m gruponos_dagster.defs` (or a workspace entry).

Read from the environment at import: the platform's `GRUPONOS_MELTANO_*` settings (WMS,
database, facilities, alerts) and the schedules' `GRUPONOS_DAGSTER_*`.
"""

from __future__ import annotations

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor
from gruponos_meltano_native.config import GruponosMeltanoSettings, load_settings

from gruponos_dagster.assets import SYNC_OP, build_sync_assets
from gruponos_dagster.partitions import FACILITY_PARTITIONS
from gruponos_dagster.schedules import facility_schedule
from gruponos_dagster.sensors import build_sensors
from gruponos_dagster.settings import DagsterSettings, load_dagster_settings

FULL_JOB = "full_sync"
INCREMENTAL_JOB = "incremental_sync"


def build_definitions(
    settings: GruponosMeltanoSettings | None = None,
    dagster_settings: DagsterSettings | None = None,
) -> Definitions:
    """Build the assets, the full and incremental jobs, their schedules and the sensors."""
    from tap_oracle_wms.tap import DEFAULT_ENTITIES

    settings = settings or load_settings()
    dagster_settings = dagster_settings or load_dagster_settings()
    entities = list(settings.oracle_wms.entities or DEFAULT_ENTITIES)
    assets = build_sync_assets(entities, settings, dagster_settings)
    names = {"incremental": INCREMENTAL_JOB, "full": FULL_JOB}
    jobs = [
        define_asset_job(
            name,
            selection=AssetSelection.assets(assets),
            partitions_def=FACILITY_PARTITIONS,
            config={"ops": {SYNC_OP: {"config": {"mode": mode}}}},
            description=f"The platform's {mode} sync of one company/facility.",
        )
        for mode, name in names.items()
    ]
    tz = dagster_settings.schedule_timezone
    return Definitions(
        assets=[assets],
        jobs=jobs,
        schedules=[
            facility_schedule(INCREMENTAL_JOB, dagster_settings.incremental_cron, tz, settings),
            facility_schedule(FULL_JOB, dagster_settings.full_cron, tz, settings),
        ],
        sensors=build_sensors(settings, dagster_settings),
        # A run is one step (the sync): the run's own process executes it, rather than a
        # process more per step (about 4 s each here).
        executor=in_process_executor,
    )


defs = build_definitions()
