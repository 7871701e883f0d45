"""The SDK fence: the private singer-sdk names the tap relies on are checked at start-up."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tap_oracle_wms import sdk
from tap_oracle_wms.errors import IncompatibleSDKError


def test_the_check_names_every_missing_method_and_constructor_attribute():
    class Renamed:
        def __init__(self) -> None:
            self._tap = None

        def _write_schema_message(self) -> None: ...

    with pytest.raises(IncompatibleSDKError) as caught:
        sdk.check(
            {Renamed: ("_write_schema_message", "_write_record_message")},
            {Renamed: ("_tap", "_stream_version")},
        )
    message = str(caught.value)
    assert "lacks Renamed._write_record_message, Renamed._stream_version;" in message
    assert 'pip install "singer-sdk>=0.54,<0.55"' in message
    sdk.check()  # the installed SDK has them all


def test_an_incompatible_sdk_stops_the_command_at_start_with_one_line():
    script = (
        "from singer_sdk.streams import Stream\n"
        "del Stream._increment_stream_state\n"
        "from tap_oracle_wms.cli import main\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, "--about"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"tap-oracle-wms: needs singer-sdk 0.54.x, but the installed singer-sdk "
        f"{sdk._sdk_version()} lacks Stream._increment_stream_state; install the tested "
        'series: pip install "singer-sdk>=0.54,<0.55"'
    ]


def test_flattening_takes_the_sdk_path_and_leaves_flat_records_as_they_are(
    sim, config_for, run_tap
):
    plain = run_tap(config_for(sim, entities=["order_hdr"]))
    flat = run_tap(
        config_for(sim, entities=["order_hdr"], flattening_enabled=True, flattening_max_depth=2)
    )
    assert plain.returncode == flat.returncode == 0, flat.stderr
    # Sorted: id ranges read in parallel arrive in no fixed order between runs.
    flat_records = sorted(flat.records["order_hdr"], key=lambda r: r["id"])
    assert flat_records == sorted(plain.records["order_hdr"], key=lambda r: r["id"])
    assert len(flat.records["order_hdr"]) == sim.count("order_hdr")
