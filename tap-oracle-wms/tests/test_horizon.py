"""The run's horizon: which replication values lie beyond the WMS's clock, in any format."""

from __future__ import annotations

import datetime as dt
import email.utils
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from tap_oracle_wms.horizon import ALLOWED_SKEW, FutureRecords, Horizon, WMSClock

CLOCK = dt.datetime(2026, 12, 6, 3, 0, tzinfo=dt.UTC)  # the WMS's Date header


def _records() -> FutureRecords:
    clock = WMSClock()
    clock.saw("Sun, 06 Dec 2026 03:00:00 GMT")
    return FutureRecords("order_hdr", "mod_ts", clock.horizon())


@pytest.mark.parametrize(
    ("value", "beyond"),
    [
        ("2026-12-06T00:04:59.000000-03:00", False),  # within the allowed skew
        ("2026-12-06T00:05:00.000001-03:00", True),
        ("2026-12-06T03:05:01Z", True),  # another offset and precision
        ("2026-12-06T02:04:59-01:00", False),
        ("2026-12-05T23:05:01-05:00", True),  # earlier as text, later as an instant
        ("2099-01-01T00:00:00-03:00", True),
        ("9999-12-31T23:59:59.999999-03:00", True),  # past year 9999 in UTC
    ],
)
def test_values_beyond_the_wms_clock_plus_skew_are_found_in_any_format(value, beyond):
    records = _records()
    records.check(1, "2026-12-05T20:00:00.000000-03:00")  # the stream's usual format first
    # The stream calls `check` when the text pre-filter cannot rule the value out.
    prefilter = value > records.limit or not value.endswith(records.offset)
    assert (prefilter and records.check(2, value)) is beyond
    assert records.count == int(beyond)


def test_without_a_date_header_the_hosts_clock_stands_in():
    clock = WMSClock()
    before = dt.datetime.now(dt.UTC)
    clock.saw(None)
    clock.saw("Sun, 06 Dec 2026 03:00:00 GMT")  # only the first answer counts
    horizon = clock.horizon()
    assert before + ALLOWED_SKEW <= horizon.moment <= dt.datetime.now(dt.UTC) + ALLOWED_SKEW
    assert "host's clock" in horizon.describe()


def test_the_date_header_sets_the_horizon():
    assert _records().horizon.moment == CLOCK + ALLOWED_SKEW
    assert Horizon(CLOCK).like("2026-01-01T00:00:00-03:00") == "2026-12-06T00:00:00-03:00"


def test_the_simulators_date_header_follows_its_clock_and_skew():
    exe = Path(sys.executable).parent / "wms-simulator"
    command = [str(exe), "--orders", "5", "--clock-skew-minutes", "120"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        base_url = proc.stdout.readline().split()[-1]
        api = f"{base_url}/wms/lgfapi/v10/entity/"

        def wms_clock() -> dt.datetime:
            answer = requests.get(api, auth=("demo", "demo-password"), timeout=10)
            return email.utils.parsedate_to_datetime(answer.headers["Date"])

        skew = wms_clock() - dt.datetime.now(dt.UTC)
        assert abs(skew - dt.timedelta(minutes=120)) < dt.timedelta(seconds=30)
        before = wms_clock()
        requests.post(f"{base_url}/__simulator__/advance?minutes=30", timeout=10)
        assert wms_clock() - before == dt.timedelta(minutes=30)  # the simulated clock only
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
