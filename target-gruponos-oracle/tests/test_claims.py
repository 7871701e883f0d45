"""What `--about` claims, working: stream maps and flattening through the SDK's mapper,
unknown settings named, unexpected failures with their traceback, the SDK fence."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from target_gruponos_oracle import sdk
from target_gruponos_oracle.errors import IncompatibleSDKError

ORDERS = {
    "id": {"type": "integer"},
    "status": {"type": ["null", "string"]},
    "cust_name": {"type": ["null", "string"]},
    "ship_to": {
        "type": ["null", "object"],
        "properties": {"city": {"type": ["null", "string"]}, "zip": {"type": ["null", "string"]}},
    },
}
RECORDS = [
    {"id": 1, "status": "open", "cust_name": "Ana", "ship_to": {"city": "Lima", "zip": "15001"}},
    {"id": 2, "status": "shipped", "cust_name": "Bo", "ship_to": {"city": "Quito", "zip": "170"}},
]


def _load(db, h, **settings) -> None:
    h.run_target(
        db.config(**settings),
        [h.schema("orders", ORDERS), *[h.record("orders", r) for r in RECORDS]],
    )


def test_a_stream_map_drops_a_column_and_renames_the_stream(db, h):
    _load(db, h, stream_maps={"orders": {"__alias__": "sales_orders", "cust_name": None}})
    rows = db.rows("sales_orders")
    assert [r["id"] for r in rows] == [1, 2]
    assert db.column("cust_name") not in db.column_names("sales_orders")
    assert db.column("status") in db.column_names("sales_orders")
    assert db.table("orders") not in _tables(db)


def test_a_stream_map_adds_a_computed_property_and_filters_records(db, h):
    _load(
        db,
        h,
        stream_maps={
            "orders": {"status_upper": "status.upper()", "__filter__": "status != 'shipped'"}
        },
    )
    rows = db.rows("orders")
    assert [(r["id"], r[db.column("status_upper").lower()]) for r in rows] == [(1, "OPEN")]


def test_a_map_to_null_drops_the_stream_and_else_null_keeps_only_named_ones(db, h):
    h.run_target(
        db.config(stream_maps={"orders": {}, "__else__": None}),
        [
            h.schema("orders", ORDERS),
            h.schema("noise", {"id": {"type": "integer"}}),
            h.record("orders", RECORDS[0]),
            h.record("noise", {"id": 1}),
        ],
    )
    assert db.count("orders") == 1
    assert db.table("noise") not in _tables(db)


def test_flattening_turns_nested_objects_into_columns(db, h):
    _load(db, h, flattening_enabled=True, flattening_max_depth=1)
    columns = db.column_names("orders")
    assert db.column("ship_to__city") in columns
    assert db.column("ship_to") not in columns
    rows = db.rows("orders")
    assert [r[db.column("ship_to__city").lower()] for r in rows] == ["Lima", "Quito"]


def test_mapped_streams_keep_versions_and_activation(db, h):
    """ACTIVATE_VERSION reaches the renamed table: the version is the stream's, not the map's."""
    config = db.config(stream_maps={"orders": {"__alias__": "sales_orders"}}, hard_delete=True)
    for version, ids in ((1, [1, 2]), (2, [2])):
        h.run_target(
            config,
            [
                h.schema("orders", ORDERS),
                *[h.record("orders", RECORDS[i - 1], version=version) for i in ids],
                h.activate_version("orders", version),
            ],
        )
    assert [r["id"] for r in db.rows("sales_orders")] == [2]


def test_unknown_settings_are_named_in_a_warning_at_start(db, h, tmp_path):
    result = h.run_cli(
        db.config(batch_size=10, hard_delte=True),
        [h.schema("orders", ORDERS), h.record("orders", RECORDS[0])],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "Unknown settings, ignored: batch_size, hard_delte" in result.stderr


def test_an_unexpected_failure_prints_its_traceback_then_one_summary_line(h, tmp_path):
    # A directory where the SQLite file should be: the database itself fails, not the input.
    config = {"sqlalchemy_url": f"sqlite:///{tmp_path}", "password": "hunter2-secret"}
    result = h.run_cli(config, [h.schema("orders", ORDERS)], tmp_path)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("target-gruponos-oracle: failed: ")
    assert "hunter2-secret" not in result.stderr


def test_bad_input_stays_one_line_without_traceback(db, h, tmp_path):
    result = h.run_cli(db.config(), ["{not json"], tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_the_sdk_fence_names_every_missing_method_and_constructor_attribute():
    # The same check as the tap's fence (tap_oracle_wms.sdk): methods on the class,
    # attributes where the class's own constructor assigns them, before any instance.
    class Renamed:
        def __init__(self) -> None:
            self._sinks_active = {}

        def _process_schema_message(self) -> None: ...

    with pytest.raises(IncompatibleSDKError) as caught:
        sdk.check(
            {Renamed: ("_process_schema_message", "_drain_all", "_gone")},
            {Renamed: ("_sinks_active", "_latest_state")},
        )
    message = str(caught.value)
    assert "lacks Renamed._drain_all, Renamed._gone, Renamed._latest_state;" in message
    assert "_process_schema_message" not in message and "_sinks_active" not in message
    assert 'pip install "singer-sdk>=0.54,<0.55"' in message
    sdk.check()  # the installed SDK passes


def test_an_incompatible_sdk_stops_the_command_at_start_with_one_line(tmp_path):
    # The real command, with the installed SDK's Target missing a method the target uses.
    script = (
        "from singer_sdk.target_base import Target\n"
        "del Target._handle_max_record_age\n"
        "from target_gruponos_oracle.cli import main\n"
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
        f"target-gruponos-oracle: needs singer-sdk 0.54.x, but the installed singer-sdk "
        f"{sdk._sdk_version()} lacks SQLTarget._handle_max_record_age; install the tested "
        'series: pip install "singer-sdk>=0.54,<0.55"'
    ]


def test_about_lists_what_the_target_does():
    result = subprocess.run(
        [sys.executable, "-m", "target_gruponos_oracle.cli", "--about", "--format=json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    about = json.loads(result.stdout)
    assert set(about["capabilities"]) == {
        "about",
        "stream-maps",
        "schema-flattening",
        "activate-version",
        "target-schema",
        "hard-delete",
    }
    assert "activate_version_scope" in about["settings"]["properties"]


def _tables(db) -> list[str]:
    import sqlalchemy as sa

    engine = db.engine()
    try:
        with engine.connect() as conn:
            return sa.inspect(conn).get_table_names()
    finally:
        engine.dispose()


def test_a_stream_map_the_sdk_refuses_is_a_one_line_settings_error(db, h, tmp_path):
    result = h.run_cli(
        db.config(stream_maps={"orders": {"total": "1 +"}}),
        [h.schema("orders", ORDERS), h.record("orders", RECORDS[0])],
        tmp_path,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "target-gruponos-oracle: settings: stream_maps / flattening for stream 'orders'" in (
        result.stderr
    )
    assert db.table("orders") not in _tables(db)


def test_a_map_failing_on_a_record_names_line_and_stream(db, h, tmp_path):
    result = h.run_cli(
        db.config(stream_maps={"orders": {"name_upper": "cust_name.upper()"}}),
        [
            h.schema("orders", ORDERS),
            h.record("orders", RECORDS[0]),
            h.state({"at": 2}),
            h.record("orders", {**RECORDS[1], "cust_name": None}),  # line 4
        ],
        tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert "bad input at line 4, stream 'orders': stream map to 'orders' failed" in result.stderr
    assert [r["id"] for r in db.rows("orders")] == [1]  # what came before is committed
    assert result.stdout.strip().splitlines()[-1] == '{"at": 2}'
