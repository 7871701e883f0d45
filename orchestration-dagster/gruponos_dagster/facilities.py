"""The facilities the WMS lists, read from its `facility` entity through the tap's client."""

from __future__ import annotations

from typing import Any

from gruponos_meltano_native.config import ENV_PREFIX, GruponosMeltanoSettings
from gruponos_meltano_native.errors import ConnectivityError, SettingsError
from gruponos_meltano_native.masking import Redactor

FACILITY_ENTITY = "facility"  # the WMS entity that lists facilities (their `code`)
PAGE_SIZE = 1250  # the WMS's largest page


def wms_facilities(settings: GruponosMeltanoSettings) -> list[str]:
    """Return the codes of every facility the WMS lists under `ORACLE_WMS__COMPANY_CODE`.

    Scoped as the platform's facility check scopes it (the tap's rules for the entity).
    """
    from tap_oracle_wms.client import WMSClient
    from tap_oracle_wms.errors import WMSError
    from tap_oracle_wms.scope import resolve_scope

    config = {**settings.tap_config(), "facility_code": None}
    if not config.get("company_code"):
        raise SettingsError(
            f"{ENV_PREFIX}ORACLE_WMS__COMPANY_CODE is required to list the WMS's facilities"
        )
    client = WMSClient(config)
    params: dict[str, Any] | None = {
        **resolve_scope(config, FACILITY_ENTITY, ()).params,
        "fields": "code",
        "page_mode": "paged",
        "page_size": PAGE_SIZE,
    }
    url: str | None = client.entity_url(FACILITY_ENTITY)
    found: set[str] = set()
    try:
        while url:
            body = client.get(url, params, not_found_ok=True)
            if not isinstance(body, dict):
                break
            found.update(str(row["code"]) for row in body.get("results") or [] if row.get("code"))
            url, params = body.get("next_page"), None
    except (WMSError, OSError) as exc:
        redact = Redactor(settings.secret_values())
        raise ConnectivityError(f"cannot list the WMS's facilities: {redact(str(exc))}") from None
    return sorted(found)
