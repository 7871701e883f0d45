"""When a full sync may mirror the WMS's deletions: the gate on ACTIVATE_VERSION.

A tap with `emit_activate_version_messages` sends, for each FULL_TABLE stream, an
ACTIVATE_VERSION and records stamped with that version; the target then marks (or removes)
the rows of the run's scope whose version is older: rows the WMS no longer has. The Singer
SDK sends ACTIVATE_VERSION *before* a stream's records, so a target applying it as it comes
would mark every row of the scope at once and rely on the records to clear them again; a run
cut short would leave the rest marked. The standalone runner sits in the pipe, so it holds
these messages back and forwards them only after the tap has ended with success, after the
last record. A run that fails or is stopped therefore marks nothing.

A stream whose SCHEMA lacks the scope properties (a tap without scope columns) keeps its
rows as they are: without them the target could not confine the deletion to this scope.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Collection
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

ACTIVATED = "activated"


@dataclass
class VersionGate:
    """Holds a run's ACTIVATE_VERSION messages until the extraction has succeeded.

    `required` is None when the run mirrors no deletions (incremental runs, `DELETIONS=off`):
    every ACTIVATE_VERSION is then dropped.
    """

    required: Collection[str] | None
    held: dict[str, bytes] = field(default_factory=dict)

    def hold(self, stream: str, line: bytes) -> None:
        """Keep a stream's ACTIVATE_VERSION (the last one counts)."""
        if self.required is not None:
            self.held[stream] = line

    def release(self, declared: dict[str, Collection[str]]) -> tuple[list[bytes], dict[str, str]]:
        """Return the lines to forward now and, per stream, `activated` or why not.

        `declared` maps each stream to the properties its SCHEMA declared.
        """
        lines: list[bytes] = []
        outcome: dict[str, str] = {}
        for stream, line in self.held.items():
            missing = sorted(set(self.required or ()) - set(declared.get(stream, ())))
            if missing:
                outcome[stream] = f"not mirrored: its records carry no {', '.join(missing)}"
                log.warning("deletions of %s %s", stream, outcome[stream])
                continue
            lines.append(line)
            outcome[stream] = ACTIVATED
        return lines, outcome


@functools.cache
def target_confines_versions() -> bool:
    """Whether the installed target can confine ACTIVATE_VERSION to a scope.

    A target without `activate_version_scope` would mark or delete every facility's older
    rows in a shared table: deletions are then not mirrored at all.
    """
    from target_gruponos_oracle.target import TargetGruponosOracle

    return "activate_version_scope" in TargetGruponosOracle.config_jsonschema["properties"]
