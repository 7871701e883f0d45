"""Failures by kind: busy retries later, WMS unavailable backs off, bad input never retries;
a failed reconciliation is a failed check; the platform alerts once, Dagster adds nothing."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from dagster import DagsterEventType, Failure, RetryRequested
from gruponos_dagster.defs import FULL_JOB, build_definitions
from gruponos_dagster.failures import raise_for_failure
from gruponos_dagster.partitions import register_configured
from gruponos_dagster.settings import DagsterSettings
from gruponos_meltano_native.pipeline.lock import ScopeLock
from gruponos_testing.receivers import http_receiver

FAST = DagsterSettings(
    busy_retries=2, busy_retry_seconds=1, unavailable_retries=2, unavailable_backoff_seconds=0
)


def _events(result, kind):
    return [e for e in result.all_events if e.event_type == kind]


def _run_full(settings, instance, facility="DC01", dagster_settings=FAST):
    defs = build_definitions(settings, dagster_settings)
    register_configured(instance, settings)
    job = defs.resolve_job_def(FULL_JOB)
    return job.execute_in_process(
        instance=instance, partition_key=f"GNOS/{facility}", raise_on_error=False
    )


@pytest.mark.parametrize(
    ("kind", "retry_number", "expected_wait"),
    [("skipped", 0, 300), ("skipped", 3, 300), ("connectivity", 0, 60), ("extract", 2, 240)],
)
def test_busy_retries_later_and_unavailable_backs_off(kind, retry_number, expected_wait):
    with pytest.raises(RetryRequested) as raised:
        raise_for_failure({"success": False, "failure_kind": kind}, retry_number, DagsterSettings())
    assert raised.value.seconds_to_wait == expected_wait
    assert raised.value.max_retries == (6 if kind == "skipped" else 4)


@pytest.mark.parametrize("kind", ["settings", "usage", "load", "state", "internal"])
def test_settings_and_bad_input_are_not_retried(kind):
    with pytest.raises(Failure) as raised:
        raise_for_failure({"success": False, "failure_kind": kind}, 0, DagsterSettings())
    assert raised.value.allow_retries is False


def _first_retry(instance, timeout=120):
    """Wait until the instance's (only) run has been put up for retry."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in instance.get_runs():
            if instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY):
                return
        time.sleep(0.1)
    raise TimeoutError("the run was never put up for retry")


def test_a_busy_facility_is_retried_once_the_other_run_let_go(settings_for, instance):
    settings = settings_for()
    other = ScopeLock(settings.state_dir, "GNOS", "DC01", {"job": "other", "run_id": "r1"})
    other.acquire()
    with ThreadPoolExecutor(1) as pool:
        patient = DagsterSettings(busy_retries=5, busy_retry_seconds=1)
        running = pool.submit(_run_full, settings, instance, dagster_settings=patient)
        try:
            _first_retry(instance)  # busy: Dagster retries later...
        finally:
            other.release()  # ...and once the other run let go, the retry syncs
        result = running.result()
    assert result.success
    assert len(_events(result, DagsterEventType.STEP_UP_FOR_RETRY)) >= 1


def test_unavailable_wms_retries_with_backoff_and_alerts_once(settings_for, instance, simulator):
    with http_receiver() as hook:
        settings = settings_for(
            GRUPONOS_MELTANO_ORACLE_WMS__MAX_RETRIES="0",
            GRUPONOS_MELTANO_ALERTS__WEBHOOK_URL=hook.url,
        )
        simulator.set_faults(fail_every=1, fail_status=503, retry_after=0)
        result = _run_full(settings, instance)
    assert not result.success
    assert len(_events(result, DagsterEventType.STEP_UP_FOR_RETRY)) == FAST.unavailable_retries
    # Three attempts, one alert: the platform's cooldown, not a copy per Dagster retry.
    assert [payload["kind"] for _, payload in hook.requests] == ["failure"]


def test_unknown_facility_fails_without_retry(settings_for, instance):
    settings = settings_for(GRUPONOS_MELTANO_FACILITIES="DC01,DC77")
    result = _run_full(settings, instance, facility="DC77")
    assert not result.success
    assert not _events(result, DagsterEventType.STEP_UP_FOR_RETRY)
    failure = _events(result, DagsterEventType.STEP_FAILURE)[0]
    assert "Unknown facility 'DC77'" in failure.event_specific_data.error.message


def test_failed_reconciliation_is_a_failed_check_and_one_alert(settings_for, instance, tmp_path):
    with http_receiver() as hook:
        settings = settings_for(
            GRUPONOS_MELTANO_DELETIONS="off", GRUPONOS_MELTANO_ALERTS__WEBHOOK_URL=hook.url
        )
        assert _run_full(settings, instance).success
        # A row the WMS does not have, in DC01's scope (deletions off: it stays).
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'wms.db'}")
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "insert into order_hdr (id, scope_company_code, scope_facility_code)"
                " values (999999, 'GNOS', 'DC01')"
            )
        engine.dispose()
        result = _run_full(settings, instance)
    assert not result.success
    assert not _events(result, DagsterEventType.STEP_UP_FOR_RETRY)
    checks = {
        e.event_specific_data.asset_key.path[-1]: e.event_specific_data.passed
        for e in _events(result, DagsterEventType.ASSET_CHECK_EVALUATION)
    }
    assert checks == {"allocation": True, "order_dtl": True, "order_hdr": False}
    assert [payload["kind"] for _, payload in hook.requests] == ["check_failed"]
