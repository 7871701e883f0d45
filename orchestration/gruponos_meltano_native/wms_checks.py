"""What the orchestration asks the WMS itself, through the tap's client (its rules, not ours)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from gruponos_meltano_native.errors import ExtractError, SettingsError
from gruponos_meltano_native.masking import Redactor

if TYPE_CHECKING:
    from tap_oracle_wms.client import WMSClient

    from gruponos_meltano_native.runner import StreamInfo

FACILITY_ENTITY = "facility"


def check_facility(tap_config: dict[str, Any], facility: str, redact: Redactor) -> None:
    """Fail before extraction when the WMS has no such facility in the run's company.

    Otherwise a mistyped facility or company code extracts nothing, passes every check on
    empty figures and leaves the operator believing the facility was synced. The facility
    entity is asked with the tap's own scope for it (its code, within the company).
    """
    from tap_oracle_wms.client import WMSClient
    from tap_oracle_wms.errors import WMSError
    from tap_oracle_wms.scope import resolve_scope

    client = WMSClient(tap_config)
    url = client.entity_url(FACILITY_ENTITY)
    try:
        scoped = resolve_scope(tap_config, FACILITY_ENTITY, ()).params
        # The WMS answers 404 to a filter that matches nothing.
        body = client.get(url, {**scoped, "page_mode": "paged", "page_size": 1}, not_found_ok=True)
    except (WMSError, OSError) as exc:
        raise ExtractError(f"cannot check facility {facility!r}: {redact(str(exc))}") from None
    if isinstance(body, dict) and body.get("result_count"):
        return
    company = tap_config.get("company_code")
    known = _facility_codes(client, url, {**tap_config, "facility_code": None})
    owner = f"company {company!r}" if company else "the WMS"
    has = f"{owner} has: {known}" if known else f"{owner} has no facility: check the codes"
    raise SettingsError(
        f"unknown facility {facility!r}: the WMS's facility entity ({url}) has no such code "
        f"({has}); nothing was extracted"
    )


def _facility_codes(client: WMSClient, url: str, config: dict[str, Any], most: int = 20) -> str:
    """Return the facility codes the WMS lists in `config`'s scope, for a message ("" if none)."""
    from tap_oracle_wms.errors import WMSError
    from tap_oracle_wms.scope import resolve_scope

    try:
        scoped = resolve_scope(config, FACILITY_ENTITY, ()).params
        params = {**scoped, "fields": "code", "page_mode": "paged", "page_size": most}
        body = client.get(url, params, not_found_ok=True)
    except (WMSError, OSError):
        return ""  # the message stands without the list
    rows = body.get("results") if isinstance(body, dict) else None
    codes = sorted(str(r["code"]) for r in rows or [] if isinstance(r, dict) and r.get("code"))
    more = ", …" if isinstance(body, dict) and (body.get("result_count") or 0) > most else ""
    return ", ".join(codes) + more if codes else ""


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
