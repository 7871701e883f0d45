"""What a failed sync becomes in Dagster: a retry later, a retry with backoff, or a failure.

The platform reports the kind of failure (its exit-code table, `result.data["failure_kind"]`):
- `skipped` (exit 9): another run holds the company/facility. Retry later: that run does the
  work now, ours finds its state afterwards.
- `connectivity` (4), `extract` (5): the WMS or the database could not be reached, or the tap
  stopped after its own retries. Retry with exponential backoff.
- everything else (settings 3, usage 2, load 6, state 8, internal 1, interrupted 130): no
  retry; a retry would fail the same way or needs an operator.
- `reconciliation` (7): not raised here; the asset checks carry it (failed, blocking).

Alerts stay the platform's: it alerts once per kind and scope within its cooldown, however
often Dagster retries; Dagster adds none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import Failure, RetryRequested

from gruponos_dagster.settings import DagsterSettings

BUSY = "skipped"
UNAVAILABLE = frozenset({"connectivity", "extract"})
CHECKED = "reconciliation"


def raise_for_failure(
    data: Mapping[str, Any], retry_number: int, settings: DagsterSettings
) -> None:
    """Raise what Dagster should do about a failed sync (`data`: the API's `result.data`)."""
    kind = data.get("failure_kind")
    if data.get("success") or kind == CHECKED:
        return
    if kind == BUSY:
        raise RetryRequested(
            max_retries=settings.busy_retries, seconds_to_wait=settings.busy_retry_seconds
        )
    if kind in UNAVAILABLE:
        raise RetryRequested(
            max_retries=settings.unavailable_retries,
            seconds_to_wait=settings.unavailable_backoff_seconds * 2**retry_number,
        )
    raise Failure(
        description=f"{data.get('job')} {data.get('company')}/{data.get('facility')} "
        f"failed ({kind}): {data.get('error')}",
        metadata={"failure_kind": str(kind), "run_id": str(data.get("run_id"))},
        allow_retries=False,
    )
