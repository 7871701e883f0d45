"""Bad input through the real executable: what came before is committed, the last fully
covered STATE is emitted, and the process stops non-zero naming line, stream and field."""

from __future__ import annotations

import json

import pytest

ORDERS = {
    "id": {"type": "integer"},
    "qty": {"type": ["null", "number"]},
    "ts": {"type": ["null", "string"], "format": "date-time"},
}


def _run(db, h, tmp_path, bad_line):
    messages = [
        h.schema("orders", ORDERS),  # line 1
        h.record("orders", {"id": 1, "qty": 1}),
        h.record("orders", {"id": 2, "qty": 2}),
        h.state({"bookmarks": {"orders": "A"}}),
        h.record("orders", {"id": 3, "qty": 3}),
        h.state({"bookmarks": {"orders": "B"}}),  # line 6: last STATE before the bad line
        h.record("orders", {"id": 4, "qty": 4}),
        bad_line,  # line 8
        h.record("orders", {"id": 5, "qty": 5}),
        h.state({"bookmarks": {"orders": "C"}}),
    ]
    result = h.run_cli(db.config(), messages, tmp_path)
    states = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return result, states


@pytest.mark.parametrize(
    ("bad_line", "expected"),
    [
        pytest.param(
            '{"type": "RECORD", "stream": "orders", "record": {"id": 9',
            ["line 8", "not valid JSON"],
            id="not-json",
        ),
        pytest.param(
            {"type": "RECORD", "stream": "returns", "record": {"id": 9}},
            ["line 8", "stream 'returns'", "before its SCHEMA"],
            id="record-before-schema",
        ),
        pytest.param(
            {"type": "RECORD", "stream": "orders", "record": {"qty": 9}},
            ["line 8", "stream 'orders'", "field 'id'", "key property"],
            id="missing-key",
        ),
        pytest.param(
            {"type": "RECORD", "stream": "orders", "record": {"id": 9, "qty": "lots"}},
            ["line 8", "stream 'orders'", "field 'qty'", "expected a number", "'lots'"],
            id="value-does-not-fit",
        ),
        pytest.param(
            {"type": "RECORD", "stream": "orders", "record": {"id": 9, "ts": "yesterday"}},
            ["line 8", "stream 'orders'", "field 'ts'", "expected an ISO 8601 date-time"],
            id="date-time-does-not-fit",
        ),
        pytest.param(
            {"type": "RECORD", "stream": "orders", "record": {"id": None, "qty": 9}},
            ["line 8", "stream 'orders'", "field 'id'", "key property"],
            id="null-key",
        ),
        pytest.param(
            {"type": "RECORD", "stream": "orders", "record": {"id": "nine"}},
            ["line 8", "stream 'orders'", "field 'id'", "expected an integer"],
            id="key-does-not-fit",
        ),
        pytest.param(
            {"type": "RECORD", "stream": "orders", "record": [9]},
            ["line 8", "stream 'orders'", "'record' must be a JSON object"],
            id="record-not-an-object",
        ),
        pytest.param(
            # An envelope the fast decoder refuses (a numeric time_extracted) takes the
            # general path, which checks the record the same way.
            {"type": "RECORD", "stream": "orders", "record": "nine", "time_extracted": 5},
            ["line 8", "stream 'orders'", "RECORD has no 'record' object"],
            id="record-not-an-object-general-path",
        ),
        pytest.param(
            {
                "type": "SCHEMA",
                "stream": "returns",
                "schema": {"properties": {"id": {"type": "integer"}}},
                "key_properties": ["return_id"],
            },
            ["line 8", "stream 'returns'", "key properties ['return_id'] are not in the schema"],
            id="key-not-in-schema",
        ),
        pytest.param(
            {"type": "SURPRISE", "stream": "orders"},
            ["line 8", "unknown or missing message type 'SURPRISE'"],
            id="unknown-type",
        ),
    ],
)
def test_bad_input_commits_what_came_before_and_stops_clearly(db, h, tmp_path, bad_line, expected):
    result, states = _run(db, h, tmp_path, bad_line)
    assert result.returncode == 2, result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("target-gruponos-oracle: bad input at line 8")
    for part in expected:
        assert part in message
    assert [r["id"] for r in db.rows("orders")] == [1, 2, 3, 4]
    assert states[-1] == {"bookmarks": {"orders": "B"}}
    assert {"bookmarks": {"orders": "C"}} not in states


def test_rerun_after_fixing_the_input_neither_loses_nor_duplicates(db, h, tmp_path):
    _run(db, h, tmp_path, '{"broken')
    result, states = _run(db, h, tmp_path, h.record("orders", {"id": 4, "qty": 4}))
    assert result.returncode == 0, result.stderr
    assert [r["id"] for r in db.rows("orders")] == [1, 2, 3, 4, 5]
    assert states[-1] == {"bookmarks": {"orders": "C"}}


def test_state_is_emitted_only_after_its_rows_are_committed(db, h, tmp_path):
    result = h.run_cli(
        db.config(batch_size_rows=2),
        [
            h.schema("orders", ORDERS),
            h.record("orders", {"id": 1}),
            h.state({"n": 1}),
            h.record("orders", {"id": 2}),  # batch full: drained, then STATE n=1 goes out
            h.record("orders", {"id": 3}),
            h.state({"n": 3}),
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [{"n": 1}, {"n": 3}]


@pytest.mark.parametrize(
    "config",
    [
        {"sqlalchemy_url": "postgresql+psycopg://loader:S3cr3t-pw@127.0.0.1:1/wms"},
        {
            "host": "127.0.0.1",
            "port": 1,
            "service_name": "WMS",
            "username": "loader",
            "password": "S3cr3t-pw",
        },
    ],
    ids=["url", "oracle-settings"],
)
def test_connection_failure_exits_non_zero_without_the_password(h, tmp_path, config):
    result = h.run_cli(config, [h.schema("orders", ORDERS)], tmp_path)
    assert result.returncode == 1
    assert "failed" in result.stderr
    assert "S3cr3t-pw" not in result.stderr + result.stdout


def test_a_state_on_stdout_means_its_rows_survive_a_kill(db, h, tmp_path):
    import select
    import signal
    import subprocess

    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(db.config(batch_size_rows=100)))
    target = subprocess.Popen(
        [str(h.executable), "--config", str(config_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    first = [h.schema("orders", ORDERS), *[h.record("orders", {"id": i}) for i in range(100)]]
    rest = [h.record("orders", {"id": i}) for i in range(100, 1300)]
    target.stdin.write(h.singer_lines([*first, h.state({"upto": 100}), *rest]))
    target.stdin.flush()  # the pipe stays open: the target is mid-run
    ready, _, _ = select.select([target.stdout], [], [], 60)
    assert ready, "no STATE within 60 s"
    assert json.loads(target.stdout.readline()) == {"upto": 100}
    committed = db.count("orders")
    target.send_signal(signal.SIGKILL)
    target.wait()
    assert committed >= 100
    assert db.count("orders") >= committed  # nothing it had committed went away


# Numbers each database cannot hold (rule cited in its dialect module: Oracle NUMBER,
# PostgreSQL BIGINT / NUMERIC, SQLite's 64-bit INTEGER), as line 8 of `_run`.
_TOO_BIG_INTEGER = 10**40 + 1  # 41 digits: beyond NUMBER(38), BIGINT and 64 bits
_NUMBER_CASES = {
    "integer-beyond-every-database": (
        {"id": _TOO_BIG_INTEGER, "qty": 9},
        {"sqlite", "postgresql", "oracle"},
        "field 'id'",
    ),
    "integer-beyond-64-bits": ({"id": 2**63, "qty": 9}, {"sqlite", "postgresql"}, "field 'id'"),
    "number-with-39-significant-digits": (
        {"id": 9, "qty": "1" * 39 + ".5"},
        {"oracle"},
        "field 'qty'",
    ),
    "number-of-1E126": ({"id": 9, "qty": "1E126"}, {"oracle"}, "field 'qty'"),
    "number-beyond-numeric": (
        {"id": 9, "qty": "1E131072"},
        {"postgresql", "oracle"},
        "field 'qty'",
    ),
}


@pytest.mark.parametrize("case", list(_NUMBER_CASES))
def test_numbers_the_database_cannot_hold_are_bad_input(db, h, tmp_path, case):
    record, refused_by, field = _NUMBER_CASES[case]
    # Written as raw JSON so big numbers stay numbers (not strings) on the wire.
    raw = json.dumps({"type": "RECORD", "stream": "orders", "record": {}})
    body = ", ".join(f'"{k}": {v}' for k, v in record.items())
    line = raw.replace('"record": {}', f'"record": {{{body}}}')
    result, states = _run(db, h, tmp_path, line)
    if db.dialect not in refused_by:
        assert result.returncode == 0, result.stderr
        assert len(db.rows("orders")) == 6
        return
    assert result.returncode == 2, result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("target-gruponos-oracle: bad input at line 8, stream 'orders'")
    assert field in message
    assert "Traceback" not in result.stderr
    assert [r["id"] for r in db.rows("orders")] == [1, 2, 3, 4]
    assert states[-1] == {"bookmarks": {"orders": "B"}}
