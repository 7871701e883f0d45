"""The GrupoNOS platform on Dagster: definitions in `gruponos_dagster.defs`.

One partition per company and facility, one asset per WMS entity, reconciliation as asset
checks, schedules for incremental and full syncs. Every partition is materialized through
the platform's Python API (`gruponos_meltano_native.api`), which keeps its own lock, state and
alerts.
"""
