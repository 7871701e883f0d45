"""A record stamped far in the future (a WMS data-entry error) never stalls incremental runs.

Through `gruponos-meltano` with both runners: the record is loaded, the bookmark stops at the
WMS's clock, later changes still arrive, and the freshness check ignores the future value and
says so. A bookmark already in the future (left before the tap had a horizon) is brought back
without editing any state by hand.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

INCREMENTAL_STATE = Path("state/bookmarks/incremental-sync-job/GNOS/DC01.json")
FUTURE_YEARS = [2099, 9999]


def future_record(simulator, year: int) -> tuple[int, str]:
    """Stamp one DC01 order in `year`; its id and the value the WMS serves."""
    row_id = simulator.touch("order_hdr", 1, "GNOS", "DC01")[0]
    moment = dt.datetime(year, 1, 1, tzinfo=simulator.now().tzinfo)
    simulator.set_value("order_hdr", row_id, "mod_ts", moment)
    return row_id, moment.isoformat()


def run_json(cli, job: str, env: dict[str, str] | None = None) -> dict:
    result = cli("run", job, "--company", "GNOS", "--facility", "DC01", "--json", env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout)


def _tap_log(report: dict) -> str:
    folder = Path(report["log_dir"])
    return "\n".join(p.read_text() for p in folder.glob("*.log"))


def _bookmark(tmp_path: Path) -> str:
    state = json.loads((tmp_path / INCREMENTAL_STATE).read_text())["value"]
    return state["bookmarks"]["order_hdr"]["replication_key_value"]


def freshness(report: dict) -> dict:
    checks = report["validation"]["checks"]
    return next(c for c in checks if c["entity"] == "order_hdr" and c["name"] == "freshness")


@pytest.mark.parametrize("year", FUTURE_YEARS)
def test_a_future_mod_ts_is_loaded_but_never_stalls_the_pipe_runner(
    cli, simulator, tmp_path, db, year
):
    run_json(cli, "full")
    future_id, value = future_record(simulator, year)

    first = run_json(cli, "incremental")
    assert db(f"select mod_ts from order_hdr where id = {future_id}") == [(value,)]
    log = _tap_log(first)
    assert f"id {future_id} ({value})" in log and "beyond the WMS's clock" in log
    assert _bookmark(tmp_path) < f"{year}"
    assert "beyond the WMS's clock" in freshness(first)["detail"]

    simulator.advance(20)
    touched = simulator.touch("order_hdr", 3, "GNOS", "DC01")
    second = run_json(cli, "incremental")
    assert 3 <= second["entities"]["order_hdr"]["extracted"] < 20
    newest = simulator.now().isoformat()
    for row_id in touched:
        assert db(f"select mod_ts from order_hdr where id = {row_id}") == [(newest,)]
    figures = second["validation"]["entities"]["order_hdr"]
    assert dt.datetime.fromisoformat(figures["newest_mod_ts"]) == simulator.now()
    assert figures["future_mod_ts"] == 1


@pytest.mark.parametrize("year", FUTURE_YEARS)
def test_a_bookmark_already_in_the_future_is_brought_back(cli, simulator, tmp_path, db, year):
    run_json(cli, "full")
    newest_loaded = db("select max(mod_ts) from order_hdr")[0][0]
    # What an earlier version left: the bookmark at the future record's value.
    state_file = tmp_path / INCREMENTAL_STATE
    envelope = json.loads(state_file.read_text())
    bookmark = f"{year}-01-01T00:00:00-03:00"
    envelope["value"]["bookmarks"]["order_hdr"]["replication_key_value"] = bookmark
    state_file.write_text(json.dumps(envelope))
    simulator.advance(20)
    touched = simulator.touch("order_hdr", 2, "GNOS", "DC01")

    result = cli("run", "incremental", "--company", "GNOS", "--facility", "DC01", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "STATE REPAIRED: stream 'order_hdr'" in result.stderr
    assert bookmark in result.stderr and str(state_file) in result.stderr
    report = json.loads(result.stdout)
    # From the newest loaded value minus the lookback: the changes, not the whole entity.
    assert 2 <= report["entities"]["order_hdr"]["extracted"] < 20
    for row_id in touched:
        assert db(f"select mod_ts from order_hdr where id = {row_id}") == [
            (simulator.now().isoformat(),)
        ]
    assert newest_loaded < _bookmark(tmp_path) < f"{year}"
