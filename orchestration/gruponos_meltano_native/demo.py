"""`make demo`: two facilities into one database, changes and purges in the WMS, the proof.

Without settings it runs on the embedded default: the WMS simulator on loopback and one SQLite
file in `demo-output/` for both facilities (DC01, DC02): a full sync of each, then changes in
DC01 (updates, new orders, purged allocations), an incremental sync (changes, no deletions),
and a second full sync that marks the purged allocations deleted (`_sdc_deleted_at`) with
reconciliation PASSED per facility. With `GRUPONOS_MELTANO_ORACLE_WMS__BASE_URL` (and the
database settings) set, the full and incremental syncs run against the real WMS and database
for `GRUPONOS_MELTANO_FACILITIES`, minus the simulated changes.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import shutil
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import sqlalchemy as sa
from pydantic import SecretStr

from gruponos_meltano_native.api import SyncResult, create_gruponos_meltano_platform
from gruponos_meltano_native.cli.commands import render_report
from gruponos_meltano_native.config import GruponosMeltanoSettings, load_settings
from gruponos_meltano_native.errors import ExitCode, PlatformError

DEMO_DIR = Path("demo-output")
DEMO_ORDERS = 2000
DELETED = 7  # allocations purged in the WMS between the two full syncs
STARTUP_TIMEOUT_SECONDS = 60


@contextmanager
def wms_simulator(orders: int = DEMO_ORDERS, seed: int = 7) -> Iterator[str]:
    """Run `wms-simulator` as a process on loopback; yields its base URL, stops it after."""
    command = [sys.executable, "-m", "wms_simulator", "--orders", str(orders)]
    # A session of its own: a Ctrl-C on the terminal must not stop it under the runs it
    # serves; it is stopped once they have stopped.
    process = subprocess.Popen(
        [*command, "--seed", str(seed)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    output = process.stdout
    assert output is not None  # stdout=PIPE
    first: list[str] = []
    reader = threading.Thread(target=lambda: first.append(output.readline()), daemon=True)
    reader.start()
    reader.join(STARTUP_TIMEOUT_SECONDS)
    prefix = "WMS simulator listening on "
    try:
        if not first or not first[0].startswith(prefix):
            raise PlatformError(f"the WMS simulator did not start: {first[0] if first else ''!r}")
        yield first[0][len(prefix) :].strip()
    finally:
        process.terminate()
        process.wait(timeout=30)


def simulator_admin(base_url: str, action: str, **params: object) -> dict[str, Any]:
    """Call an admin endpoint of the simulator (`advance`, `touch`, `insert`, `faults`)."""
    root = urlsplit(base_url)
    url = f"{root.scheme}://{root.netloc}/__simulator__/{action}?{urlencode(params)}"
    request = urllib.request.Request(url, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def _print_result(title: str, result: SyncResult) -> None:
    print(f"\n=== {title} ===", flush=True)
    assert result.report is not None
    print(render_report(result.report), flush=True)


async def _sync_facilities(
    settings: GruponosMeltanoSettings, mode: str, company: str, facilities: list[str]
) -> bool:
    platform = create_gruponos_meltano_platform(settings)
    outcome = await platform.execute_facilities(mode, company, facilities)
    for facility, result in outcome.results.items():
        _print_result(f"{mode} sync {company}/{facility}", result)
    print(f"\n{outcome.summary}", flush=True)
    return outcome.success


def _change_simulated_data(base_url: str, company: str, facility: str) -> None:
    scope = {"company": company, "facility": facility}
    simulator_admin(base_url, "advance", minutes=30)
    touched = simulator_admin(base_url, "touch", entity="order_hdr", count=25, **scope)
    inserted = simulator_admin(base_url, "insert", entity="order_hdr", count=10, **scope)
    allocations = simulator_admin(base_url, "touch", entity="allocation", count=15, **scope)
    deleted = simulator_admin(base_url, "delete", entity="allocation", count=DELETED, **scope)
    print(
        f"\n=== changes in the WMS ({facility}): 30 minutes later, "
        f"{len(touched['ids'])} orders updated, "
        f"{len(inserted['ids'])} new orders with lines and allocations, "
        f"{len(allocations['ids'])} allocations updated, "
        f"{len(deleted['ids'])} allocations purged (ids {deleted['ids']}) ===",
        flush=True,
    )


def _show_shared_table(database: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "select scope_facility_code, count(*), count(sdc_deleted_at) from allocation"
                " group by scope_facility_code order by 1"
            ).fetchall()
    except sa.exc.SQLAlchemyError as exc:
        print(f"(shared allocation table not shown: {str(exc).splitlines()[0]})", flush=True)
        return
    finally:
        engine.dispose()
    print("\n=== one allocation table, both facilities ===", flush=True)
    print("facility  rows  marked deleted", flush=True)
    for facility, count, marked in rows:
        print(f"{facility:8}  {count:4}  {marked:14}", flush=True)


def cli_hints(settings: GruponosMeltanoSettings, out: Path, simulated: bool) -> list[str]:
    """Return the `history` and `report` commands that show the demo's runs, as typed here.

    The simulated demo keeps its state and database in `demo-output/`, not where the CLI
    looks by default: its commands name both settings (absolute paths, so they work when
    copied). The CLI is the one installed next to this Python (`make install`'s .venv).
    """
    program = Path(sys.executable).parent / "gruponos-meltano"
    try:
        shown = str(program.relative_to(Path.cwd()))
    except ValueError:
        shown = str(program)
    prefix = ""
    if simulated:
        url = settings.oracle_db.sqlalchemy_url
        assert url is not None  # the simulated demo always names its database
        prefix = (
            f"GRUPONOS_MELTANO_STATE_DIR={shlex.quote(str(Path(settings.state_dir).resolve()))} "
            f"GRUPONOS_MELTANO_ORACLE_DB__SQLALCHEMY_URL={shlex.quote(url.get_secret_value())} "
        )
    return [
        f"{prefix}{shlex.quote(shown)} history",
        f"{prefix}{shlex.quote(shown)} report --out {shlex.quote(str(out.resolve()))}",
    ]


def _write_report(settings: GruponosMeltanoSettings, out: Path, simulated: bool) -> None:
    from gruponos_meltano_native.cli.history_commands import show_history, write_report

    print("\n=== run history ===", flush=True)
    print(show_history(settings, None, None, None, last=10), flush=True)
    path = write_report(settings, out)
    print(f"\nReport: {path} (open it in a browser)", flush=True)
    print("The demo's runs again, from this folder:", flush=True)
    for command in cli_hints(settings, out, simulated):
        print(f"  {command}", flush=True)


def main() -> int:
    """Run the demo; exit non-zero if a sync failed, 130 on Ctrl-C."""
    try:
        return _demo()
    except KeyboardInterrupt:
        # The runs in flight were stopped and recorded as interrupted (api._in_thread).
        print("\ninterrupted: the runs in flight were stopped and recorded", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except PlatformError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return int(exc.exit_code)


def _demo() -> int:
    settings = load_settings()
    company = settings.oracle_wms.company_code or "GNOS"
    facilities = list(settings.facilities) or ["DC01", "DC02"]
    if settings.oracle_wms.base_url:
        print(f"Real WMS {settings.oracle_wms.base_url}: full then incremental syncs", flush=True)
        ok = asyncio.run(_sync_facilities(settings, "full", company, facilities))
        ok = ok and asyncio.run(_sync_facilities(settings, "incremental", company, facilities))
        _write_report(settings, DEMO_DIR / "report.html", simulated=False)
        return 0 if ok else 1
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    database = (DEMO_DIR / "gruponos-demo.db").resolve()
    with wms_simulator() as base_url:
        print(f"WMS simulator on {base_url} ({DEMO_ORDERS} orders seeded)", flush=True)
        demo = settings.model_copy(
            update={
                "state_dir": DEMO_DIR / "state",
                "oracle_wms": settings.oracle_wms.model_copy(
                    update={
                        "base_url": base_url,
                        "username": "demo",
                        "password": SecretStr("demo-password"),
                    }
                ),
                "oracle_db": settings.oracle_db.model_copy(
                    update={"sqlalchemy_url": SecretStr(f"sqlite:///{database}")}
                ),
            }
        )
        print(f"\n##### 1. full sync of {', '.join(facilities)} into one database", flush=True)
        ok = asyncio.run(_sync_facilities(demo, "full", company, facilities))
        _change_simulated_data(base_url, company, facilities[0])
        print(
            "\n##### 2. incremental sync: the changes, no deletions\n"
            "(the first incremental after a full sync starts an hour before that full sync began,"
            " so each facility also re-reads its rows changed in that hour; upserts, no doubles)",
            flush=True,
        )
        ok = asyncio.run(_sync_facilities(demo, "incremental", company, facilities)) and ok
        print("\n##### 3. second full sync: purged allocations marked deleted", flush=True)
        ok = asyncio.run(_sync_facilities(demo, "full", company, facilities)) and ok
    _show_shared_table(database)
    print(f"\nDatabase: {database}", flush=True)
    print(
        f"Try: sqlite3 {database} 'select id, scope_facility_code, sdc_deleted_at from allocation"
        " where sdc_deleted_at is not null'",
        flush=True,
    )
    print("WMS simulator stopped.", flush=True)
    _write_report(demo, DEMO_DIR / "report.html", simulated=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
