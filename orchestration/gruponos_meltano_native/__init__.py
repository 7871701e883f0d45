"""GrupoNOS platform: orchestration of the WMS to Oracle pipeline."""

from gruponos_meltano_native.api import (
    FacilitiesResult,
    GruponosMeltanoPlatform,
    SyncResult,
    create_gruponos_meltano_oracle_manager,
    create_gruponos_meltano_platform,
)
from gruponos_meltano_native.config import GruponosMeltanoSettings, load_settings

__all__ = [
    "FacilitiesResult",
    "GruponosMeltanoPlatform",
    "GruponosMeltanoSettings",
    "SyncResult",
    "create_gruponos_meltano_oracle_manager",
    "create_gruponos_meltano_platform",
    "load_settings",
]
