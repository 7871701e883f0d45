"""Prometheus metrics: the textfile format, and pushes read back from a real Pushgateway."""

from __future__ import annotations

import http.server
import re
import socket
import threading
import time

import pytest
from gruponos_meltano_native.observe.metrics import RunSample, grouping_path, publish, shown_url
from gruponos_testing.browser_and_pushgateway import (
    pushgateway_for_tests,
    pushgateway_groups,
)


@pytest.fixture(scope="module")
def gateway():
    with pushgateway_for_tests() as url:
        yield url


def _sample(status: str = "succeeded", ended: float = 1_795_700_000.0, **extra) -> RunSample:
    values = {
        "job": "full-sync-job",
        "company": "GNOS",
        "facility": "DC01",
        "status": status,
        "ended_at": ended,
        "duration_seconds": 42.5,
        "quality_score": 100.0,
        "extracted": {"order_hdr": 811, "allocation": 2441},
        "loaded": {"order_hdr": 811, "allocation": 2441},
        "marked_deleted": {"order_hdr": 3, "allocation": 0},
        **extra,
    }
    return RunSample(**values)


def _values(text: str) -> dict[str, float]:
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found


def test_textfile_keeps_every_scope_and_the_last_success_across_a_failure(tmp_path):
    path = tmp_path / "gruponos.prom"
    state = tmp_path / "state"
    assert publish(state, _sample(), path, None, 5) == []
    other = _sample(facility="DC02", ended=1_795_700_100.0)
    assert publish(state, other, path, None, 5) == []
    failed = _sample(status="failed", ended=1_795_700_500.0, failure_kind="load", extracted={})
    assert publish(state, failed, path, None, 5) == []

    text = path.read_text()
    assert "# TYPE gruponos_meltano_failures_total counter" in text
    values = _values(text)
    dc01 = 'job="full-sync-job",company="GNOS",facility="DC01"'
    assert values[f"gruponos_meltano_last_run_timestamp_seconds{{{dc01}}}"] == 1_795_700_500.0
    assert values[f"gruponos_meltano_last_success_timestamp_seconds{{{dc01}}}"] == 1_795_700_000.0
    assert values[f'gruponos_meltano_last_run_status{{{dc01},status="failed"}}'] == 1
    assert values[f'gruponos_meltano_last_run_status{{{dc01},status="succeeded"}}'] == 0
    assert values[f'gruponos_meltano_failures_total{{{dc01},kind="load"}}'] == 1
    assert values[f'gruponos_meltano_runs_total{{{dc01},status="succeeded"}}'] == 1
    assert values[f'gruponos_meltano_rows_marked_deleted{{{dc01},entity="order_hdr"}}'] == 3
    # The failed run extracted nothing it could report: no stale extracted figure is kept.
    assert f'gruponos_meltano_records_extracted{{{dc01},entity="order_hdr"}}' not in values
    dc02 = 'job="full-sync-job",company="GNOS",facility="DC02"'
    assert values[f'gruponos_meltano_records_loaded{{{dc02},entity="allocation"}}'] == 2441
    assert not list(tmp_path.glob(".gruponos.prom.*"))  # no temp file left behind


def test_push_is_read_back_from_a_real_pushgateway(gateway, tmp_path):
    state = tmp_path / "state"
    assert publish(state, _sample(), None, gateway, 5) == []
    weird = _sample(job="incremental-sync-job", facility='DC/01 "north"', ended=1_795_700_200.0)
    assert publish(state, weird, None, gateway, 5) == []

    groups = {(g["labels"]["job"], g["labels"]["facility"]): g for g in pushgateway_groups(gateway)}
    group = groups[("full-sync-job", "DC01")]
    assert group["labels"]["company"] == "GNOS"
    loaded = group["gruponos_meltano_records_loaded"]
    assert loaded["type"] == "GAUGE"
    by_entity = {m["labels"]["entity"]: float(m["value"]) for m in loaded["metrics"]}
    assert by_entity == {"order_hdr": 811.0, "allocation": 2441.0}
    for metric in loaded["metrics"]:  # the grouping key labels every metric of the group
        assert (metric["labels"]["job"], metric["labels"]["facility"]) == ("full-sync-job", "DC01")
    success = group["gruponos_meltano_last_success_timestamp_seconds"]["metrics"][0]
    assert float(success["value"]) == 1_795_700_000.0
    score = group["gruponos_meltano_reconciliation_quality_score"]["metrics"][0]
    assert float(score["value"]) == 100.0
    assert ("incremental-sync-job", 'DC/01 "north"') in groups


def test_unreachable_gateway_and_unwritable_path_are_warnings(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    warnings = publish(
        tmp_path / "state",
        _sample(),
        blocker / "gruponos.prom",
        f"http://metrics:s3cr3t@127.0.0.1:{port}",
        2,
    )
    assert len(warnings) == 2
    assert re.match(
        rf"metrics textfile {re.escape(str(blocker))}/gruponos.prom not written", warnings[0]
    )
    assert warnings[1] == (
        f"metrics not pushed to Pushgateway http://127.0.0.1:{port}: cannot connect"
    )
    assert "s3cr3t" not in " ".join(warnings)


def test_grouping_path_and_shown_url():
    assert grouping_path({"job": "full-sync-job", "company": "GNOS", "facility": "DC01"}) == (
        "/metrics/job/full-sync-job/company/GNOS/facility/DC01"
    )
    assert grouping_path({"job": "j", "company": "", "facility": "a/b"}) == (
        "/metrics/job/j/company@base64/=/facility@base64/YS9i"
    )
    assert shown_url("https://u:p@push.example:9091/base") == "https://push.example:9091/base"


def test_readme_documents_every_metric_and_history_column():
    from pathlib import Path

    from gruponos_meltano_native.observe.history import COLUMN_NAMES
    from gruponos_meltano_native.observe.metrics import METRICS, PREFIX

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for name, *_ in METRICS:
        assert f"| `{PREFIX}{name}` |" in readme, name
    for column in COLUMN_NAMES:
        assert f"`{column}`" in readme.split("### The run-history table")[1], column


class _Gateway(http.server.BaseHTTPRequestHandler):
    """A Pushgateway stand-in that refuses pushes (400) or answers too late."""

    def do_PUT(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        if "slow" in self.path:
            time.sleep(1.5)
        self.send_response(400)
        self.end_headers()
        self.wfile.write(b"pushed metrics are invalid or inconsistent\n")

    def log_message(self, *args):
        pass


@pytest.fixture
def refusing_gateway():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_refused_or_unanswered_push_is_a_warning_naming_why(refusing_gateway, tmp_path):
    refused = publish(tmp_path / "state", _sample(), None, refusing_gateway, 5)
    assert refused == [
        f"metrics not pushed to Pushgateway {refusing_gateway}: "
        "HTTP 400: pushed metrics are invalid or inconsistent"
    ]
    slow = publish(tmp_path / "state", _sample(), None, refusing_gateway + "/slow", 0.5)
    assert slow == [
        f"metrics not pushed to Pushgateway {refusing_gateway}/slow: no answer within 0.5s"
    ]


def test_an_unwritable_state_folder_is_a_warning_and_nothing_is_sent(refusing_gateway, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    warnings = publish(blocker / "state", _sample(), tmp_path / "m.prom", refusing_gateway, 5)
    assert len(warnings) == 1
    assert warnings[0].startswith("metrics not updated: cannot write the metrics snapshot: ")
    assert not (tmp_path / "m.prom").exists()
