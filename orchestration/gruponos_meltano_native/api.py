"""The Python API the GrupoNOS documentation promises, as a thin layer over the orchestrator.

platform = create_gruponos_meltano_platform()
result = await platform.execute_full_sync("GNOS", "DC01")
if result.success:
    print(f"ETL completed: {result.data.records_processed} records")  # or data["…"]
else:
    print(f"ETL failed: {result.error}")
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gruponos_meltano_native.config import GruponosMeltanoSettings, load_settings
from gruponos_meltano_native.database import OracleConnectionManager
from gruponos_meltano_native.errors import SettingsError
from gruponos_meltano_native.jobs import RunScope
from gruponos_meltano_native.pipeline.facilities import exit_code_of, render_summary, run_facilities
from gruponos_meltano_native.pipeline.orchestrator import Orchestrator
from gruponos_meltano_native.pipeline.run_report import RunReport
from gruponos_meltano_native.runners.runner import ProgressCallback

_T = TypeVar("_T")


class ResultData(dict[str, Any]):
    """A result's figures: a dict whose keys also read as attributes.

    `data["records_processed"]` and `data.records_processed` (as the GrupoNOS documentation
    writes it) are the same; nested dicts read both ways too (`data.validation.passed`).
    """

    def __getattr__(self, name: str) -> Any:
        """Return the value of key `name` (nested dicts read the same way)."""
        try:
            value = self[name]
        except KeyError:
            raise AttributeError(f"result data has no {name!r}") from None
        return ResultData(value) if isinstance(value, dict) else value

    def __getitem__(self, key: str) -> Any:
        """Return the value of `key`, nested dicts as `ResultData`."""
        value = super().__getitem__(key)
        return ResultData(value) if isinstance(value, dict) else value


@dataclass
class SyncResult:
    """Outcome of a sync: `success`, `error` (None on success) and `data` (figures, report)."""

    success: bool
    error: str | None = None
    data: ResultData = field(default_factory=ResultData)
    report: RunReport | None = None

    @classmethod
    def from_report(cls, report: RunReport) -> SyncResult:
        """Wrap an orchestrator report."""
        data = ResultData(report.to_dict())
        return cls(success=report.success, error=report.error, data=data, report=report)


@dataclass
class FacilitiesResult:
    """Outcome of one job over several facilities: one `SyncResult` per facility code."""

    results: dict[str, SyncResult]
    exit_code: int
    summary: str

    @property
    def success(self) -> bool:
        """True when every facility's run succeeded."""
        return all(result.success for result in self.results.values())


class GruponosMeltanoPlatform:
    """Runs full and incremental syncs per company and facility."""

    def __init__(self, settings: GruponosMeltanoSettings) -> None:
        """Use `settings` (see `create_gruponos_meltano_platform`)."""
        self.settings = settings
        self.orchestrator = Orchestrator(settings)

    async def execute_full_sync(
        self,
        company_code: str,
        facility_code: str,
        entities: list[str] | None = None,
        progress: ProgressCallback | None = None,
        wait_seconds: float = 0,
    ) -> SyncResult:
        """Extract every record, mirror deletions, check the database against the WMS's counts.

        Another run holding the company/facility: wait up to `wait_seconds`, then skip.
        """
        scope = RunScope.of("full", company_code, facility_code, entities)
        return await self._run(scope, progress, wait_seconds)

    async def execute_incremental_sync(
        self,
        company_code: str,
        facility_code: str,
        entities: list[str] | None = None,
        progress: ProgressCallback | None = None,
        wait_seconds: float = 0,
    ) -> SyncResult:
        """Extract what changed since the last committed state (`wait_seconds`: as above)."""
        scope = RunScope.of("incremental", company_code, facility_code, entities)
        return await self._run(scope, progress, wait_seconds)

    async def execute_facilities(
        self,
        mode: str,
        company_code: str,
        facility_codes: list[str] | None = None,
        *,
        entities: list[str] | None = None,
        parallel: int = 1,
        wait_seconds: float = 0,
    ) -> FacilitiesResult:
        """Run `full` or `incremental` for several facilities (default: the configured ones).

        Each facility runs with its own lock, state, report and alert, `parallel` at a time;
        `exit_code` is the worst of them, `summary` the table the CLI prints.
        """
        codes = list(facility_codes or self.settings.facilities)
        if not codes:
            raise SettingsError(
                "no facilities given and GRUPONOS_MELTANO_FACILITIES is not set (e.g. DC01,DC02)"
            )
        scopes = [RunScope.of(mode, company_code, code, entities) for code in codes]
        reports = await self._in_thread(
            run_facilities, self.orchestrator, scopes, parallel, wait_seconds
        )
        return FacilitiesResult(
            results={r.facility: SyncResult.from_report(r) for r in reports},
            exit_code=exit_code_of(reports),
            summary=render_summary(reports),
        )

    async def _run(
        self, scope: RunScope, progress: ProgressCallback | None, wait_seconds: float
    ) -> SyncResult:
        self.orchestrator.cancel.clear()
        report = await self._in_thread(self.orchestrator.run, scope, progress, wait_seconds)
        return SyncResult.from_report(report)

    async def _in_thread(self, func: Callable[..., _T], *args: Any) -> _T:
        """Run `func` in a thread; when the caller is cancelled, stop the runs, then re-raise.

        A run is process and I/O bound: a thread keeps the caller's event loop free. A
        cancelled await (Ctrl-C under `asyncio.run`, a timeout) must not leave the run going
        on unseen, nor be waited for until it ends: the runs in flight are stopped as a Ctrl-C
        stops them (the target commits what it has, the run is recorded once, interrupted),
        and the cancellation goes on once they have.
        """
        future = asyncio.get_running_loop().run_in_executor(None, functools.partial(func, *args))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            self.orchestrator.cancel.set()
            await asyncio.wait([future])
            raise


def create_gruponos_meltano_platform(
    settings: GruponosMeltanoSettings | None = None,
) -> GruponosMeltanoPlatform:
    """Create a platform using `settings`, or the `GRUPONOS_MELTANO_*` environment and `.env`."""
    return GruponosMeltanoPlatform(settings or load_settings())


def create_gruponos_meltano_oracle_manager(
    settings: GruponosMeltanoSettings | None = None,
) -> OracleConnectionManager:
    """Pooled, health-checked, retried connections to the target database."""
    return OracleConnectionManager(settings or load_settings())
