"""Sensors adding facilities as partitions.

- `configured_facilities` (running by default): the facilities in the settings, so they show
  as partitions before any schedule tick. It asks nothing of the WMS.
- `wms_facilities` (opt-in, stopped by default): every facility the WMS's `facility` entity
  lists for the company. Opt-in because it widens what is synced: the schedules then run
  every facility it added.
"""

from __future__ import annotations

from dagster import (
    DefaultSensorStatus,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from gruponos_meltano_native.config import GruponosMeltanoSettings

from gruponos_dagster.facilities import wms_facilities
from gruponos_dagster.partitions import (
    FACILITY_PARTITIONS,
    configured_keys,
    partition_key,
)
from gruponos_dagster.settings import DagsterSettings


def _add_missing(context: SensorEvaluationContext, keys: list[str]) -> SensorResult | SkipReason:
    known = set(context.instance.get_dynamic_partitions(FACILITY_PARTITIONS.name or ""))
    missing = sorted(set(keys) - known)
    if not missing:
        return SkipReason(f"no new facility ({len(known)} known)")
    context.log.info(f"new facilities: {', '.join(missing)}")
    added = FACILITY_PARTITIONS.build_add_request(missing)
    return SensorResult(dynamic_partitions_requests=[added])


def build_sensors(
    settings: GruponosMeltanoSettings, dagster_settings: DagsterSettings
) -> list[SensorDefinition]:
    """Return the two facility sensors."""

    @sensor(
        name="configured_facilities",
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.RUNNING,
        description="Adds the facilities of GRUPONOS_MELTANO_FACILITIES as partitions.",
    )
    def configured_facilities(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        return _add_missing(context, configured_keys(settings))

    @sensor(
        name="wms_facilities",
        minimum_interval_seconds=dagster_settings.sensor_interval_seconds,
        default_status=DefaultSensorStatus.STOPPED,
        description="Opt-in: adds every facility the WMS lists for the company as a "
        "partition (the schedules then sync it too).",
    )
    def wms_facilities_sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        company = settings.oracle_wms.company_code or ""
        codes = wms_facilities(settings)
        return _add_missing(context, [partition_key(company, code) for code in codes])

    return [configured_facilities, wms_facilities_sensor]
