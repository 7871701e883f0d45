"""Several facilities in one command: each its own run, a summary, the worst exit code."""

from __future__ import annotations

import asyncio
import json
import re

from gruponos_meltano_native import create_gruponos_meltano_platform
from gruponos_meltano_native.pipeline.lock import ScopeLock


def test_facilities_run_side_by_side_with_a_summary_and_the_worst_exit_code(
    cli, simulator, tmp_path
):
    # DC09 does not exist; DC02 is held by another run: DC01 still runs, the worst code wins.
    with ScopeLock(tmp_path / "state", "GNOS", "DC02", {"job": "full-sync-job", "run_id": "X"}):
        result = cli(
            "run", "full", "--company", "GNOS", "--facility", "DC01,DC09,DC02", "--parallel", "2"
        )
    assert result.returncode == 3, result.stdout + result.stderr  # settings error > skipped
    out = result.stdout
    assert re.search(
        r"^GNOS/DC01\s+full-sync-job\s+succeeded\s+[\d,]+\s+[\d.]+\s+PASSED", out, re.M
    )
    assert re.search(r"^GNOS/DC09\s+full-sync-job\s+failed\s+0\s+.*\s3\s*$", out, re.M)
    assert re.search(r"^GNOS/DC02\s+full-sync-job\s+skipped\s+0\s+.*\s9\s*$", out, re.M)
    assert "3 facilities; exit code 3 (the worst)" in out
    assert "Unknown facility 'DC09' (setting 'facility_code'): the WMS's 'facility'" in (
        result.stderr
    )
    assert "GNOS/DC02 is busy: held by full-sync-job run X" in result.stderr
    # Each facility has its own state; the unknown one extracted nothing.
    states = {e["facility"] for e in json.loads(cli("state", "show").stdout)}
    assert states == {"DC01"}


def test_all_configured_facilities_through_the_cli_and_the_api(cli, simulator, settings_for):
    env = {"GRUPONOS_MELTANO_FACILITIES": "DC01,DC02"}
    listed = cli("run", "incremental", "--company", "GNOS", "--all-facilities", "--json", env=env)
    assert listed.returncode == 0, listed.stderr[-3000:]
    output = json.loads(listed.stdout)
    assert output["exit_code"] == 0
    assert [run["facility"] for run in output["runs"]] == ["DC01", "DC02"]
    assert all(run["status"] == "succeeded" for run in output["runs"])
    hdr = simulator.count("order_hdr", "GNOS", "DC02")
    assert output["runs"][1]["entities"]["order_hdr"]["extracted"] == hdr  # DC02's only

    missing = cli("run", "full", "--company", "GNOS", "--all-facilities")
    assert missing.returncode == 2 and "GRUPONOS_MELTANO_FACILITIES" in missing.stderr

    platform = create_gruponos_meltano_platform(
        settings_for(GRUPONOS_MELTANO_FACILITIES="DC01,DC02")
    )
    result = asyncio.run(platform.execute_facilities("incremental", "GNOS", parallel=2))
    assert result.success and result.exit_code == 0, result.summary
    assert set(result.results) == {"DC01", "DC02"}
    # Each facility continued from its own state, committed by the CLI's run above.
    assert result.results["DC02"].data["entities"]["order_hdr"]["extracted"] < hdr / 3
    assert "2 facilities; exit code 0" in result.summary


def test_a_lock_file_that_cannot_be_created_is_a_settings_error_naming_it(cli, tmp_path):
    not_a_folder = tmp_path / "state-file"
    not_a_folder.write_text("a file where the state folder should be")
    env = {"GRUPONOS_MELTANO_STATE_DIR": str(not_a_folder)}
    result = cli("run", "incremental", "--company", "GNOS", "--facility", "DC01", env=env)
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"cannot create lock file {not_a_folder}/locks/GNOS/DC01.lock" in result.stderr


def test_the_worst_exit_code_wins():
    from gruponos_meltano_native.errors import worst_exit_code

    assert worst_exit_code([]) == 0
    assert worst_exit_code([0, 9]) == 9
    assert worst_exit_code([9, 7, 0]) == 7  # a failed check outranks a skipped overlap
    assert worst_exit_code([7, 5, 6]) == 5
    assert worst_exit_code([3, 130, 1]) == 130
