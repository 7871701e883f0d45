"""Values holding NUL characters, counted per stream and field as they pass the pipe.

PostgreSQL text cannot hold a NUL character (U+0000): the target drops it from the value it
stores. Nothing is refused, so without this count the run and its reconciliation would say
every value arrived as sent. JSON has to escape a NUL (backslash, u0000), so a line without
that escape holds none: only the rare lines with one are decoded.
"""

from __future__ import annotations

import json
from typing import Any

NUL_ESCAPE = b"\\u0000"
# Databases whose text drops NUL characters (the target's postgres dialect).
DROPS_NUL = frozenset({"postgresql"})


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def count_nul_values(line: bytes, stream: str, counts: dict[str, dict[str, int]]) -> None:
    """Add the fields of a RECORD line whose value holds a NUL to `counts[stream][field]`."""
    if NUL_ESCAPE not in line:
        return
    record = json.loads(line).get("record")
    if not isinstance(record, dict):
        return
    for name, value in record.items():
        if _holds_nul(value) or "\x00" in name:
            fields = counts.setdefault(stream, {})
            fields[name] = fields.get(name, 0) + 1


def describe(fields: dict[str, int]) -> str:
    """`cust_field_1: 3 values, note: 1 value` for one stream's counts."""
    return ", ".join(
        f"{name}: {count:,} value{'s' if count != 1 else ''}"
        for name, count in sorted(fields.items())
    )


def nul_warning(dialect: str, counts: dict[str, dict[str, int]]) -> str | None:
    """Return the run's warning when its database dropped NUL characters (None: none did)."""
    if dialect not in DROPS_NUL or not counts:
        return None
    streams = "; ".join(
        f"{stream} ({describe(fields)})" for stream, fields in sorted(counts.items())
    )
    return (
        f"NUL characters dropped from values stored in {dialect} (its text cannot hold "
        f"them; the rest of each value is stored): {streams}"
    )
