"""The SDK metric lines, as a plugin writes them and as Meltano relays them."""

from __future__ import annotations

from gruponos_meltano_native.runners.metric_lines import RecordCount, record_count

POINT = '{"type": "counter", "metric": "record_count", "value": 120, "tags": {"stream": "a"}}'


def test_plugin_and_meltano_shapes_give_the_same_count():
    plugin = f"2026-11-26 INFO singer_sdk.metrics METRIC: {POINT}"
    relayed = f"tap-oracle-wms--full | INFO METRIC: {POINT} cmd_type=elb consumer=False"
    assert record_count(plugin) == record_count(relayed) == RecordCount("a", 120)


def test_other_metrics_and_garbled_lines_are_ignored():
    assert record_count('METRIC: {"metric": "http_request_duration", "value": 1.5}') is None
    assert record_count("METRIC: {not json") is None
    assert record_count('METRIC: {"metric": "record_count", "value": 3, "tags": {}}') is None
    assert record_count("no metric here") is None
