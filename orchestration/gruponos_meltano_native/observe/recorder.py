"""What every run leaves behind for the team: history rows and Prometheus metrics.

The orchestrator calls this once at the end of a run, after its report is complete, whatever
the outcome (`@recorded` on `Orchestrator.run`), including a run skipped because another run
held its facility (status `skipped`, one row per entity asked for). Nothing here can fail a
run: problems come back as warnings for the run's report.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec

from gruponos_meltano_native.masking import Redactor
from gruponos_meltano_native.observe.history import (
    WHOLE_RUN,
    HistoryRow,
    PendingRows,
    RunHistory,
    as_utc,
    write_with_pending,
)
from gruponos_meltano_native.observe.metrics import RunSample, publish

if TYPE_CHECKING:
    from gruponos_meltano_native.config import GruponosMeltanoSettings
    from gruponos_meltano_native.pipeline.run_report import RunReport

log = logging.getLogger(__name__)

P = ParamSpec("P")


def _entity_data(report: RunReport) -> dict[str, dict[str, Any]]:
    """Per-entity figures: the report's entity data, completed by the reconciliation's."""
    merged: dict[str, dict[str, Any]] = {}
    validation = report.validation.to_dict() if report.validation is not None else None
    sources = [report.to_dict().get("entities") or {}]
    if validation is not None:
        sources.append(validation.get("entities") or {})
    for source in sources:
        for entity, figures in source.items():
            target = merged.setdefault(entity, {})
            for name, value in (figures or {}).items():
                if target.get(name) is None:
                    target[name] = value
    for name in set(report.extracted) | set(report.loaded):
        merged.setdefault(name, {})
    return merged


def history_rows(
    report: RunReport,
    started_at: datetime,
    ended_at: datetime,
    requested_entities: list[str] | None = None,
    redact: Callable[[str], str] = str,
) -> list[HistoryRow]:
    """One row per entity the run touched (or was asked for; `*` when it knew none)."""
    status = report.status
    validation = report.validation
    failed: dict[str, list[str]] = {}
    if validation is not None:
        for check in validation.failed:
            failed.setdefault(check.entity, []).append(check.name)
    data = _entity_data(report)
    entities = sorted(data) or list(requested_entities or []) or [WHOLE_RUN]
    error = redact(report.error) if report.error else None
    rows = []
    for entity in entities:
        figures = data.get(entity, {})
        rows.append(
            HistoryRow(
                run_id=report.run_id,
                job=report.job,
                company=report.company,
                facility=report.facility,
                entity=entity,
                started_at=started_at,
                ended_at=ended_at,
                duration_seconds=round((ended_at - started_at).total_seconds(), 3),
                status=status,
                failure_kind=None if status in ("succeeded", "skipped") else report.failure_kind,
                extracted=_int(figures.get("extracted")) if entity in report.extracted else None,
                loaded=_int(figures.get("loaded")),
                marked_deleted=_int(figures.get("marked_deleted")) or 0,
                wms_count=_int(figures.get("wms_count")),
                db_rows=_int(figures.get("db_rows")),
                quality_score=validation.quality_score if validation is not None else None,
                failed_checks=",".join(failed.get(entity, [])) or None,
                newest_mod_ts=as_utc(figures.get("newest_mod_ts")),
                error_message=error,
            )
        )
    return rows


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _redactor(
    settings: GruponosMeltanoSettings, redact: Callable[[str], str] | None
) -> Callable[[str], str]:
    return redact if redact is not None else Redactor(settings.secret_values())


def record_rows(
    settings: GruponosMeltanoSettings,
    rows: list[HistoryRow],
    quality_score: float | None = None,
    redact: Callable[[str], str] | None = None,
) -> list[str]:
    """Write a run's rows to the history and its metrics where configured; return warnings."""
    redact = _redactor(settings, redact)
    first = rows[0]
    warnings: list[str] = []
    if settings.history.enabled:
        try:
            if settings.environment == "prod" and not settings.oracle_db.configured:
                # No SQLite fallback in prod: the rows wait for a configured database.
                kept = PendingRows(settings.state_dir).save(first.run_id, rows)
                raise RuntimeError(f"no database configured; this run's rows wait in {kept}")
            history = RunHistory(settings.target_config(), settings.history.table)
            warnings += write_with_pending(
                history, PendingRows(settings.state_dir), first.run_id, rows
            )
        except RuntimeError as exc:
            warnings.append(f"run history not written: {exc}")
        except Exception as exc:  # the state folder itself failed: say so, the run stands
            warnings.append(f"run history not written and not kept: {exc}")
    metrics = settings.metrics
    sample = RunSample(
        job=first.job,
        company=first.company,
        facility=first.facility,
        status=first.status,
        ended_at=first.ended_at.timestamp(),
        duration_seconds=first.duration_seconds,
        failure_kind=first.failure_kind,
        quality_score=quality_score,
        extracted={r.entity: r.extracted for r in rows if r.extracted is not None},
        loaded={r.entity: r.loaded for r in rows if r.loaded is not None},
        marked_deleted={r.entity: r.marked_deleted for r in rows if r.entity != WHOLE_RUN},
    )
    warnings += publish(
        settings.state_dir,
        sample,
        metrics.textfile_path,
        metrics.pushgateway_url,
        metrics.pushgateway_timeout,
    )
    for warning in warnings:
        log.warning("%s", redact(warning))
    return [redact(w) for w in warnings]


def record_run(
    settings: GruponosMeltanoSettings,
    report: RunReport,
    started_at: datetime,
    ended_at: datetime | None = None,
    requested_entities: list[str] | None = None,
    redact: Callable[[str], str] | None = None,
) -> list[str]:
    """Record a finished run (any outcome); return warnings for its report. Never raises."""
    redact = _redactor(settings, redact)
    try:
        ended_at = ended_at or datetime.now(UTC)
        rows = history_rows(report, started_at, ended_at, requested_entities, redact)
        score = report.validation.quality_score if report.validation is not None else None
        return record_rows(settings, rows, score, redact)
    except Exception as exc:  # a bug here must not turn a good run into a failed one
        log.exception("run %s: recording the run failed", report.run_id)
        return [redact(f"run not recorded: internal error: {type(exc).__name__}: {exc}")]


def recorded(
    run: Callable[Concatenate[Any, P], RunReport],
) -> Callable[Concatenate[Any, P], RunReport]:
    """Decorate `Orchestrator.run`: record each finished run and add warnings to its report."""
    signature = inspect.signature(run)

    @functools.wraps(run)
    def wrapper(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> RunReport:
        started_at = datetime.now(UTC)
        report = run(self, *args, **kwargs)
        arguments = signature.bind(self, *args, **kwargs).arguments
        # The entities asked for: an `entities` argument, or those of a `scope` argument.
        entities = arguments.get("entities") or getattr(arguments.get("scope"), "entities", None)
        entities = list(entities) if entities else None
        report.warnings += record_run(
            self.settings, report, started_at, None, entities, self.redact
        )
        return report

    return wrapper
