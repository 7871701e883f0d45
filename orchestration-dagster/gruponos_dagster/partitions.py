"""Partitions: one per company and facility, keyed `COMPANY/FACILITY`.

Dynamic, so that the facility sensor can add the facilities the WMS gains; the configured
ones (`GRUPONOS_MELTANO_FACILITIES`, under `ORACLE_WMS__COMPANY_CODE`, or `COMPANY/FACILITY`
entries for other companies) are added by `register_configured`.
"""

from __future__ import annotations

from dagster import DagsterInstance, DynamicPartitionsDefinition
from gruponos_meltano_native.config import ENV_PREFIX, GruponosMeltanoSettings
from gruponos_meltano_native.errors import SettingsError

FACILITY_PARTITIONS = DynamicPartitionsDefinition(name="company_facility")
SEPARATOR = "/"


def partition_key(company: str, facility: str) -> str:
    """Return the partition key of a company and facility."""
    return f"{company}{SEPARATOR}{facility}"


def split_key(key: str) -> tuple[str, str]:
    """Return (company, facility) of a partition key."""
    company, separator, facility = key.partition(SEPARATOR)
    if not (separator and company and facility):
        raise SettingsError(f"partition {key!r} is not COMPANY{SEPARATOR}FACILITY")
    return company, facility


def configured_keys(settings: GruponosMeltanoSettings) -> list[str]:
    """Return the partition keys of the configured facilities."""
    keys = []
    for entry in settings.facilities:
        if SEPARATOR in entry:
            split_key(entry)  # a malformed entry is a settings error, named
            keys.append(entry)
        elif settings.oracle_wms.company_code:
            keys.append(partition_key(settings.oracle_wms.company_code, entry))
        else:
            raise SettingsError(
                f"{ENV_PREFIX}FACILITIES entry {entry!r} has no company: set "
                f"{ENV_PREFIX}ORACLE_WMS__COMPANY_CODE or write it COMPANY{SEPARATOR}{entry}"
            )
    return keys


def register_configured(instance: DagsterInstance, settings: GruponosMeltanoSettings) -> list[str]:
    """Add the configured facilities missing from the instance; return the keys added."""
    known = set(instance.get_dynamic_partitions(FACILITY_PARTITIONS.name or ""))
    missing = [key for key in configured_keys(settings) if key not in known]
    if missing:
        instance.add_dynamic_partitions(FACILITY_PARTITIONS.name or "", missing)
    return missing
