"""One sync job from start to report: state in, pipe, state out, reconciliation, alerts."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from target_gruponos_oracle import database_rules

from gruponos_meltano_native.checks.reconciliation import Reconciler
from gruponos_meltano_native.checks.wms_checks import check_facility, wms_counter
from gruponos_meltano_native.config import GruponosMeltanoSettings
from gruponos_meltano_native.database import create_db_engine, database_url, dialect_of
from gruponos_meltano_native.errors import (
    InterruptedRun,
    PlatformError,
    ReconciliationError,
    ScopeBusy,
)
from gruponos_meltano_native.jobs import JOBS, RunScope
from gruponos_meltano_native.masking import MASK, Redactor, mask_url, redact_logs
from gruponos_meltano_native.observe.alert_memory import alert_memory
from gruponos_meltano_native.observe.alerts import (
    CHECK_FAILED,
    FAILURE,
    RECOVERY,
    Alert,
    AlertManager,
)
from gruponos_meltano_native.observe.recorder import recorded
from gruponos_meltano_native.pipeline.catalog import full_table_catalog
from gruponos_meltano_native.pipeline.db_state import state_store
from gruponos_meltano_native.pipeline.future_bookmarks import (
    repair_meltano_state,
    repair_stored_state,
    state_horizon,
)
from gruponos_meltano_native.pipeline.leftovers import RunFiles, remove_leftovers
from gruponos_meltano_native.pipeline.lock import RunLock, scope_lock
from gruponos_meltano_native.pipeline.run_report import RunReport
from gruponos_meltano_native.printable import printable
from gruponos_meltano_native.runners.deletions import VersionGate, target_confines_versions
from gruponos_meltano_native.runners.nul_values import nul_warning
from gruponos_meltano_native.runners.runner import PipeResult, PipeRunner, ProgressCallback
from gruponos_meltano_native.state import (
    REPLICATION_KEY,
    StateKey,
    incremental_seed,
)

log = logging.getLogger(__name__)

__all__ = ["Orchestrator", "RunReport", "resolve_executable"]


def resolve_executable(name: str) -> str:
    """Find a plugin executable: next to this Python first (same install), then on PATH."""
    sibling = Path(sys.executable).parent / name
    if os.sep not in name and sibling.exists():
        return str(sibling)
    return shutil.which(name) or name


def _has_bookmarks(state: dict[str, Any] | None) -> bool:
    bookmarks = (state or {}).get("bookmarks") or {}
    return any(isinstance(b, dict) and b.get("replication_key_value") for b in bookmarks.values())


def _resume_entries(state: dict[str, Any] | None) -> list[Any]:
    """Return the tap's `resume` entries: one per stream while a sync is unfinished."""
    bookmarks = (state or {}).get("bookmarks") or {}
    return [b["resume"] for b in bookmarks.values() if isinstance(b, dict) and "resume" in b]


def _first_began(entries: list[Any]) -> datetime | None:
    """Return when an unfinished sync's first attempt began (WMS clock), if every entry says.

    Without it the tap reads every range again (it cannot ask for changes since then), so
    the resumed run's own start stands.
    """
    starts = []
    for entry in entries:
        try:
            starts.append(datetime.fromisoformat(str(entry["started"])))
        except (KeyError, TypeError, ValueError):
            return None
    return min(starts) if starts else None


def _write_private_json(path: Path, payload: Any) -> None:
    # Plugin configs hold credentials: readable by this user only.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(payload, handle)


class Orchestrator:
    """Runs the platform's jobs with one set of settings."""

    def __init__(self, settings: GruponosMeltanoSettings) -> None:
        """Use `settings` for every run."""
        if settings.deletions != "off" and not target_confines_versions():
            log.warning(
                "deletions not mirrored: the installed target-gruponos-oracle has no "
                "activate_version_scope setting (it would touch every facility's rows)"
            )
            settings = settings.model_copy(update={"deletions": "off"})
        self.settings = settings
        # Set to stop every run of this orchestrator (runs in other threads never see Ctrl-C).
        self.cancel = threading.Event()
        # The target database when it is PostgreSQL/Oracle (every machine sees it), else files.
        self.store = state_store(settings.state_dir, settings.target_config())
        self.redact = Redactor(settings.secret_values())
        redact_logs(self.redact)  # `-v` logs request paths: a webhook's is its token
        memory = alert_memory(settings.state_dir, settings.target_config())
        self.alerts = AlertManager(settings.alerts, settings.state_dir, self.redact, memory)

    def database_display(self) -> str:
        """Return the target database's URL without its password."""
        return mask_url(str(database_url(self.settings.target_config())))

    def plan(self, scope: RunScope) -> dict[str, Any]:
        """Describe what a run would do (for `--dry-run`), without running anything."""
        start_state = self._start_state(scope)
        tap_config = self.settings.tap_config(scope)
        secret = {
            name
            for name in tap_config
            if isinstance(getattr(self.settings.oracle_wms, name, None), SecretStr)
        }
        return {
            "job": scope.job.name,
            "mode": scope.job.mode,
            "runner": self.settings.runner,
            "company": scope.company,
            "facility": scope.facility,
            "entities": tap_config.get("entities", "tap default"),
            "tap": {k: MASK if k in secret else v for k, v in tap_config.items()},
            "database": self.database_display(),
            "state_path": self.store.location(scope.state_key),
            "lock_path": self._lock(scope, {}).location,
            "deletions": self.settings.deletions
            if self.settings.mirrors_deletions(scope)
            else "off",
            "starts_from_state": start_state is not None,
        }

    def _start_state(self, scope: RunScope) -> dict[str, Any] | None:
        state = self.store.get(scope.state_key)
        if scope.job.uses_state:
            return state
        # A full sync starts from nothing, unless the last one did not finish: its state
        # then says where each stream's read stopped, and the tap resumes it.
        return state if _resume_entries(state) else None

    @recorded  # history rows and metrics, once the report is complete
    def run(
        self,
        scope: RunScope,
        progress: ProgressCallback | None = None,
        wait_seconds: float = 0,
    ) -> RunReport:
        """Run one job for a company and facility; never raises for a failed run.

        Another run holding the company/facility makes this one wait up to `wait_seconds`,
        then skip (status "skipped", exit code 9, logged, not alerted).
        """
        run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]
        report = RunReport(
            run_id=run_id,
            job=scope.job.name,
            mode=scope.job.mode,
            company=scope.company,
            facility=scope.facility,
        )
        report.state_path = self.store.location(scope.state_key)
        if self.settings.mirrors_deletions(scope):
            report.deletions_mode = self.settings.deletions
        report.log_dir = str(self.settings.state_dir / "logs" / run_id)
        started = time.monotonic()
        lock = self._lock(scope, {"job": scope.job.name, "run_id": run_id})
        try:
            self.settings.require_runnable()
            self._remove_leftovers()
            tap_config = self.settings.tap_config(scope)
            # Before the lock: a facility the WMS lacks leaves no lock file behind.
            check_facility(tap_config, scope.facility, self.redact)
            lock.acquire(wait_seconds)
            try:
                self._run_locked(report, scope, tap_config, progress, lock)
            finally:
                lock.release()
        except ScopeBusy as exc:
            # Not a failure: the other run does the work. Logged for the operator, no alert.
            report.error, report.failure_kind = str(exc), exc.kind
            report.exit_code = exc.exit_code
            log.warning("run %s skipped: %s", run_id, exc)
            return report
        except (Exception, KeyboardInterrupt) as exc:
            if isinstance(exc, KeyboardInterrupt):
                # Outside the pipe (facility check, discovery, a wait, reconciliation).
                exc = InterruptedRun("interrupted; nothing further was started")
            elif not isinstance(exc, PlatformError):
                # A bug must still fail the run loudly and alert, never pass for success.
                log.exception("run %s: internal error", run_id)
                exc = PlatformError(f"internal error: {type(exc).__name__}: {exc}")
            report.duration_seconds = report.duration_seconds or time.monotonic() - started
            # What a failed pipe got through before it stopped (the runner attaches it).
            report.extracted = report.extracted or getattr(exc, "extracted", {})
            report.loaded = report.loaded or getattr(exc, "loaded", {})
            self._fail(report, exc)
            return report
        report.success = True
        if report.validation is not None and report.validation.failed:
            return report  # tolerated failed checks: alerted above, not a recovery
        report.alerts_sent += self.alerts.recovered(
            self._alert(report, RECOVERY, "info", "the job runs again and its checks pass")
        )
        return report

    def _lock(self, scope: RunScope, holder: dict[str, Any]) -> RunLock:
        """Return the company/facility lock: in the target database or a file (`scope_lock`)."""
        return scope_lock(
            self.settings.state_dir,
            self.settings.target_config(),
            scope.company,
            scope.facility,
            holder,
        )

    def _commit_state(
        self, lock: RunLock, key: StateKey, value: dict[str, Any], run_id: str
    ) -> None:
        """Write a state, once sure this run still holds its lock (else `LockLost`)."""
        lock.check()
        self.store.put(key, value, run_id)

    def _remove_leftovers(self) -> None:
        # Plugin configs (credentials) of runs killed before they could remove them.
        try:
            removed = remove_leftovers(self.settings.state_dir)
        except OSError as exc:
            log.warning("cannot check for plugin configs left by killed runs: %s", exc)
            return
        if removed:
            log.warning("removed plugin configs left by killed runs: %s", ", ".join(removed))

    def _run_locked(
        self,
        report: RunReport,
        scope: RunScope,
        tap_config: dict[str, Any],
        progress: ProgressCallback | None,
        lock: RunLock,
    ) -> None:
        report.database = self.database_display()
        assert report.log_dir is not None
        standalone = self.settings.runner == "standalone"
        start_state = None
        if standalone:
            repair_stored_state(self.settings, self.store, scope, tap_config, report.run_id)
            start_state = self._start_state(scope)  # read once: the pipe starts from it
        else:
            repair_meltano_state(self.settings, scope, tap_config)
        unfinished = _resume_entries(start_state)
        began = _first_began(unfinished)
        if unfinished:
            log.info("run %s: resuming the unfinished %s (began %s)", report.run_id, scope, began)
        with RunFiles(self.settings.state_dir, report.run_id) as files:
            result = self._run_pipe(
                scope,
                tap_config,
                start_state,
                report.run_id,
                Path(report.log_dir),
                progress,
                lock,
                files,
            )
        self._take_counts(report, result)
        dropped = nul_warning(
            database_rules(self.settings.target_config()).dialect, result.nul_values or {}
        )
        if dropped:
            log.warning("run %s: %s", report.run_id, dropped)
            report.warnings.append(dropped)
        if scope.job.mode == "full" and standalone:
            self._seed_incremental(report, result, scope, lock, began or report.started_at)
        self._reconcile(
            report, result, scope, result.tap_config or tap_config, resumed=bool(unfinished)
        )

    def _seed_incremental(
        self,
        report: RunReport,
        result: PipeResult,
        scope: RunScope,
        lock: RunLock,
        began: datetime,
    ) -> None:
        # A full sync's final state is a valid starting point for the incremental job. Read
        # FULL_TABLE (to mirror deletions) it has no bookmarks: start from the sync's start,
        # which for a resumed sync is when its first attempt began (`began`).
        seed = result.last_state if _has_bookmarks(result.last_state) else None
        if seed is None and self.settings.mirrors_deletions(scope):
            timed = [n for n, info in result.streams.items() if REPLICATION_KEY in info.properties]
            seed = incremental_seed(timed, began) if timed else None
        if seed:
            incremental = StateKey(JOBS["incremental"].name, scope.company, scope.facility)
            self._commit_state(lock, incremental, seed, report.run_id)

    @staticmethod
    def _take_counts(report: RunReport, result: PipeResult) -> None:
        report.extracted, report.loaded = result.extracted, result.loaded
        report.states_committed = result.states_committed
        report.duration_seconds = result.duration_seconds
        report.deletions = result.deletions

    def _run_pipe(
        self,
        scope: RunScope,
        tap_config: dict[str, Any],
        start_state: dict[str, Any] | None,
        run_id: str,
        log_dir: Path,
        progress: ProgressCallback | None,
        lock: RunLock,
        files: RunFiles,
    ) -> PipeResult:
        # Every place a plugin config is written is noted in `files` first (leftovers.py).
        target_config = self.settings.target_config(scope)
        if self.settings.runner == "meltano":
            from gruponos_meltano_native.runners.meltano_runner import MeltanoRunner

            meltano = MeltanoRunner(self.settings, log_dir, self.redact)
            files.add_meltano_project(meltano.project_dir)
            return meltano.run(scope, tap_config, target_config, progress)
        with tempfile.TemporaryDirectory(prefix="gruponos-run-") as tmp:
            folder = Path(tmp)
            files.add(folder)
            _write_private_json(folder / "tap.json", tap_config)
            _write_private_json(folder / "target.json", target_config)
            tap = resolve_executable(self.settings.tap_executable)
            tap_command = [tap, "--config", str(folder / "tap.json")]
            if start_state is not None:
                _write_private_json(folder / "state.json", start_state)
                tap_command += ["--state", str(folder / "state.json")]
            mirrored = self.settings.mirrors_deletions(scope)
            if mirrored:
                catalog = full_table_catalog(
                    tap, folder / "tap.json", folder / "catalog.json", self.redact
                )
                tap_command += ["--catalog", str(catalog)]
            target = resolve_executable(self.settings.target_executable)
            target_command = [target, "--config", str(folder / "target.json")]
            gate = VersionGate(required=set(scope.record_scope()) if mirrored else None)
            runner = PipeRunner(
                tap_command, target_command, log_dir, self.redact, gate=gate, cancel=self.cancel
            )
            log.info("run %s: %s", run_id, scope)
            return runner.run(
                lambda value: self._commit_state(lock, scope.state_key, value, run_id), progress
            )

    def _reconcile(
        self,
        report: RunReport,
        result: PipeResult,
        scope: RunScope,
        tap_config: dict[str, Any],
        *,
        resumed: bool = False,
    ) -> None:
        """Check the run's figures; `tap_config` is the config the tap ran with.

        `resumed`: the run finished a sync an earlier run began (see `Reconciler`).
        """
        checks = self.settings.validation
        if not checks.enabled:
            return
        target_config = self.settings.target_config()
        wms_count = None
        if report.mode == "full" and checks.compare_wms_counts:
            wms_count = wms_counter(tap_config, result.streams)
        try:
            engine = create_db_engine(target_config)
            try:
                with engine.connect() as connection:
                    validation = Reconciler(
                        checks,
                        connection,
                        dialect_of(engine),
                        target_config,
                        wms_count,
                        unscoped=tap_config.get("unscoped_entities") or (),
                        # Rows stamped from the run's start on were marked by this run.
                        marked_since=report.started_at if report.deletions_mode == "mark" else None,
                        resumed=resumed,
                        horizon=state_horizon(result.last_state),
                    ).reconcile(
                        result.extracted, result.loaded, result.streams, scope, result.nul_values
                    )
            finally:
                engine.dispose()
        except PlatformError:
            raise
        except Exception as exc:
            raise ReconciliationError(
                f"reconciliation could not run: {self.redact(str(exc).splitlines()[0])}"
            ) from None
        report.validation = validation
        failed = validation.failed
        if not failed and validation.quality_score >= checks.min_quality_score:
            return
        summary = "; ".join(f"{c.entity} {c.name}: {c.detail}" for c in failed)
        fails_run = checks.fail_run_on_check_failure and (
            validation.failed_errors or validation.quality_score < checks.min_quality_score
        )
        if fails_run:
            raise ReconciliationError(
                f"reconciliation failed (quality score {validation.quality_score:.1f}%): {summary}"
            )
        severity = "error" if validation.failed_errors else "warning"
        report.alerts_sent += self.alerts.send(
            self._alert(report, CHECK_FAILED, severity, "reconciliation check failed", summary)
        )

    def _fail(self, report: RunReport, exc: PlatformError) -> None:
        report.success = False
        # WMS and plugin texts reach terminals (run, history) and alerts: no control codes.
        report.error = printable(self.redact(str(exc)))
        report.failure_kind = exc.kind
        report.exit_code = exc.exit_code
        if exc.kind == "reconciliation":
            kind, severity, what = CHECK_FAILED, "error", "reconciliation failed"
        else:
            labels = {"interrupted": "run interrupted", "internal": "internal error"}
            what = labels.get(exc.kind, f"{exc.kind} failed")
            kind, severity = FAILURE, "critical"
        report.alerts_sent += self.alerts.send(
            self._alert(report, kind, severity, what, report.error)
        )

    def _alert(
        self, report: RunReport, kind: str, severity: str, summary: str, error: str | None = None
    ) -> Alert:
        return Alert(
            kind=kind,
            severity=severity,
            job=report.job,
            company=report.company,
            facility=report.facility,
            summary=summary,
            error=error,
            environment=self.settings.environment,
            run_id=report.run_id,
        )
