"""Several facilities of one company in one command: each its own run, then a summary.

Each facility is a full run of its own (own lock, state, plugin processes, report, alert);
`parallel` of them at a time (default one after another). The outcome is the worst of them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from gruponos_meltano_native.errors import worst_exit_code
from gruponos_meltano_native.jobs import RunScope
from gruponos_meltano_native.pipeline.orchestrator import Orchestrator
from gruponos_meltano_native.pipeline.run_report import RunReport
from gruponos_meltano_native.runners.runner import ProgressCallback
from gruponos_meltano_native.text_table import align

ProgressFactory = Callable[[RunScope], ProgressCallback | None]
DoneCallback = Callable[[RunReport], None]


def run_facilities(
    orchestrator: Orchestrator,
    scopes: Sequence[RunScope],
    parallel: int = 1,
    wait_seconds: float = 0,
    progress_for: ProgressFactory | None = None,
    on_done: DoneCallback | None = None,
) -> list[RunReport]:
    """Run every scope, `parallel` at a time; reports in the order of `scopes`."""
    done_lock = threading.Lock()

    def run_one(scope: RunScope) -> RunReport:
        progress = progress_for(scope) if progress_for else None
        report = orchestrator.run(scope, progress, wait_seconds)
        if on_done is not None:
            with done_lock:  # one report printed at a time
                on_done(report)
        return report

    orchestrator.cancel.clear()
    if parallel <= 1 or len(scopes) <= 1:
        reports = []
        for scope in scopes:
            reports.append(run_one(scope))
            if reports[-1].failure_kind == "interrupted":
                break  # Ctrl-C stops the whole command, not just this facility's run
        return reports
    # Threads are enough: each run spends its time waiting on its plugin processes.
    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="facility") as pool:
        futures = [pool.submit(run_one, scope) for scope in scopes]
        try:
            return [future.result() for future in futures]
        except KeyboardInterrupt:
            # Only this thread sees Ctrl-C: stop the running facilities, start no other.
            orchestrator.cancel.set()
            for future in futures:
                future.cancel()
            return [f.result() for f in futures if not f.cancelled()]


def exit_code_of(reports: Sequence[RunReport]) -> int:
    """Return the worst exit code of the runs."""
    return worst_exit_code([report.exit_code for report in reports])


def render_summary(reports: Sequence[RunReport]) -> str:
    """Render one line per facility: status, records, time, reconciliation, exit code."""
    header = ("facility", "job", "status", "records", "seconds", "reconciliation", "exit")
    rows = [header]
    for report in reports:
        validation = report.validation
        if validation is None:
            checks = "-"
        else:
            verdict = "FAILED" if validation.failed_errors else "PASSED"
            checks = f"{verdict} {validation.quality_score:.1f}%"
        rows.append(
            (
                f"{report.company}/{report.facility}",
                report.job,
                report.status,
                f"{report.records_processed:,}",
                f"{report.duration_seconds:.1f}",
                checks,
                str(report.exit_code),
            )
        )
    lines = align(rows)
    count = f"{len(reports)} facilit{'y' if len(reports) == 1 else 'ies'}"
    lines.append(f"{count}; exit code {exit_code_of(reports)} (the worst)")
    return "\n".join(lines)
