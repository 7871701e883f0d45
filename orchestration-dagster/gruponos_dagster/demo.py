"""`make dagster`: the Dagster UI on the demo setup (WMS simulator + SQLite).

Starts the simulator, points the platform at it (GNOS, facilities DC01 and DC02, one SQLite
database and a Dagster instance in `demo-output/dagster/`), materializes a full sync of each
facility partition so that runs, asset metadata and checks are there to see, then serves the
UI with `dagster dev` until Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from dagster import DagsterInstance
from gruponos_meltano_native.config import load_settings
from gruponos_meltano_native.demo import wms_simulator

from gruponos_dagster.defs import FULL_JOB, build_definitions
from gruponos_dagster.partitions import register_configured
from gruponos_dagster.settings import load_dagster_settings

DEMO_DIR = Path("demo-output") / "dagster"
ORDERS = 400
# The demo instance: SQLite storage (Dagster's default) with the per-facility run limit.
INSTANCE_YAML = """\
concurrency:
  runs:
    tag_concurrency_limits:
      - key: dagster/partition
        value:
          applyLimitPerUniqueValue: true
        limit: 1
telemetry:
  enabled: false
"""


def _demo_environment(base_url: str, folder: Path) -> dict[str, str]:
    return {
        "GRUPONOS_MELTANO_ORACLE_WMS__BASE_URL": base_url,
        "GRUPONOS_MELTANO_ORACLE_WMS__USERNAME": "demo",
        "GRUPONOS_MELTANO_ORACLE_WMS__PASSWORD": "demo-password",
        "GRUPONOS_MELTANO_ORACLE_WMS__COMPANY_CODE": "GNOS",
        "GRUPONOS_MELTANO_FACILITIES": "DC01,DC02",
        "GRUPONOS_MELTANO_ORACLE_DB__SQLALCHEMY_URL": f"sqlite:///{folder / 'gruponos.db'}",
        "GRUPONOS_MELTANO_STATE_DIR": str(folder / "state"),
        "DAGSTER_HOME": str(folder / "home"),
    }


def _first_runs() -> bool:
    """Register the facility partitions and materialize a full sync of each."""
    settings = load_settings()
    defs = build_definitions(settings, load_dagster_settings())
    job = defs.resolve_job_def(FULL_JOB)
    ok = True
    with DagsterInstance.get() as instance:
        for key in register_configured(instance, settings):
            result = job.execute_in_process(
                instance=instance, partition_key=key, raise_on_error=False
            )
            print(f"full sync {key}: {'succeeded' if result.success else 'FAILED'}", flush=True)
            ok = ok and result.success
    return ok


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the UI and the simulator as Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    """Prepare the demo, then serve the UI until interrupted."""
    signal.signal(signal.SIGTERM, _interrupt)
    parser = argparse.ArgumentParser(prog="python -m gruponos_dagster.demo", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    args = parser.parse_args(argv)
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    folder = DEMO_DIR.resolve()
    (folder / "home").mkdir(parents=True)
    (folder / "home" / "dagster.yaml").write_text(INSTANCE_YAML)
    with wms_simulator(orders=ORDERS) as base_url:
        os.environ.update(_demo_environment(base_url, folder))
        print(f"WMS simulator on {base_url}; Dagster instance in {folder / 'home'}", flush=True)
        if not _first_runs():
            return 1
        print(f"\nDagster UI: http://{args.host}:{args.port} (Ctrl-C stops it)", flush=True)
        dagster = Path(sys.executable).parent / "dagster"
        command = [str(dagster), "dev", "-m", "gruponos_dagster.defs"]
        server = subprocess.Popen([*command, "-h", args.host, "-p", str(args.port)])
        try:
            return server.wait()
        except KeyboardInterrupt:
            server.terminate()
            server.wait(timeout=60)
            return 0


if __name__ == "__main__":
    sys.exit(main())
