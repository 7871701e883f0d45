"""A failed plugin's error names its cause on the first line."""

from __future__ import annotations

from gruponos_meltano_native.runners.exit_messages import error_cause, exit_message

TAP_OUTPUT = [
    "2026-11-26 15:21:25,412 | INFO     | tap-oracle-wms | Skipping parse of env var settings...",
    "2026-11-26 15:21:25,434 | ERROR    | tap-oracle-wms | Giving up after 1 attempts: HTTP 503",
    "Traceback (most recent call last):",
    '  File "/x/tap.py", line 3, in get',
    "tap_oracle_wms.client.WMSError: Giving up after 1 attempts: HTTP 503",
    "2026-11-26 15:21:25,500 | INFO     | tap-oracle-wms | METRIC: {}",
]


def test_the_last_error_logged_is_the_cause():
    assert error_cause(TAP_OUTPUT) == "Giving up after 1 attempts: HTTP 503"


def test_a_plugins_closing_summary_wins_over_logged_errors():
    lines = [*TAP_OUTPUT, "target-gruponos-oracle: failed: OperationalError: disk full", ""]
    assert error_cause(lines) == "OperationalError: disk full"


def test_meltano_relayed_error_lines_are_read_too():
    relayed = (
        "2026-11-26T15:00:00.1Z [info     ] 2026-11-26 15:00:00,000 | ERROR    | tap-oracle-wms "
        "| Setting 'entities': 'nosuch' not listed cmd_type=elb consumer=False"
    )
    assert error_cause(["Extractor failed", relayed, "Block run completed"]).startswith(
        "Setting 'entities': 'nosuch' not listed"
    )


def test_without_an_error_line_the_last_line_is_the_cause():
    assert error_cause(["starting", "ValueError: bad page", "  "]) == "ValueError: bad page"
    assert error_cause([]) == ""


def test_message_has_the_cause_first_then_the_last_lines():
    message = exit_message("tap-oracle-wms", 1, TAP_OUTPUT, detail=2)
    assert message.splitlines() == [
        "tap-oracle-wms exited with code 1: Giving up after 1 attempts: HTTP 503",
        *TAP_OUTPUT[-2:],
    ]
    assert exit_message("tap", 2, []) == "tap exited with code 2: (no output on stderr)"
