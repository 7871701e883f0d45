"""Settings and state files the orchestration cannot use: named, with the documented exit code.

`gruponos-meltano run` as a process: a `start_date` that is no date is a settings error (exit
3) naming the setting; a state file whose bookmarks are not what the tap reads is a state error
(exit 8) naming the file and stream; no bare Python error, nothing extracted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

STATE_FILE = Path("state/bookmarks/incremental-sync-job/GNOS/DC01.json")


def _incremental(cli, env: dict[str, str] | None = None):
    return cli("run", "incremental", "--company", "GNOS", "--facility", "DC01", env=env)


def test_a_start_date_that_is_no_date_is_a_settings_error(cli):
    run = _incremental(cli, {"GRUPONOS_MELTANO_ORACLE_WMS__START_DATE": "yesterday"})
    assert run.returncode == 3, run.stderr[-3000:]
    assert "GRUPONOS_MELTANO_ORACLE_WMS__START_DATE: Value error, must be an ISO 8601" in (
        run.stderr
    )
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"bookmarks": "x"}, "'bookmarks' is str 'x', not an object of streams"),
        (
            {"bookmarks": {"order_hdr": {"replication_key_value": "not-a-date"}}},
            "the bookmark of stream 'order_hdr' is 'not-a-date', not an ISO 8601 time",
        ),
    ],
)
def test_a_state_file_the_tap_cannot_use_is_a_state_error(cli, tmp_path, value, expected):
    state_file = tmp_path / STATE_FILE
    state_file.parent.mkdir(parents=True)
    state_file.write_text(json.dumps({"value": value}))
    run = _incremental(cli)
    assert run.returncode == 8, run.stderr[-3000:]
    assert f"State file {state_file}: {expected}" in run.stderr
    assert "Traceback" not in run.stderr
    assert json.loads(state_file.read_text())["value"] == value  # left for the user to see
