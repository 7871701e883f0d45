"""Records carrying `_sdc_deleted_at` (how log-based taps send a deleted row), declared in
the schema or not: `hard_delete` deletes the row, otherwise the mark is stored."""

from __future__ import annotations

import json
import subprocess

import pytest

ITEMS = {"id": {"type": "integer"}, "name": {"type": ["null", "string"]}}
DECLARED = {**ITEMS, "_sdc_deleted_at": {"type": ["null", "string"], "format": "date-time"}}
WHEN = "2026-03-01T10:00:00+00:00"


@pytest.mark.parametrize("schema", [ITEMS, DECLARED], ids=["undeclared", "declared"])
def test_without_hard_delete_the_mark_is_stored(db, h, schema):
    h.run_target(
        db.config(),
        [
            h.schema("items", schema),
            h.record("items", {"id": 1, "name": "a"}),
            h.record("items", {"id": 2, "name": "b"}),
            h.record("items", {"id": 2, "name": "b", "_sdc_deleted_at": WHEN}),
            h.record("items", {"id": 3, "name": "c"}),
        ],
    )
    deleted = db.column("_sdc_deleted_at").lower()
    rows = db.rows("items")
    assert [r["id"] for r in rows] == [1, 2, 3]
    assert [r[deleted] is None for r in rows] == [True, False, True]
    assert str(rows[1][deleted])[:10] == "2026-03-01"


@pytest.mark.parametrize("schema", [ITEMS, DECLARED], ids=["undeclared", "declared"])
def test_with_hard_delete_the_row_is_deleted_and_the_last_message_per_key_wins(db, h, schema):
    config = db.config(hard_delete=True)
    h.run_target(
        config, [h.schema("items", schema), *[h.record("items", {"id": i}) for i in (1, 2)]]
    )
    h.run_target(
        config,
        [
            h.schema("items", schema),
            h.record("items", {"id": 1, "_sdc_deleted_at": WHEN}),  # committed row
            h.record("items", {"id": 3, "name": "new"}),
            h.record("items", {"id": 3, "_sdc_deleted_at": WHEN}),  # row of the same batch
            h.record("items", {"id": 4, "_sdc_deleted_at": WHEN}),  # deleted, then back
            h.record("items", {"id": 4, "name": "back"}),
            h.record("items", {"id": 5, "name": "x", "_sdc_deleted_at": None}),  # not a mark
        ],
    )
    assert [(r["id"], r["name"]) for r in db.rows("items")] == [(2, None), (4, "back"), (5, "x")]


def test_a_marked_row_sent_again_without_the_mark_is_live_again(db, h):
    """Also when the later run sends no versions and no `_sdc_deleted_at` at all."""
    config = db.config()
    h.run_target(
        config,
        [h.schema("items", ITEMS), h.record("items", {"id": 1, "_sdc_deleted_at": WHEN})],
    )
    h.run_target(config, [h.schema("items", ITEMS), h.record("items", {"id": 1, "name": "again"})])
    [row] = db.rows("items")
    assert row[db.column("_sdc_deleted_at").lower()] is None
    assert row["name"] == "again"


def test_marks_read_from_a_text_file_input(db, h, tmp_path):
    """`--input FILE` gives the reader text lines, stdin gives bytes: both are checked."""
    messages = tmp_path / "messages.jsonl"
    messages.write_text(
        h.singer_lines(
            [
                h.schema("items", ITEMS),
                h.record("items", {"id": 1}),
                h.record("items", {"id": 2}),
                h.record("items", {"id": 1, "_sdc_deleted_at": WHEN}),
            ]
        )
    )
    config = tmp_path / "config.json"
    config.write_text(json.dumps(db.config(hard_delete=True)))
    result = subprocess.run(
        [str(h.executable), "--config", str(config), "--input", str(messages)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert [r["id"] for r in db.rows("items")] == [2]


def test_hard_delete_by_a_date_time_key_with_fractions_deletes_the_row(db, h):
    # Review finding 3: on Oracle the key bind was the driver's guess (DB_TYPE_DATE, no
    # fractions), so the TIMESTAMP WITH TIME ZONE key never matched and nothing was deleted.
    schema = h.schema(
        "ev",
        {"ts": {"type": "string", "format": "date-time"}, "v": {"type": "string"}},
        keys=["ts"],
    )
    first, second = "2026-01-05T10:00:00.123456-03:00", "2026-01-05T10:00:00.654321Z"
    config = db.config(hard_delete=True)
    h.run_target(
        config,
        [schema, h.record("ev", {"ts": first, "v": "a"}), h.record("ev", {"ts": second, "v": "b"})],
    )
    marker = {"ts": first, "_sdc_deleted_at": "2026-01-06T00:00:00Z"}
    h.run_target(config, [schema, h.record("ev", marker)])
    assert [row["v"] for row in db.rows("ev", order_by=None)] == ["b"]
