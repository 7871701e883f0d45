"""Schedules emit one run per facility; the opt-in sensor turns a new WMS facility into one."""

from __future__ import annotations

import datetime as dt

import requests
from dagster import (
    DefaultScheduleStatus,
    DefaultSensorStatus,
    build_schedule_context,
    build_sensor_context,
)
from gruponos_dagster.defs import FULL_JOB, INCREMENTAL_JOB, build_definitions
from gruponos_dagster.partitions import FACILITY_PARTITIONS
from gruponos_dagster.settings import DagsterSettings

TICK = dt.datetime(2026, 12, 6, 2, 0, tzinfo=dt.UTC)


def _run_requests(defs, name, instance):
    schedule = defs.resolve_schedule_def(name)
    context = build_schedule_context(
        instance=instance, scheduled_execution_time=TICK, repository_def=defs.get_repository_def()
    )
    return schedule.evaluate_tick(context).run_requests


def _apply(sensor_result, instance):
    for request in sensor_result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)


def test_schedules_run_every_configured_facility_on_configurable_crons(settings_for, instance):
    defs = build_definitions(settings_for(), DagsterSettings(full_cron="0 4 * * 6"))
    incremental = defs.resolve_schedule_def(f"{INCREMENTAL_JOB}_schedule")
    full = defs.resolve_schedule_def(f"{FULL_JOB}_schedule")
    assert incremental.cron_schedule == "0 */2 * * *"
    assert full.cron_schedule == "0 4 * * 6"
    assert incremental.default_status == full.default_status == DefaultScheduleStatus.RUNNING

    for name, job in ((incremental.name, INCREMENTAL_JOB), (full.name, FULL_JOB)):
        requests_ = _run_requests(defs, name, instance)
        assert [r.partition_key for r in requests_] == ["GNOS/DC01", "GNOS/DC02"]
        assert {r.job_name for r in requests_} <= {job, None}
        assert len({r.run_key for r in requests_}) == 2  # one run per facility and tick


def test_a_facility_added_in_the_wms_becomes_a_partition_and_is_scheduled(
    settings_for, instance, simulator
):
    defs = build_definitions(settings_for(), DagsterSettings())
    configured = defs.resolve_sensor_def("configured_facilities")
    from_wms = defs.resolve_sensor_def("wms_facilities")
    assert configured.default_status == DefaultSensorStatus.RUNNING
    assert from_wms.default_status == DefaultSensorStatus.STOPPED  # opt-in

    first = configured.evaluate_tick(build_sensor_context(instance=instance))
    _apply(first, instance)
    assert instance.get_dynamic_partitions(FACILITY_PARTITIONS.name) == [
        "GNOS/DC01",
        "GNOS/DC02",
    ]
    quiet = from_wms.evaluate_tick(build_sensor_context(instance=instance))
    assert not quiet.dynamic_partitions_requests and "no new facility" in quiet.skip_message

    added = requests.post(
        simulator.root_url + "/__simulator__/insert",
        params={"entity": "facility", "count": 1, "company": "GNOS", "facility": "DC05"},
        timeout=10,
    )
    assert added.status_code == 200
    found = from_wms.evaluate_tick(build_sensor_context(instance=instance))
    assert [r.partition_keys for r in found.dynamic_partitions_requests] == [["GNOS/DC05"]]
    _apply(found, instance)

    keys = [r.partition_key for r in _run_requests(defs, f"{INCREMENTAL_JOB}_schedule", instance)]
    assert keys == ["GNOS/DC01", "GNOS/DC02", "GNOS/DC05"]
    result = defs.resolve_job_def(INCREMENTAL_JOB).execute_in_process(
        instance=instance, partition_key="GNOS/DC05"
    )
    assert result.success  # the new facility syncs (it has no orders yet: nothing to read)
