"""ACTIVATE_VERSION: scoped to one company/facility, safe at the start of a full sync, and
rows that come back are live again. Real SQLite and PostgreSQL; Oracle as compiled SQL."""

from __future__ import annotations

import pytest
from sqlalchemy.dialects import oracle
from target_gruponos_oracle.columns import schema_columns
from target_gruponos_oracle.dialects import strategy_class
from target_gruponos_oracle.dialects.oracle import OracleStrategy

ALLOCATION = {
    "id": {"type": "integer"},
    "status": {"type": ["null", "string"]},
    "scope_company_code": {"type": ["null", "string"]},
    "scope_facility_code": {"type": ["null", "string"]},
}


def _full_sync(h, facility: str, version: int, ids: list[int], *, end: bool = True) -> list:
    """A full sync as a singer-sdk tap sends it (activation first) plus, if `end`, the
    activation after the records that marks a completed sync."""
    records = [
        h.record(
            "allocation",
            {
                "id": i,
                "status": "open",
                "scope_company_code": "GNOS",
                "scope_facility_code": facility,
            },
            version=version,
        )
        for i in ids
    ]
    closing = [h.activate_version("allocation", version)] if end else []
    return [
        h.schema("allocation", ALLOCATION),
        h.activate_version("allocation", version),
        *records,
        *closing,
        h.state({"bookmarks": {"allocation": {"version": version}}}),
    ]


def _scoped(db, facility: str, **settings):
    return db.config(
        activate_version_scope={"scope_company_code": "GNOS", "scope_facility_code": facility},
        **settings,
    )


def _by_id(db) -> dict[int, dict]:
    return {row["id"]: row for row in db.rows("allocation")}


@pytest.mark.parametrize("hard_delete", [False, True], ids=["soft", "hard"])
def test_two_scopes_share_a_table_and_each_full_sync_touches_only_its_own_rows(db, h, hard_delete):
    deleted = db.column("_sdc_deleted_at").lower()
    h.run_target(_scoped(db, "DC01", hard_delete=hard_delete), _full_sync(h, "DC01", 1, [1, 2, 3]))
    h.run_target(_scoped(db, "DC02", hard_delete=hard_delete), _full_sync(h, "DC02", 2, [11, 12]))
    # DC01's next full sync no longer has row 3; DC02's rows are older versions too.
    h.run_target(_scoped(db, "DC01", hard_delete=hard_delete), _full_sync(h, "DC01", 3, [1, 2]))

    rows = _by_id(db)
    assert {i: rows[i][deleted] is None for i in (11, 12)} == {11: True, 12: True}
    assert [rows[i][deleted] is None for i in (1, 2)] == [True, True]
    if hard_delete:
        assert sorted(rows) == [1, 2, 11, 12]
    else:
        assert sorted(rows) == [1, 2, 3, 11, 12]
        assert rows[3][deleted] is not None

    # Row 3 is back in DC01's next version: live again, with the new version.
    h.run_target(_scoped(db, "DC01", hard_delete=hard_delete), _full_sync(h, "DC01", 4, [1, 2, 3]))
    rows = _by_id(db)
    version = db.column("_sdc_table_version").lower()
    assert rows[3][deleted] is None
    assert rows[3][version] == 4
    assert [rows[i][deleted] for i in (11, 12)] == [None, None]


def test_an_activation_before_its_records_never_marks_rows_about_to_be_sent_again(db, h):
    deleted = db.column("_sdc_deleted_at").lower()
    config = _scoped(db, "DC01")
    h.run_target(config, _full_sync(h, "DC01", 1, [1, 2, 3]))
    # A singer-sdk tap's full sync: ACTIVATE_VERSION first, then the records, no closing
    # activation. Cut short after row 1: rows 2 and 3 were simply not re-sent yet.
    h.run_target(config, _full_sync(h, "DC01", 2, [1], end=False))
    assert [row[deleted] for row in db.rows("allocation")] == [None, None, None]


def test_an_activation_with_no_records_marks_rows_only_when_repeated(db, h):
    """A full sync that found nothing: the tap activates at the start and at the end."""
    deleted = db.column("_sdc_deleted_at").lower()
    config = _scoped(db, "DC01")
    h.run_target(config, _full_sync(h, "DC01", 1, [1, 2]))
    h.run_target(config, _full_sync(h, "DC01", 2, [], end=False))
    assert [row[deleted] is None for row in db.rows("allocation")] == [True, True]
    h.run_target(config, _full_sync(h, "DC01", 3, [], end=True))
    assert [row[deleted] is None for row in db.rows("allocation")] == [False, False]


def test_a_scope_property_the_stream_lacks_stops_without_deleting(db, h, tmp_path):
    config = db.config(activate_version_scope={"warehouse": "DC01"}, hard_delete=True)
    sync = [
        h.schema("items", {"id": {"type": "integer"}}),
        *[h.record("items", {"id": i}, version=1) for i in (1, 2)],
        h.activate_version("items", 1),
    ]
    result = h.run_cli(config, sync, tmp_path)
    assert result.returncode == 1
    assert "activate_version_scope: stream 'items' has no property 'warehouse'" in result.stderr
    assert "Traceback" not in result.stderr  # a settings problem is one clear line
    assert [row["id"] for row in db.rows("items")] == [1, 2]  # nothing deleted


def test_a_scope_value_that_cannot_match_its_column_stops_without_deleting(db, h, tmp_path):
    config = db.config(activate_version_scope={"warehouse": "north"}, hard_delete=True)
    sync = [
        h.schema("items", {"id": {"type": "integer"}, "warehouse": {"type": "integer"}}),
        *[h.record("items", {"id": i, "warehouse": 7}, version=1) for i in (1, 2)],
        h.activate_version("items", 1),
    ]
    result = h.run_cli(config, sync, tmp_path)
    assert result.returncode == 1
    assert "activate_version_scope: 'warehouse' expects an integer, got 'north'" in result.stderr
    assert "Traceback" not in result.stderr
    assert [row["id"] for row in db.rows("items")] == [1, 2]  # nothing deleted


def test_activate_version_for_a_stream_without_schema_is_ignored_with_a_warning(db, h, caplog):
    config = db.config(hard_delete=True)
    h.run_target(
        config,
        [
            h.activate_version("never_described", 5),
            h.schema("items", {"id": {"type": "integer"}}),
            h.record("items", {"id": 1}),
        ],
    )
    assert "Ignoring ACTIVATE_VERSION for stream 'never_described'" in caplog.text
    assert db.count("items") == 1


@pytest.mark.parametrize("max_identifier_length", [128, 30])
def test_scoped_version_statements_compile_for_oracle(max_identifier_length):
    config = {"table_prefix": "WMS_", "max_identifier_length": max_identifier_length}
    strategy = OracleStrategy(oracle.dialect(max_identifier_length=max_identifier_length), config)
    properties = {
        **ALLOCATION,
        "_sdc_table_version": {"type": ["null", "integer"]},
        "_sdc_deleted_at": {"type": ["null", "string"], "format": "date-time"},
    }
    spec = strategy.table_spec(
        "allocation",
        schema_columns(config, "allocation", {"properties": properties}, strategy_class("oracle")),
        ["id"],
    )
    scope = {"SCOPE_COMPANY_CODE": "GNOS", "SCOPE_FACILITY_CODE": "DC01"}
    compile_ = lambda clause: str(clause.compile(dialect=oracle.dialect()))  # noqa: E731
    hard = compile_(strategy.delete_old_versions(spec, "SDC_TABLE_VERSION", scope))
    assert hard == (
        'DELETE FROM "WMS_ALLOCATION" WHERE ("SDC_TABLE_VERSION" IS NULL OR '
        '"SDC_TABLE_VERSION" < :version) AND "SCOPE_COMPANY_CODE" = :scope_0 '
        'AND "SCOPE_FACILITY_CODE" = :scope_1'
    )
    soft = compile_(
        strategy.soft_delete_old_versions(spec, "SDC_TABLE_VERSION", "SDC_DELETED_AT", scope)
    )
    assert soft == (
        'UPDATE "WMS_ALLOCATION" SET "SDC_DELETED_AT" = :deleted_at WHERE '
        '("SDC_TABLE_VERSION" IS NULL OR "SDC_TABLE_VERSION" < :version) AND '
        '"SDC_DELETED_AT" IS NULL AND "SCOPE_COMPANY_CODE" = :scope_0 '
        'AND "SCOPE_FACILITY_CODE" = :scope_1'
    )
    assert strategy.scope_params(scope) == {"scope_0": "GNOS", "scope_1": "DC01"}
    # Unscoped, the statements are exactly today's.
    assert " AND " not in compile_(strategy.delete_old_versions(spec, "SDC_TABLE_VERSION"))


def test_deletion_by_key_compiles_for_oracle():
    """The statement a record carrying `_sdc_deleted_at` runs under `hard_delete`."""
    config = {"table_prefix": "WMS_"}
    strategy = OracleStrategy(oracle.dialect(), config)
    columns = schema_columns(
        config, "order_dtl", {"properties": ALLOCATION}, strategy_class("oracle")
    )
    spec = strategy.table_spec("order_dtl", columns, ["id", "scope_facility_code"])
    compiled = str(strategy.delete_keys(spec).compile(dialect=oracle.dialect()))
    assert compiled == (
        'DELETE FROM "WMS_ORDER_DTL" WHERE "ID" = :key_0 AND "SCOPE_FACILITY_CODE" = :key_1'
    )
    assert strategy.key_params((7, "DC01")) == {"key_0": 7, "key_1": "DC01"}


def test_a_resumed_full_syncs_closing_activation_marks_rows_neither_run_saw(db, h):
    """Killed after loading rows of version 2; the rerun keeps version 2 and sends only
    the rest (here nothing) before its closing activation, whose records were not in it."""
    deleted = db.column("_sdc_deleted_at").lower()
    config = _scoped(db, "DC01")
    h.run_target(config, _full_sync(h, "DC01", 1, [1, 2, 3]))
    schema, _opening, *records, _state = _full_sync(h, "DC01", 2, [1, 2], end=False)
    h.run_target(config, [schema, *records])  # killed before its closing activation
    h.run_target(config, [h.schema("allocation", ALLOCATION), h.activate_version("allocation", 2)])
    assert {i: row[deleted] is None for i, row in _by_id(db).items()} == {
        1: True,
        2: True,
        3: False,  # neither attempt of version 2 saw it
    }
