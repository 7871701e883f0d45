"""`gruponos-meltano`: run jobs, check settings and connectivity, show config and state.

Exit codes: 0 ok, 1 internal error, 2 usage, 3 settings, 4 connectivity, 5 extract (tap) failed,
6 load (target) failed, 7 reconciliation failed, 8 state unreadable/unwritable, 9 skipped (another
run holds the company/facility), 130 interrupted. Several facilities: the worst of their codes.
"""

from __future__ import annotations

import json
import logging
import shutil
import signal
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import NoReturn, ParamSpec, TypeVar

import click

from gruponos_meltano_native.codes import check_code
from gruponos_meltano_native.config import GruponosMeltanoSettings, load_settings
from gruponos_meltano_native.errors import ConnectivityError, ExitCode, PlatformError
from gruponos_meltano_native.jobs import JOBS, RunScope
from gruponos_meltano_native.pipeline.db_state import state_store
from gruponos_meltano_native.pipeline.facilities import exit_code_of, render_summary, run_facilities
from gruponos_meltano_native.pipeline.orchestrator import Orchestrator, resolve_executable
from gruponos_meltano_native.pipeline.run_report import RunReport
from gruponos_meltano_native.printable import printable
from gruponos_meltano_native.runners.progress import Progress
from gruponos_meltano_native.state import StateKey, StateStore

P = ParamSpec("P")
R = TypeVar("R")


def _raise_interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


def _fail(exc: PlatformError) -> NoReturn:
    click.echo(printable(f"error: {exc}"), err=True)
    sys.exit(int(exc.exit_code))


def platform_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn the platform's errors into a message and the exit code of their kind."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except PlatformError as exc:
            _fail(exc)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(int(ExitCode.INTERRUPTED))

    return wrapper


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(verbose: bool) -> None:
    """GrupoNOS platform: Oracle WMS -> Oracle with state, reconciliation and alerts."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not verbose:
        # The tap's client runs in this process for the facility check and the WMS counts;
        # its INFO lines (schemas sampled per entity) are the tap log's business, not ours.
        logging.getLogger("tap_oracle_wms").setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, _raise_interrupt)


def _scopes(
    settings: GruponosMeltanoSettings,
    mode: str,
    company: str | None,
    facility: str | None,
    all_facilities: bool,
    entities: list[str] | None,
) -> list[RunScope]:
    # Options are checked here to name them; settings were checked when read.
    if company is not None:
        check_code(company, "--company")
    for code in (facility or "").split(","):
        if code.strip():
            check_code(code.strip(), "--facility")
    company = company or settings.oracle_wms.company_code
    if all_facilities:
        if facility:
            raise click.UsageError("--facility and --all-facilities exclude each other")
        if not settings.facilities:
            raise click.UsageError(
                "--all-facilities needs GRUPONOS_MELTANO_FACILITIES (e.g. DC01,DC02)"
            )
        codes = list(settings.facilities)
    else:
        text = facility or settings.oracle_wms.facility_code or ""
        codes = [code.strip() for code in text.split(",") if code.strip()]
    if not company or not codes:
        raise click.UsageError(
            "--company and --facility (or --all-facilities) are required (or "
            "GRUPONOS_MELTANO_ORACLE_WMS__COMPANY_CODE and "
            "GRUPONOS_MELTANO_ORACLE_WMS__FACILITY_CODE)"
        )
    duplicated = sorted({code for code in codes if codes.count(code) > 1})
    if duplicated:
        raise click.UsageError(f"facility named twice: {', '.join(duplicated)}")
    return [RunScope.of(mode, company, code, entities) for code in codes]


def _entities(values: tuple[str, ...]) -> list[str] | None:
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    return names or None


@main.command()
@click.argument("mode", type=click.Choice(sorted(JOBS)))
@click.option("--company", help="WMS company code, e.g. GNOS.")
@click.option("--facility", help="WMS facility code(s): DC01, or DC01,DC02 for several.")
@click.option(
    "--all-facilities",
    is_flag=True,
    help="Every facility in GRUPONOS_MELTANO_FACILITIES.",
)
@click.option(
    "--parallel",
    type=click.IntRange(min=1),
    default=1,
    metavar="N",
    help="Run up to N facilities at once (default: one after another).",
)
@click.option("--entities", multiple=True, help="Entities to sync (repeat or comma-separate).")
@click.option(
    "--wait",
    "wait_seconds",
    type=click.FloatRange(min=0),
    default=0,
    metavar="SECONDS",
    help="When another run holds the company/facility, wait up to this long (default: skip).",
)
@click.option("--dry-run", is_flag=True, help="Show what would run, run nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the run report as JSON.")
@platform_errors
def run(
    mode: str,
    company: str | None,
    facility: str | None,
    all_facilities: bool,
    parallel: int,
    entities: tuple[str, ...],
    wait_seconds: float,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Run the full or incremental sync for a company and one or several facilities."""
    settings = load_settings()
    scopes = _scopes(settings, mode, company, facility, all_facilities, _entities(entities))
    orchestrator = Orchestrator(settings)
    if dry_run:
        plans = [orchestrator.plan(scope) for scope in scopes]
        click.echo(json.dumps(plans[0] if len(plans) == 1 else plans, indent=2))
        return
    if len(scopes) == 1:
        progress = Progress()
        try:
            report = orchestrator.run(scopes[0], progress, wait_seconds)
        finally:
            progress.finish()
        _show(report, as_json)
        sys.exit(int(report.exit_code))
    shown: dict[str, Progress] = {}

    def progress_for(scope: RunScope) -> Progress:
        # Side by side, redrawn lines would overwrite each other: log lines instead.
        shown[scope.facility] = Progress(tty=False if parallel > 1 else None, label=scope.facility)
        return shown[scope.facility]

    def done(report: RunReport) -> None:
        shown[report.facility].finish()
        if not as_json:
            _show(report, False)

    reports = run_facilities(orchestrator, scopes, parallel, wait_seconds, progress_for, done)
    if as_json:
        runs = [report.to_dict() for report in reports]
        output = {"exit_code": exit_code_of(reports), "runs": runs}
        click.echo(json.dumps(output, indent=2, default=str))
    else:
        click.echo("\n" + render_summary(reports))
    sys.exit(exit_code_of(reports))


def _show(report: RunReport, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        click.echo(render_report(report))
    # A skipped run's reason is already on stderr: the orchestrator logs it ("run … skipped:").
    if not report.success and report.status != "skipped":
        click.echo(
            printable(
                f"error ({report.failure_kind}, {report.company}/{report.facility}): {report.error}"
            ),
            err=True,
        )


def render_report(report: RunReport) -> str:
    """Render the human summary printed at the end of a run."""
    status = {"succeeded": "succeeded", "skipped": "SKIPPED"}.get(
        report.status, f"FAILED ({report.failure_kind})"
    )
    lines = [f"{report.job} {status}: {report.company}/{report.facility}, run {report.run_id}"]
    if report.status == "skipped":
        lines.append("nothing was done: another run holds this company/facility")
    else:
        lines.append(
            f"{report.records_processed:,} records in {report.duration_seconds:.1f}s "
            f"({report.records_per_second:,.0f} records/s), "
            f"{report.states_committed} state(s) committed"
        )
        # What the run did not reach (a run stopped by its settings or the facility check)
        # is left out rather than shown as None or as a folder that does not exist.
        if report.database:
            lines.append(f"database: {report.database}")
        lines.append(f"state: {report.state_path}")
        if report.log_dir and Path(report.log_dir).is_dir():
            lines.append(f"plugin logs: {report.log_dir}")
    if report.validation is not None:
        lines += ["", report.validation.render()]
    if report.alerts_sent:
        lines.append(f"alerts sent: {', '.join(report.alerts_sent)}")
    lines += [f"warning: {warning}" for warning in report.warnings]
    return printable("\n".join(lines))


@main.command()
def jobs() -> None:
    """List the jobs and their schedules."""
    for job in JOBS.values():
        click.echo(f"{job.name:22} {job.mode:12} {job.schedule:14} {job.description}")


@main.command()
@platform_errors
def config() -> None:
    """Print the settings in effect, secrets masked."""
    click.echo(json.dumps(load_settings().masked(), indent=2, default=str))


@main.command()
@platform_errors
def validate() -> None:
    """Check the settings, then live connectivity to the WMS and the database."""
    from tap_oracle_wms.client import WMSClient
    from tap_oracle_wms.errors import WMSError

    from gruponos_meltano_native.database import connect_with_retry, create_db_engine

    settings = load_settings()
    settings.require_runnable()
    click.echo("settings: ok")
    orchestrator = Orchestrator(settings)
    problems = []
    try:
        count = len(WMSClient(settings.tap_config()).list_entities())
        click.echo(f"wms: ok ({settings.oracle_wms.base_url}, {count} entities)")
    except (WMSError, OSError) as exc:
        problems.append(f"wms: {orchestrator.redact(str(exc))}")
    if not settings.oracle_db.configured:
        # The embedded default lives in the state folder, which the first run creates.
        settings.state_dir.mkdir(parents=True, exist_ok=True)
    engine = create_db_engine(settings.target_config())
    try:
        connect_with_retry(engine, attempts=1).close()
        click.echo(f"database: ok ({orchestrator.database_display()})")
    except ConnectivityError as exc:
        problems.append(f"database: {orchestrator.redact(str(exc))}")
    finally:
        engine.dispose()
    if problems:
        raise ConnectivityError("; ".join(problems))


@main.command()
@platform_errors
def health() -> None:
    """Check the installation: plugins, state folder, alert channels, last states, held locks."""
    settings = load_settings()
    bad = False
    executables = [settings.tap_executable, settings.target_executable]
    if settings.runner == "meltano":
        executables.append(settings.meltano_executable)
    for name in executables:
        found = shutil.which(resolve_executable(name))
        bad |= found is None
        click.echo(f"{name}: {found or 'NOT FOUND'}")
    try:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        probe = settings.state_dir / ".health-probe"
        probe.write_text("ok")
        probe.unlink()
        click.echo(f"state dir: {settings.state_dir.resolve()} (writable)")
    except OSError as exc:
        bad = True
        click.echo(f"state dir: {settings.state_dir} NOT WRITABLE ({exc})")
    channels = Orchestrator(settings).alerts.channels()
    click.echo(f"alert channels: {', '.join(channels) or 'none configured'}")
    from gruponos_meltano_native.pipeline.health import held_locks, last_states

    states, readable = last_states(settings)
    bad |= not readable
    for line in [*states, *held_locks(settings)]:
        click.echo(line)
    if bad:
        sys.exit(int(ExitCode.SETTINGS))


@main.command()
@click.option("--company", help="Only this company.")
@click.option("--facility", help="Only this facility.")
@click.option("--job", type=click.Choice([j.name for j in JOBS.values()]), help="Only this job.")
@click.option("--last", default=20, show_default=True, type=click.IntRange(min=1), help="Runs.")
@click.option("--entities", "by_entity", is_flag=True, help="One line per entity of each run.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@platform_errors
def history(
    company: str | None,
    facility: str | None,
    job: str | None,
    last: int,
    by_entity: bool,
    as_json: bool,
) -> None:
    """Print the recent runs from the run-history table, newest first."""
    from gruponos_meltano_native.cli.history_commands import show_history

    click.echo(show_history(load_settings(), company, facility, job, last, by_entity, as_json))


@main.command()
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="HTML file to write.")
@click.option(
    "--days", type=click.IntRange(min=1), help="Weeks shown, in days [HISTORY__REPORT_DAYS]."
)
@click.option("--company", help="Only this company.")
@click.option("--facility", help="Only this facility.")
@platform_errors
def report(out: str, days: int | None, company: str | None, facility: str | None) -> None:
    """Write a self-contained HTML page of the pipeline's health (charts, freshness, checks)."""
    from gruponos_meltano_native.cli.history_commands import write_report

    click.echo(f"report written to {write_report(load_settings(), out, days, company, facility)}")


def _store(settings: GruponosMeltanoSettings) -> StateStore:
    """Return the store runs use: the target database (PostgreSQL, Oracle) or the state folder."""
    return state_store(settings.state_dir, settings.target_config())


@main.group()
def state() -> None:
    """Show or clear the stored Singer state."""


@state.command("show")
@click.option("--job", type=click.Choice([j.name for j in JOBS.values()]))
@click.option("--company")
@click.option("--facility")
@platform_errors
def state_show(job: str | None, company: str | None, facility: str | None) -> None:
    """Print stored states (all, or those matching the options) as JSON."""
    entries = [
        entry
        for entry in _store(load_settings()).entries()
        if (job is None or entry["job"] == job)
        and (company is None or entry["company"] == company)
        and (facility is None or entry["facility"] == facility)
    ]
    click.echo(json.dumps(entries, indent=2))


@state.command("clear")
@click.option("--job", required=True, type=click.Choice([j.name for j in JOBS.values()]))
@click.option("--company", required=True)
@click.option("--facility", required=True)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@platform_errors
def state_clear(job: str, company: str, facility: str, yes: bool) -> None:
    """Forget a job's state, so its next incremental run starts from the beginning."""
    key = StateKey(job, check_code(company, "--company"), check_code(facility, "--facility"))
    if not yes:
        click.confirm(f"clear the state of {key}?", abort=True)
    removed = _store(load_settings()).clear(key)
    click.echo(f"{key}: {'cleared' if removed else 'no state stored'}")


# `state reset` is the same command under the name other tools use for it.
state.add_command(state_clear, "reset")
