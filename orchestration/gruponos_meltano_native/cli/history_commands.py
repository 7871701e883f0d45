"""The `history` and `report` commands: read the run-history table, print it or draw it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from gruponos_meltano_native.config import GruponosMeltanoSettings, default_database
from gruponos_meltano_native.database import database_url
from gruponos_meltano_native.errors import ConnectivityError, ExitCode, PlatformError
from gruponos_meltano_native.masking import Redactor, mask_url
from gruponos_meltano_native.observe.history import (
    HistoryRow,
    PendingRows,
    RunHistory,
    dump_rows,
    render_runs,
)


class ReportPathError(PlatformError):
    """The report cannot be written where `--out` says."""

    exit_code = ExitCode.USAGE
    kind = "usage"


def _read(
    settings: GruponosMeltanoSettings,
    *,
    company: str | None = None,
    facility: str | None = None,
    job: str | None = None,
    last: int | None = None,
    since: datetime | None = None,
) -> list[HistoryRow]:
    config = settings.target_config()
    if not settings.oracle_db.configured and not default_database(settings.state_dir).exists():
        return []  # the embedded default, before any run made it: no runs yet, no error
    history = RunHistory(config, settings.history.table)
    try:
        return history.runs(company=company, facility=facility, job=job, last=last, since=since)
    except PlatformError:
        raise
    except sa.exc.SQLAlchemyError as exc:
        shown = mask_url(str(database_url(config)))
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        redact = Redactor(settings.secret_values())
        raise ConnectivityError(
            f"cannot read the run history from {shown}: {redact(reason)}"
        ) from None


def _pending_note(settings: GruponosMeltanoSettings) -> str:
    pending = PendingRows(settings.state_dir)
    waiting = pending.count()
    if not waiting:
        return ""
    return (
        f"\n{waiting} run(s) wait in {pending.folder} (the database could not take them); "
        "the next run writes them"
    )


def show_history(
    settings: GruponosMeltanoSettings,
    company: str | None,
    facility: str | None,
    job: str | None,
    last: int,
    by_entity: bool = False,
    as_json: bool = False,
) -> str:
    """Return the last `last` runs matching the filters, newest first, as text or JSON."""
    rows = _read(settings, company=company, facility=facility, job=job, last=last)
    if as_json:
        return dump_rows(rows)
    if rows:
        return render_runs(rows, by_entity) + _pending_note(settings)
    table = settings.history.table
    filters = {"company": company, "facility": facility, "job": job}
    asked = ", ".join(f"{name} {value}" for name, value in filters.items() if value)
    if asked and _read(settings, last=1):
        return f"no runs match {asked} in {table}; without filters, `history` shows them all"
    return f"no runs recorded in {table} yet" + _pending_note(settings)


def write_report(
    settings: GruponosMeltanoSettings,
    out: str | Path,
    days: int | None = None,
    company: str | None = None,
    facility: str | None = None,
    now: datetime | None = None,
) -> Path:
    """Write the HTML report of the last `days` days to `out`; return its absolute path."""
    from gruponos_meltano_native.observe.report import render_report

    now = now or datetime.now(UTC)
    days = days or settings.history.report_days
    rows = _read(settings, company=company, facility=facility, since=now - timedelta(days=days))
    html = render_report(
        rows,
        now=now,
        days=days,
        max_staleness_minutes=settings.validation.max_staleness_minutes,
        pending=PendingRows(settings.state_dir).count(),
    )
    path = Path(out).resolve()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise ReportPathError(f"cannot write the report {path}: {exc.strerror or exc}") from None
    return path
