"""One asset per WMS entity, one partition per company/facility, reconciliation as checks.

Each materialization of a partition is one run of the platform through its Python API: the
platform takes the company/facility lock, keeps the Singer state and sends its own alerts.
"""

# No `from __future__ import annotations`: Dagster reads the config annotation at runtime.

import asyncio
import enum
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    Config,
    MaterializeResult,
    multi_asset,
)
from gruponos_meltano_native.api import create_gruponos_meltano_platform
from gruponos_meltano_native.config import GruponosMeltanoSettings

from gruponos_dagster.failures import raise_for_failure
from gruponos_dagster.partitions import FACILITY_PARTITIONS, split_key
from gruponos_dagster.settings import DagsterSettings

ASSET_PREFIX = "wms"
SYNC_OP = "wms_sync"
RECONCILIATION_CHECK = "reconciliation"
WMS_POOL = "wms_api"  # bounds the syncs reading the WMS at once (a limit set in the instance)


class SyncMode(enum.Enum):
    """The platform's jobs."""

    full = "full"
    incremental = "incremental"


class SyncConfig(Config):
    """Run config of the sync: `full` or `incremental`."""

    mode: SyncMode = SyncMode.incremental


def entity_key(entity: str) -> AssetKey:
    """Return the asset key of a WMS entity."""
    return AssetKey([ASSET_PREFIX, entity])


def build_sync_assets(
    entities: Sequence[str], settings: GruponosMeltanoSettings, dagster_settings: DagsterSettings
) -> AssetsDefinition:
    """Build the multi-asset syncing `entities`, partitioned by company/facility."""
    specs = [
        AssetSpec(
            entity_key(entity),
            description=f"The WMS entity `{entity}`, mirrored in the target database.",
            group_name=ASSET_PREFIX,
            kinds={"python"},
        )
        for entity in entities
    ]
    checks = (
        [
            AssetCheckSpec(
                RECONCILIATION_CHECK,
                asset=entity_key(entity),
                description="The platform's reconciliation: extracted = loaded, WMS count = "
                "database rows (full syncs), keys unique and not null.",
                blocking=settings.validation.fail_run_on_check_failure,
            )
            for entity in entities
        ]
        if settings.validation.enabled
        else []
    )

    @multi_asset(
        name=SYNC_OP,
        specs=specs,
        check_specs=checks,
        partitions_def=FACILITY_PARTITIONS,
        can_subset=True,
        pool=WMS_POOL,
    )
    def wms_sync(context: AssetExecutionContext, config: SyncConfig) -> Iterator[Any]:
        company, facility = split_key(context.partition_key)
        selected = sorted(key.path[-1] for key in context.selected_asset_keys)
        subset = selected if len(selected) < len(entities) else None
        platform = create_gruponos_meltano_platform(settings)
        run = (
            platform.execute_full_sync
            if config.mode is SyncMode.full
            else platform.execute_incremental_sync
        )
        result = asyncio.run(run(company, facility, entities=subset))
        data = result.data
        if not result.success:
            context.log.warning(f"{config.mode.value} sync {company}/{facility}: {result.error}")
        raise_for_failure(data, context.retry_number, dagster_settings)
        validation = data.get("validation") or {}
        for entity in selected:
            yield MaterializeResult(
                asset_key=entity_key(entity), metadata=_metadata(data, validation, entity)
            )
        for check_key in context.selected_asset_check_keys:
            yield _check_result(check_key.asset_key, validation)

    return wms_sync


def _metadata(
    data: Mapping[str, Any], validation: Mapping[str, Any], entity: str
) -> dict[str, Any]:
    figures = (validation.get("entities") or {}).get(entity) or {}
    counts = (data.get("entities") or {}).get(entity) or {}
    shown = {
        "extracted": counts.get("extracted", 0),
        "loaded": counts.get("loaded"),
        "marked_deleted": figures.get("marked_deleted"),
        "wms_count": figures.get("wms_count"),
        "quality_score": validation.get("quality_score"),
        "records_per_second": data.get("records_per_second"),
        "mode": data.get("mode"),
        "run_id": data.get("run_id"),
    }
    # Dagster's metadata has no null: a figure not measured (e.g. WMS count on incremental)
    # is left out rather than shown as 0.
    return {name: value for name, value in shown.items() if value is not None}


def _check_result(asset_key: AssetKey, validation: Mapping[str, Any]) -> AssetCheckResult:
    entity = asset_key.path[-1]
    checks = [c for c in validation.get("checks") or [] if c["entity"] == entity]
    failed = [c for c in checks if not c["passed"] and c["severity"] == "error"]
    return AssetCheckResult(
        asset_key=asset_key,
        check_name=RECONCILIATION_CHECK,
        passed=not failed,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            c["name"]: f"{'passed' if c['passed'] else 'FAILED'}: {c['detail']}" for c in checks
        },
    )
