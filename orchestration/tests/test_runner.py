"""The pipe runner with two small real processes standing in for the tap and the target."""

from __future__ import annotations

import sys
import textwrap

import pytest
from gruponos_meltano_native.errors import ExtractError, LoadError
from gruponos_meltano_native.masking import Redactor
from gruponos_meltano_native.runners.runner import PipeRunner

FAKE_TAP = textwrap.dedent(
    """
    import json, sys
    fail = sys.argv[1] == "fail"
    out = sys.stdout
    def emit(m): out.write(json.dumps(m, separators=(",", ":")) + "\\n")
    for stream in ("a", "b"):
        emit({"type": "SCHEMA", "stream": stream, "key_properties": ["id"],
              "schema": {"properties": {"id": {"type": "integer"}, "mod_ts": {"type": "string"}}}})
    for i in range(3000):
        emit({"type": "RECORD", "stream": "a" if i % 3 else "b", "record": {"id": i}})
        if i % 1000 == 999:
            emit({"type": "STATE", "value": {"bookmarks": {"a": {"n": i}}}})
    out.flush()
    if fail:
        sys.stderr.write("tap error: HTTP 401 for https://wms.example.com (password tap-secret)\\n")
        sys.exit(1)
    """
)

FAKE_TARGET = textwrap.dedent(
    """
    import json, sys
    die_after = int(sys.argv[1])
    counts = {}
    seen = 0
    for line in sys.stdin:
        m = json.loads(line)
        if m["type"] == "RECORD":
            seen += 1
            if seen == die_after:
                sys.stderr.write("target error: value too long at line %d\\n" % seen)
                sys.exit(2)
            counts[m["stream"]] = counts.get(m["stream"], 0) + 1
        elif m["type"] == "STATE":
            sys.stdout.write(json.dumps(m["value"]) + "\\n")
            sys.stdout.flush()
    for stream, n in counts.items():
        metric = {"metric": "record_count", "value": n, "tags": {"stream": stream}}
        sys.stderr.write("INFO METRIC: " + json.dumps(metric) + "\\n")
    """
)


def _runner(tmp_path, tap_mode="ok", die_after=0):
    tap = tmp_path / "tap.py"
    target = tmp_path / "target.py"
    tap.write_text(FAKE_TAP)
    target.write_text(FAKE_TARGET)
    return PipeRunner(
        [sys.executable, str(tap), tap_mode],
        [sys.executable, str(target), str(die_after)],
        tmp_path / "logs",
        Redactor(["tap-secret"]),
    )


def test_counts_both_sides_and_hands_on_every_committed_state(tmp_path):
    states = []
    progress = []
    result = _runner(tmp_path).run(
        states.append, lambda counts, elapsed: progress.append(dict(counts))
    )
    assert result.extracted == {"a": 2000, "b": 1000}
    assert result.loaded == {"a": 2000, "b": 1000}
    assert result.streams["a"].key_properties == ["id"]
    assert result.streams["a"].properties == {"id", "mod_ts"}
    assert [s["bookmarks"]["a"]["n"] for s in states] == [999, 1999, 2999]
    assert result.states_committed == 3 and result.last_state == states[-1]
    assert progress[-1] == {"a": 2000, "b": 1000}


def test_target_failure_is_a_load_error_and_keeps_earlier_states(tmp_path):
    states = []
    with pytest.raises(LoadError) as caught:
        _runner(tmp_path, die_after=1500).run(states.append)
    first_line = str(caught.value).splitlines()[0]  # what `history` shows: cause included
    assert "exited with code 2: " in first_line and "value too long at line 1500" in first_line
    assert [s["bookmarks"]["a"]["n"] for s in states] == [999]


def test_tap_failure_is_an_extract_error_after_the_target_commits(tmp_path):
    states = []
    with pytest.raises(ExtractError) as caught:
        _runner(tmp_path, tap_mode="fail").run(states.append)
    message = str(caught.value)
    assert "HTTP 401" in message.splitlines()[0]
    assert "tap-secret" not in message
    assert "tap-secret" not in (tmp_path / "logs" / "tap.log").read_text()
    assert len(states) == 3  # everything the tap sent before failing was committed
    assert caught.value.extracted == {"a": 2000, "b": 1000}  # for the run's report


def test_a_state_that_cannot_be_saved_fails_the_run(tmp_path):
    def broken(value):
        raise OSError("read-only file system")

    with pytest.raises(OSError, match="read-only"):
        _runner(tmp_path).run(broken)


def test_missing_executables_are_named(tmp_path):
    runner = _runner(tmp_path)
    runner.tap_command = [str(tmp_path / "no-such-tap")]
    with pytest.raises(ExtractError, match=r"cannot start .*no-such-tap"):
        runner.run(lambda value: None)
    runner.target_command = [str(tmp_path / "no-such-target")]
    with pytest.raises(LoadError, match=r"cannot start .*no-such-target"):
        runner.run(lambda value: None)


STUBBORN_TAP = textwrap.dedent(
    """
    import json, os, signal, sys
    marker = sys.argv[1]
    def last_words(signum, frame):
        # Like the SDK's taps: on SIGTERM write a last STATE, here larger than a pipe holds.
        try:
            sys.stdout.write(json.dumps({"type": "STATE", "value": {"pad": "x" * 1_000_000}}))
            sys.stdout.flush()
        except BrokenPipeError:
            open(marker, "w").write("broken pipe")
        os._exit(0)
    signal.signal(signal.SIGTERM, last_words)
    sys.stdout.write(json.dumps({"type": "SCHEMA", "stream": "a", "key_properties": ["id"],
                                 "schema": {"properties": {"id": {"type": "integer"}}}}) + "\\n")
    i = 0
    while True:
        i += 1
        sys.stdout.write(json.dumps({"type": "RECORD", "stream": "a", "record": {"id": i}}) + "\\n")
    """
)


def test_a_stopped_tap_writing_into_a_full_pipe_gets_a_broken_pipe_not_a_hang(
    tmp_path, monkeypatch
):
    monkeypatch.setattr("gruponos_meltano_native.runners.runner.SHUTDOWN_TIMEOUT_SECONDS", 10.0)
    runner = _runner(tmp_path, die_after=500)
    tap = tmp_path / "stubborn_tap.py"
    tap.write_text(STUBBORN_TAP)
    marker = tmp_path / "tap-saw-broken-pipe"
    runner.tap_command = [sys.executable, str(tap), str(marker)]
    with pytest.raises(LoadError, match="value too long at line 500"):
        runner.run(lambda value: None)
    # The tap ended by itself on the closed pipe, instead of being killed after the timeout.
    assert marker.read_text() == "broken pipe"


VERSIONED_TAP = textwrap.dedent(
    """
    import json, sys
    fail = sys.argv[1] == "fail"
    def emit(m): print(json.dumps(m), flush=True)
    for stream, props in (("a", ["id", "scope_company_code", "scope_facility_code"]),
                          ("b", ["id"])):
        emit({"type": "SCHEMA", "stream": stream, "key_properties": ["id"],
              "schema": {"properties": {p: {"type": "string"} for p in props}}})
        # As the Singer SDK does: ACTIVATE_VERSION before the stream's records.
        emit({"type": "ACTIVATE_VERSION", "stream": stream, "version": 7})
        for i in range(3):
            emit({"type": "RECORD", "stream": stream, "record": {"id": i}, "version": 7})
    emit({"type": "STATE", "value": {"done": True}})
    if fail:
        sys.exit(1)
    """
)

RECORDING_TARGET = textwrap.dedent(
    """
    import json, sys
    seen = [json.loads(line)["type"][0] + json.loads(line).get("stream", "") for line in sys.stdin]
    open(sys.argv[1], "w").write(" ".join(seen))
    """
)


@pytest.mark.parametrize(
    ("tap_mode", "required", "expected"),
    [
        # The tap succeeded: the version is activated after every record and the last STATE;
        # stream b has no scope columns, so its rows are left alone.
        ("ok", {"scope_company_code", "scope_facility_code"}, "Sa Ra Ra Ra Sb Rb Rb Rb S Aa"),
        # The tap failed: nothing is marked deleted.
        ("fail", {"scope_company_code", "scope_facility_code"}, "Sa Ra Ra Ra Sb Rb Rb Rb S"),
        # The run mirrors no deletions (incremental, DELETIONS=off).
        ("ok", None, "Sa Ra Ra Ra Sb Rb Rb Rb S"),
    ],
)
def test_activate_version_reaches_the_target_only_after_a_successful_extraction(
    tmp_path, tap_mode, required, expected
):
    from gruponos_meltano_native.runners.deletions import VersionGate

    (tmp_path / "tap.py").write_text(VERSIONED_TAP)
    (tmp_path / "target.py").write_text(RECORDING_TARGET)
    received = tmp_path / "received"
    runner = PipeRunner(
        [sys.executable, str(tmp_path / "tap.py"), tap_mode],
        [sys.executable, str(tmp_path / "target.py"), str(received)],
        tmp_path / "logs",
        Redactor([]),
        gate=VersionGate(required=required),
    )
    if tap_mode == "fail":
        with pytest.raises(ExtractError):
            runner.run(lambda value: None)
    else:
        result = runner.run(lambda value: None)
        if required:
            assert result.deletions == {
                "a": "activated",
                "b": "not mirrored: its records carry no scope_company_code, scope_facility_code",
            }
    assert received.read_text() == expected


ENDLESS_TAP = textwrap.dedent(
    """
    import json, sys
    def emit(m): sys.stdout.write(json.dumps(m) + "\\n")
    emit({"type": "SCHEMA", "stream": "a", "key_properties": ["id"],
          "schema": {"properties": {"id": {"type": "integer"}}}})
    for i in range(1, 1_000_001):
        emit({"type": "RECORD", "stream": "a", "record": {"id": i}})
        if i % 1000 == 0:
            emit({"type": "STATE", "value": {"bookmarks": {"a": {"n": i}}}})
    emit({"type": "ACTIVATE_VERSION", "stream": "a", "version": 1})
    """
)


def test_a_state_that_cannot_be_kept_stops_the_tap_and_fails_the_run(tmp_path):
    from gruponos_meltano_native.pipeline.db_lock import LockLost
    from gruponos_meltano_native.runners.deletions import VersionGate

    tap = tmp_path / "endless_tap.py"
    target = tmp_path / "target.py"
    tap.write_text(ENDLESS_TAP)
    target.write_text(FAKE_TARGET)
    runner = PipeRunner(
        [sys.executable, str(tap)],
        [sys.executable, str(target), "0"],
        tmp_path / "logs",
        Redactor([]),
        gate=VersionGate(required=set()),
    )

    def lost(value):
        raise LockLost("GNOS/DC01: this run lost its lock")

    with pytest.raises(LockLost) as caught:
        runner.run(lost)
    # The tap was stopped soon after the first state could not be kept: it never reached
    # its end (nor the ACTIVATE_VERSION there, so no deletion could be mirrored).
    assert caught.value.extracted["a"] < 1_000_000  # type: ignore[attr-defined]
