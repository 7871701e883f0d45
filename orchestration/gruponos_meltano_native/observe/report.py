"""The pipeline's health as one self-contained HTML page, drawn from the run history.

Per company and facility: records and run duration per run for each job over the last weeks
(inline SVG charts, failures marked), freshness per entity, and the latest reconciliation.
No script, no font, no image is fetched: the file can be mailed or opened offline.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from html import escape

from gruponos_meltano_native.observe.charts import (
    COLORS,
    Bar,
    bar_chart,
    format_count,
    format_duration,
)
from gruponos_meltano_native.observe.history import WHOLE_RUN, HistoryRow

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#111827;
background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid
#e5e7eb;padding-bottom:4px}h3{font-size:14px;margin:16px 0 6px}
p.meta{color:#6b7280;margin:0 0 12px;font-size:13px}
table{border-collapse:collapse;font-size:12px;margin:4px 0 8px}
th,td{border-bottom:1px solid #e5e7eb;padding:3px 10px 3px 0;text-align:left;white-space:nowrap}
td.n{text-align:right}th{color:#374151}
.charts{display:flex;flex-wrap:wrap;gap:8px 24px}
.ok{color:#047857}.bad{color:#b91c1c;font-weight:600}.warn{color:#b45309}.muted{color:#6b7280}
.legend span{display:inline-block;margin-right:14px;font-size:12px}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:-1px}
"""


def _time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "-"


def _age(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "-"
    seconds = (now - then).total_seconds()
    # A WMS clock ahead of ours puts mod_ts in the future: say so rather than a negative age.
    return format_duration(seconds) if seconds >= 0 else f"{format_duration(-seconds)} ahead"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:,}"


def _status(status: str, kind: str | None = None) -> str:
    css = {"succeeded": "ok", "skipped": "muted"}.get(status, "bad")
    text = status + (f" ({kind})" if kind else "")
    return f'<span class="{css}">{escape(text)}</span>'


def _runs(rows: list[HistoryRow]) -> list[list[HistoryRow]]:
    """Group rows by run, oldest run first."""
    by_run: dict[str, list[HistoryRow]] = defaultdict(list)
    for row in rows:
        by_run[row.run_id].append(row)
    return sorted(by_run.values(), key=lambda run: (run[0].started_at, run[0].run_id))


def _records(run: list[HistoryRow]) -> int:
    return sum((r.loaded if r.loaded is not None else r.extracted) or 0 for r in run)


def duration_unit(runs: list[list[HistoryRow]]) -> tuple[str, float]:
    """Return the unit (`s`, `min`, `h`) and its seconds that suit the longest run."""
    longest = max((run[0].duration_seconds for run in runs), default=0.0)
    if longest >= 3 * 3600:
        return "h", 3600.0
    if longest >= 180:
        return "min", 60.0
    return "s", 1.0


def _bars(runs: list[list[HistoryRow]], value: str) -> list[Bar]:
    bars = []
    _, per_unit = duration_unit(runs)
    for run in runs:
        first = run[0]
        amount = float(_records(run)) if value == "records" else first.duration_seconds / per_unit
        shown = (
            f"{amount:,.0f} records"
            if value == "records"
            else format_duration(first.duration_seconds)
        )
        kind = f" ({first.failure_kind})" if first.failure_kind else ""
        # The error's first line says what failed and why (see exit_messages).
        why = f"\n{first.error_message.splitlines()[0]}" if first.error_message else ""
        bars.append(
            Bar(
                label=first.started_at.strftime("%m-%d %H:%M"),
                value=amount,
                status=first.status,
                series=first.job,
                tooltip=(
                    f"{first.run_id} {_time(first.started_at)}: {first.status}{kind}, {shown}{why}"
                ),
            )
        )
    return bars


def _overview(scopes: dict[tuple[str, str], list[HistoryRow]], now: datetime) -> str:
    lines = [
        "<table class='overview'><tr><th>company / facility</th><th>job</th><th>last run</th>"
        "<th>status</th><th>last success</th><th>ago</th><th>runs</th><th>failed</th></tr>"
    ]
    for (company, facility), rows in sorted(scopes.items()):
        by_job: dict[str, list[list[HistoryRow]]] = defaultdict(list)
        for run in _runs(rows):
            by_job[run[0].job].append(run)
        for job, runs in sorted(by_job.items()):
            last = runs[-1][0]
            successes = [run[0] for run in runs if run[0].status == "succeeded"]
            success = successes[-1].ended_at if successes else None
            failed = sum(run[0].status in ("failed", "interrupted") for run in runs)
            lines.append(
                f"<tr><td>{escape(company)} / {escape(facility)}</td><td>{escape(job)}</td>"
                f"<td>{_time(last.started_at)}</td><td>{_status(last.status, last.failure_kind)}"
                f"</td><td>{_time(success)}</td><td>{_age(now, success)}</td>"
                f"<td class='n'>{len(runs)}</td>"
                f"<td class='n {'bad' if failed else ''}'>{failed}</td></tr>"
            )
    lines.append("</table>")
    return "".join(lines)


def _freshness(rows: list[HistoryRow], now: datetime, limit: float | None) -> str:
    entities = sorted({r.entity for r in rows if r.entity != WHOLE_RUN})
    lines = [
        "<table class='freshness'><tr><th>entity</th><th>last successful load</th><th>ago</th>"
        "<th>newest mod_ts</th><th>age</th><th>state</th></tr>"
    ]
    for entity in entities:
        mine = [r for r in rows if r.entity == entity]
        loads = [r.ended_at for r in mine if r.status == "succeeded"]
        loaded = max(loads) if loads else None
        # What the latest reconciliation measured in the table is the table's freshness.
        measured = sorted(
            (r.started_at, r.newest_mod_ts) for r in mine if r.newest_mod_ts is not None
        )
        newest = measured[-1][1] if measured else None
        minutes = (now - newest).total_seconds() / 60 if newest else None
        if loaded is None:
            state = "<span class='bad'>never loaded</span>"
        elif limit is not None and minutes is not None and minutes > limit:
            state = f"<span class='warn'>stale (limit {format_duration(limit * 60)})</span>"
        else:
            state = "<span class='ok'>fresh</span>"
        lines.append(
            f"<tr><td>{escape(entity)}</td><td>{_time(loaded)}</td><td>{_age(now, loaded)}</td>"
            f"<td>{_time(newest)}</td><td>{_age(now, newest)}</td><td>{state}</td></tr>"
        )
    lines.append("</table>")
    return "".join(lines) if entities else "<p class='muted'>no entity loaded yet</p>"


def _reconciliation(rows: list[HistoryRow]) -> str:
    checked = [run for run in _runs(rows) if run[0].quality_score is not None]
    if not checked:
        return "<p class='muted'>no reconciliation recorded in this period</p>"
    run = checked[-1]
    first = run[0]
    score = first.quality_score or 0.0
    lines = [
        f"<p class='meta'>run {escape(first.run_id)} ({escape(first.job)}, "
        f"{_time(first.started_at)} UTC): quality score "
        f"<span class='{'ok' if score >= 100 else 'bad'}'>{score:.1f}%</span></p>",
        "<table class='reconciliation'><tr><th>entity</th><th>extracted</th><th>loaded</th>"
        "<th>wms</th><th>db rows</th><th>marked deleted</th><th>checks</th></tr>",
    ]
    for row in sorted(run, key=lambda r: r.entity):
        checks = (
            f"<span class='bad'>failed: {escape(row.failed_checks)}</span>"
            if row.failed_checks
            else "<span class='ok'>passed</span>"
        )
        figures = (row.extracted, row.loaded, row.wms_count, row.db_rows, row.marked_deleted)
        cells = "".join(f"<td class='n'>{_num(v)}</td>" for v in figures)
        lines.append(f"<tr><td>{escape(row.entity)}</td>{cells}<td>{checks}</td></tr>")
    lines.append("</table>")
    return "".join(lines)


def _legend() -> str:
    items = [
        (COLORS["full-sync-job"], "full sync"),
        (COLORS["incremental-sync-job"], "incremental sync"),
        (COLORS["failed"], "failed / interrupted (✕)"),
        (COLORS["skipped"], "skipped (another run held the facility)"),
    ]
    spans = "".join(f"<span><i style='background:{c}'></i>{escape(t)}</span>" for c, t in items)
    return f"<p class='legend'>{spans}</p>"


def render_report(
    rows: list[HistoryRow],
    now: datetime,
    days: int,
    max_staleness_minutes: float | None = None,
    pending: int = 0,
) -> str:
    """Return the whole HTML page for the history rows of the period."""
    scopes: dict[tuple[str, str], list[HistoryRow]] = defaultdict(list)
    for row in rows:
        scopes[(row.company, row.facility)].append(row)
    run_count = len({r.run_id for r in rows})
    body = [
        "<h1>GrupoNOS pipeline health</h1>",
        f"<p class='meta'>generated {_time(now)} UTC · last {days} days · {run_count} run(s)"
        + (
            f" · <span class='warn'>{pending} run(s) not yet in the database</span>"
            if pending
            else ""
        )
        + "</p>",
    ]
    if not scopes:
        body.append("<p class='muted'>no runs recorded in this period</p>")
    else:
        body.append(_overview(scopes, now))
        body.append(_legend())
    for (company, facility), scope_rows in sorted(scopes.items()):
        body.append(f"<h2>{escape(company)} / {escape(facility)}</h2><div class='charts'>")
        by_job: dict[str, list[list[HistoryRow]]] = defaultdict(list)
        for run in _runs(scope_rows):
            by_job[run[0].job].append(run)
        for job, runs in sorted(by_job.items()):
            slug = f"{company}-{facility}-{job}"
            body.append(
                bar_chart(
                    _bars(runs, "records"),
                    f"{job}: records per run",
                    format_count,
                    chart_id=f"records-{slug}",
                )
            )
            body.append(
                bar_chart(
                    _bars(runs, "duration"),
                    f"{job}: run duration ({duration_unit(runs)[0]})",
                    format_count,
                    chart_id=f"duration-{slug}",
                )
            )
        body.append("</div><h3>Freshness per entity</h3>")
        body.append(_freshness(scope_rows, now, max_staleness_minutes))
        for job in sorted(by_job):
            body.append(f"<h3>Latest reconciliation: {escape(job)}</h3>")
            body.append(_reconciliation([r for r in scope_rows if r.job == job]))
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>GrupoNOS pipeline health</title><style>{STYLE}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
