"""Benchmark: load 200,000 order_dtl-shaped Singer records with target-gruponos-oracle.

Generates the Singer file in a temporary directory, then runs the real executable (one
process per run, as a pipeline would) into SQLite and into a throwaway PostgreSQL server
started here: first an upsert into a fresh table, then the same file again into the loaded
table. Prints rows/s and the target process's peak RSS for each run.

Usage: .venv/bin/python benchmarks/target_load.py [--records N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gruponos_testing.postgres import PostgresUnavailableError, ephemeral_postgres

EXECUTABLE = Path(sys.executable).parent / "target-gruponos-oracle"

SCHEMA = {
    "type": "SCHEMA",
    "stream": "order_dtl",
    "key_properties": ["id"],
    "schema": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "order_id": {"type": ["null", "integer"]},
            "seq_nbr": {"type": ["null", "integer"]},
            "item_code": {"type": ["null", "string"], "maxLength": 40},
            "description": {"type": ["null", "string"]},
            "ord_qty": {"type": ["null", "number"]},
            "alloc_qty": {"type": ["null", "number"]},
            "unit_price": {"type": ["null", "number"]},
            "status_id": {"type": ["null", "integer"]},
            "company_code": {"type": ["null", "string"]},
            "facility_code": {"type": ["null", "string"]},
            "create_ts": {"type": ["null", "string"], "format": "date-time"},
            "mod_ts": {"type": ["null", "string"], "format": "date-time"},
            "is_backordered": {"type": ["null", "boolean"]},
        },
    },
}


def write_singer_file(path: Path, records: int) -> None:
    """Write SCHEMA, `records` RECORDs and a STATE every 10,000 records."""
    rng = random.Random(42)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=-3)))
    with path.open("w", encoding="utf-8") as out:
        out.write(json.dumps(SCHEMA) + "\n")
        for i in range(1, records + 1):
            ts = (start + dt.timedelta(seconds=i * 7)).isoformat()
            record = {
                "id": i,
                "order_id": 1 + i // 4,
                "seq_nbr": i % 4 + 1,
                "item_code": f"ITEM-{rng.randrange(100_000):06d}",
                "description": f"Item description {rng.randrange(10_000)} for order line",
                "ord_qty": rng.randrange(1, 500),
                "alloc_qty": round(rng.random() * 100, 3),
                "unit_price": round(rng.random() * 1000, 2),
                "status_id": rng.choice((0, 10, 20, 30, 90)),
                "company_code": "GNOS",
                "facility_code": rng.choice(("DC01", "DC02")),
                "create_ts": ts,
                "mod_ts": ts,
                "is_backordered": rng.random() < 0.1,
            }
            out.write(json.dumps({"type": "RECORD", "stream": "order_dtl", "record": record}))
            out.write("\n")
            if i % 10_000 == 0:
                state = {"bookmarks": {"order_dtl": {"replication_key_value": ts}}}
                out.write(json.dumps({"type": "STATE", "value": state}) + "\n")


def run_target(config: dict, singer_file: Path, workdir: Path) -> tuple[float, float, float]:
    """Run the executable once; return (wall seconds, CPU seconds, peak RSS in MB)."""
    config_path = workdir / "config.json"
    config_path.write_text(json.dumps(config))
    with singer_file.open("rb") as stdin:
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(EXECUTABLE), "--config", str(config_path)],
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
    stderr = process.stderr.read().decode() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"target failed:\n{stderr[-2000:]}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def bench(label: str, config: dict, singer_file: Path, records: int, workdir: Path) -> None:
    """Fresh-table upsert, then re-upsert of the same file; print figures.

    Each run is a whole process. Besides its wall-clock rate, the rate net of the fixed
    start-up cost (interpreter and imports: a run with empty input) is shown, which is what
    a long load of millions of rows sees, and the CPU time the target process used (a figure
    that other work on a shared machine disturbs less than wall time).
    """
    empty = workdir / "empty.singer"
    empty.write_text("")
    startup = min(run_target(config, empty, workdir)[0] for _ in range(3))
    for phase in ("fresh table", "re-upsert"):
        seconds, cpu, rss = run_target(config, singer_file, workdir)
        print(
            f"{label:<11} {phase:<12} {records:,} rows {seconds:5.2f} s "
            f"{records / seconds:>7,.0f} rows/s | net of {startup:.2f} s start-up "
            f"{records / (seconds - startup):>7,.0f} rows/s | CPU {cpu:5.2f} s | "
            f"peak RSS {rss:5.1f} MB",
            flush=True,
        )


def main() -> None:
    """Generate the file and run the benchmark on SQLite and PostgreSQL."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="target-load-"))
    try:
        singer_file = workdir / "order_dtl.singer"
        write_singer_file(singer_file, args.records)
        size_mb = singer_file.stat().st_size / 1e6
        print(f"target_load: {args.records:,} order_dtl records, 14 columns ({size_mb:.0f} MB)")
        sqlite_url = f"sqlite:///{workdir / 'bench.db'}"
        bench("sqlite", {"sqlalchemy_url": sqlite_url}, singer_file, args.records, workdir)
        try:
            with ephemeral_postgres() as url:
                bench("postgresql", {"sqlalchemy_url": url}, singer_file, args.records, workdir)
        except PostgresUnavailableError as exc:
            print(f"postgresql  skipped: {exc}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
