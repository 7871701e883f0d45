"""The Singer SDK's metric log lines, read the same way by both runners.

An SDK plugin logs `... METRIC: {"type": "counter", "metric": "record_count", "value": 120,
"tags": {"stream": "order_hdr", ...}}`; a counter's value is the increment since its previous
line, so the runners sum them. Meltano relays these lines with its own words around them
(plugin name before, `cmd_type=… consumer=True` after), hence a decoder that stops at the
end of the JSON object.
"""

from __future__ import annotations

import json
from typing import NamedTuple

MARKER = "METRIC: "
_JSON = json.JSONDecoder()


class RecordCount(NamedTuple):
    """One `record_count` increment for a stream."""

    stream: str
    value: int


def record_count(line: str) -> RecordCount | None:
    """Return the `record_count` increment a log line carries, or None for other lines."""
    start = line.find(MARKER)
    if start < 0:
        return None
    try:
        point, _ = _JSON.raw_decode(line, start + len(MARKER))
        if not isinstance(point, dict) or point.get("metric") != "record_count":
            return None
        stream = (point.get("tags") or {}).get("stream")
        return RecordCount(stream, int(point["value"])) if stream else None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # a garbled metric line is not worth failing a run over


def add_to(counts: dict[str, int], increment: RecordCount) -> None:
    """Sum an increment into per-stream counts."""
    counts[increment.stream] = counts.get(increment.stream, 0) + increment.value
