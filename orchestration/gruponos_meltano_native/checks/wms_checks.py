"""What the orchestration asks the WMS itself, through the tap's client (its rules, not ours)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from gruponos_meltano_native.errors import ExtractError, SettingsError
from gruponos_meltano_native.masking import Redactor

if TYPE_CHECKING:
    from gruponos_meltano_native.runners.runner import StreamInfo


def check_facility(tap_config: dict[str, Any], facility: str, redact: Redactor) -> None:
    """Fail before extraction when the WMS has no such company, or facility in the company.

    Otherwise a mistyped facility or company code extracts nothing, passes every check on
    empty figures and leaves the operator believing the facility was synced. The tap's own
    check (its client's), so the rule and its message live in one place.
    """
    from tap_oracle_wms.client import WMSClient
    from tap_oracle_wms.errors import WMSConfigError, WMSError

    try:
        WMSClient(tap_config).check_scope_codes()
    except WMSConfigError as exc:
        raise SettingsError(redact(str(exc))) from None
    except (WMSError, OSError) as exc:
        raise ExtractError(f"cannot check facility {facility!r}: {redact(str(exc))}") from None


def wms_counter(
    tap_config: dict[str, Any], streams: Mapping[str, StreamInfo]
) -> Callable[[str], int]:
    """Return a function counting an entity's records in the WMS, scoped as extraction is.

    Each count is one one-row request with the run's scope, built from the properties of
    the run's SCHEMA (`streams`): no discovery (a describe and a sample page) again.
    """
    from tap_oracle_wms.client import WMSClient
    from tap_oracle_wms.discovery import resolve_schema

    client = WMSClient(tap_config)

    def count(entity: str) -> int:
        info = streams.get(entity)
        if info and info.properties:
            return client.count(entity, info.properties)
        # A stream the run declared no SCHEMA for (it failed first): discovery tells.
        return client.count(entity, resolve_schema(client, entity).get("properties", {}))

    return count
