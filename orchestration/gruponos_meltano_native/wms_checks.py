"""What the orchestration asks the WMS itself, through the tap's client (its rules, not ours)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gruponos_meltano_native.errors import ExtractError, SettingsError
from gruponos_meltano_native.masking import Redactor

FACILITY_ENTITY = "facility"


def check_facility(tap_config: dict[str, Any], facility: str, redact: Redactor) -> None:
    """Fail before extraction when the WMS's facility entity has no such code.

    Otherwise a mistyped code extracts nothing, passes every check on empty figures and
    leaves the operator believing the facility was synced.
    """
    from tap_oracle_wms.client import WMSClient
    from tap_oracle_wms.errors import WMSError

    client = WMSClient(tap_config)
    url = client.entity_url(FACILITY_ENTITY)
    try:
        # The WMS answers 404 to a filter that matches nothing.
        body = client.get(
            url, {"code": facility, "page_mode": "paged", "page_size": 1}, not_found_ok=True
        )
    except (WMSError, OSError) as exc:
        raise ExtractError(f"cannot check facility {facility!r}: {redact(str(exc))}") from None
    if not isinstance(body, dict) or not body.get("result_count"):
        raise SettingsError(
            f"unknown facility {facility!r}: the WMS's facility entity ({url}) has no such "
            "code; nothing was extracted"
        )


def wms_counter(tap_config: dict[str, Any]) -> Callable[[str], int]:
    """Return a function counting an entity's records in the WMS, scoped as extraction is."""
    from tap_oracle_wms.client import WMSClient

    return WMSClient(tap_config).count
