"""`make demo`: a full sync, a change in the WMS, an incremental sync, and the proof.

Without settings it runs on the embedded default: the WMS simulator on loopback and a SQLite
file in `demo-output/`. With `GRUPONOS_MELTANO_ORACLE_WMS__BASE_URL` (and the database settings)
set, the same steps run against the real WMS and database, minus the simulated changes.
"""

from __future__ import annotations

import asyncio
import json
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

from pydantic import SecretStr

from gruponos_meltano_native.api import SyncResult, create_gruponos_meltano_platform
from gruponos_meltano_native.cli import render_report
from gruponos_meltano_native.config import GruponosMeltanoSettings, load_settings
from gruponos_meltano_native.errors import PlatformError
from gruponos_meltano_native.progress import Progress

DEMO_DIR = Path("demo-output")
DEMO_ORDERS = 2000
STARTUP_TIMEOUT_SECONDS = 60


@contextmanager
def wms_simulator(orders: int = DEMO_ORDERS, seed: int = 7) -> Iterator[str]:
    """Run `wms-simulator` as a process on loopback; yields its base URL, stops it after."""
    command = [sys.executable, "-m", "tap_oracle_wms.simulator", "--orders", str(orders)]
    process = subprocess.Popen([*command, "--seed", str(seed)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    first: list[str] = []
    reader = threading.Thread(target=lambda: first.append(process.stdout.readline()), daemon=True)
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
        return json.loads(response.read())


def _print_result(title: str, result: SyncResult) -> None:
    print(f"\n=== {title} ===", flush=True)
    assert result.report is not None
    print(render_report(result.report), flush=True)


async def _sync_twice(
    settings: GruponosMeltanoSettings, company: str, facility: str, change: object
) -> bool:
    platform = create_gruponos_meltano_platform(settings)
    progress = Progress()
    full = await platform.execute_full_sync(company, facility, progress=progress)
    progress.finish()
    _print_result(f"full sync {company}/{facility}", full)
    if not full.success:
        return False
    if callable(change):
        change()
    incremental = await platform.execute_incremental_sync(company, facility, progress=progress)
    progress.finish()
    _print_result(f"incremental sync {company}/{facility}", incremental)
    return incremental.success


def _change_simulated_data(base_url: str, company: str, facility: str) -> None:
    scope = {"company": company, "facility": facility}
    simulator_admin(base_url, "advance", minutes=30)
    touched = simulator_admin(base_url, "touch", entity="order_hdr", count=25, **scope)
    inserted = simulator_admin(base_url, "insert", entity="order_hdr", count=10, **scope)
    allocations = simulator_admin(
        base_url, "touch", entity="allocation", count=15, facility=facility
    )
    print(
        f"\n=== changes in the WMS: 30 minutes later, {len(touched['ids'])} orders updated, "  # type: ignore[arg-type]
        f"{len(inserted['ids'])} new orders with lines and allocations, "  # type: ignore[arg-type]
        f"{len(allocations['ids'])} allocations updated ===",  # type: ignore[arg-type]
        flush=True,
    )


def _write_report(settings: GruponosMeltanoSettings, out: Path) -> None:
    from gruponos_meltano_native.history_commands import show_history, write_report

    print("\n=== run history ===", flush=True)
    print(show_history(settings, None, None, None, last=10), flush=True)
    path = write_report(settings, out)
    print(f"\nReport: {path} (open it in a browser; `gruponos-meltano report` makes a new one)")


def main() -> int:
    """Run the demo; exit non-zero if a sync failed."""
    settings = load_settings()
    company = settings.oracle_wms.company_code or "GNOS"
    facility = settings.oracle_wms.facility_code or "DC01"
    if settings.oracle_wms.base_url:
        print(f"Real WMS {settings.oracle_wms.base_url}: full then incremental sync", flush=True)
        ok = asyncio.run(_sync_twice(settings, company, facility, None))
        _write_report(settings, DEMO_DIR / "report.html")
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
                        # Order lines have no facility of their own: scope them by their order's.
                        "entity_filters": {
                            "order_dtl": {"order_id__facility_id__code": "{facility}"}
                        },
                    }
                ),
                "oracle_db": settings.oracle_db.model_copy(
                    update={"sqlalchemy_url": SecretStr(f"sqlite:///{database}")}
                ),
            }
        )
        ok = asyncio.run(
            _sync_twice(
                demo, company, facility, lambda: _change_simulated_data(base_url, company, facility)
            )
        )
    print(f"\nDatabase: {database}", flush=True)
    print(f"Try: sqlite3 {database} 'select count(*) from order_dtl'", flush=True)
    print("WMS simulator stopped.", flush=True)
    _write_report(demo, DEMO_DIR / "report.html")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
