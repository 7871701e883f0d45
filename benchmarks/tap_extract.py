"""Benchmark: records/s extracting order_dtl from the WMS simulator, and the tap's peak RSS.

Runs the simulator and the tap as separate processes (as in production, the tap competes
with nobody for its interpreter), reads the tap's stdout like a target would, and reports:

- CPU-bound: the figures for 10,000 and 40,000 records from a simulator without latency,
  to show the tap's own speed and that memory stays flat;
- latency-bound: 40,000 records from a simulator whose pages take 180 us a row (a live WMS
  is about 100 times slower) on 16 server workers, with `max_parallel_requests` 1 and 8,
  and the speed-up; then the same on only 4 server workers (requests beyond them queue).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from wms_simulator.capacity import live_latency

BIN = Path(sys.executable).parent
PAGE_SIZE = 1250


LIVE_SCALE = 0.01  # the live WMS's latency, 100 times faster
_, ROW_LATENCY_S = live_latency(LIVE_SCALE)  # 180 us a row
# A full sync is long: enough records that the tap's fixed start-up (~0.3 s) does not hide
# the steady rate the issue is about (the 8-request run of 40,000 lasts only ~1.4 s).
LATENCY_RECORDS = 100_000


def start_simulator(orders: int, *capacity: str) -> tuple[subprocess.Popen, str]:
    """Return a `wms-simulator` process and its base URL."""
    proc = subprocess.Popen(
        [str(BIN / "wms-simulator"), "--orders", str(orders), "--seed", "7", *capacity],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, line.rsplit(" ", 1)[-1].strip()


def tap_config(base_url: str, **extra: object) -> dict:
    """Return the tap's settings for reading order_dtl from a benchmark's simulator."""
    return {
        "base_url": base_url,
        "username": "demo",
        "password": "demo-password",
        "entities": ["order_dtl"],
        "page_size": PAGE_SIZE,
        **extra,
    }


def extract(
    base_url: str, records: int, parallel: int | None = None
) -> tuple[int, float, float, float, int, str]:
    """Run the tap once (`parallel`: its max_parallel_requests; None = the default).

    Returns records, seconds from its first message to its end (as a target sees it), the
    tap's own `sync_duration` metric, total seconds with start-up, peak RSS in KiB, and
    the tap's log.
    """
    # A fixed range of order lines: the simulator seeds 4 lines per order.
    config = tap_config(base_url, entity_filters={"order_dtl": {"id__lte": records}})
    if parallel is not None:
        config["max_parallel_requests"] = parallel
    with tempfile.TemporaryDirectory() as folder:
        config_path = Path(folder) / "config.json"
        config_path.write_text(json.dumps(config))
        with (Path(folder) / "tap.log").open("w+b") as log:
            started = time.perf_counter()
            proc = subprocess.Popen(
                [str(BIN / "tap-oracle-wms"), "--config", str(config_path)],
                stdout=subprocess.PIPE,
                stderr=log,
            )
            assert proc.stdout is not None
            count, first = 0, None
            for line in proc.stdout:
                if first is None:
                    first = time.perf_counter()
                if line.startswith(b'{"type":"RECORD"'):
                    count += 1
            ended = time.perf_counter()
            _, status, usage = os.wait4(proc.pid, 0)
            if status != 0:
                sys.exit(f"tap-oracle-wms failed (wait status {status})")
            log.seek(0)
            text = log.read().decode(errors="replace")
            metric = re.search(r'"metric":"sync_duration","value":([0-9.]+)', text)
    sync_seconds = float(metric.group(1)) if metric else float("nan")
    return count, ended - (first or started), sync_seconds, ended - started, usage.ru_maxrss, text


def serve_rate(base_url: str) -> tuple[int, float]:
    """Records/s the simulator serves to a client that only reads the bytes (no decoding)."""
    session = requests.Session()
    session.auth = ("demo", "demo-password")
    url = f"{base_url}/wms/lgfapi/v10/entity/order_dtl/"
    params = {"page_size": PAGE_SIZE, "page_mode": "paged"}
    first = session.get(url, params={**params, "page_size": 1}, timeout=60).json()
    started = time.perf_counter()
    for page in range(1, first["result_count"] // PAGE_SIZE + 2):
        response = session.get(url, params={**params, "page": page}, timeout=60)
        if response.status_code == 404:
            break
        response.raise_for_status()
    return first["result_count"], time.perf_counter() - started


def latency_bound(workers: int) -> None:
    """Print rates with 1 and 8 requests in flight against a saturating simulator."""
    sim, base_url = start_simulator(
        LATENCY_RECORDS // 4, "--live-latency", f"{LIVE_SCALE}", "--workers", str(workers)
    )
    try:
        rates, synced = {}, {}
        for parallel in (1, 8):
            count, seconds, sync_seconds, _, rss, log = extract(base_url, LATENCY_RECORDS, parallel)
            if count != LATENCY_RECORDS:
                sys.exit(f"expected {LATENCY_RECORDS} records, got {count}")
            rates[parallel], synced[parallel] = count / seconds, count / sync_seconds
            retries, cuts = log.count("Retrying "), log.count("WMS throttling")
            print(
                f"latency-bound ({ROW_LATENCY_S * 1e6:.0f} us/row, {workers} server workers): "
                f"max_parallel_requests {parallel}: {count} order_dtl records at "
                f"{rates[parallel]:,.0f} records/s as read from its stdout ({seconds:.2f} s; "
                f"{synced[parallel]:,.0f} by its sync_duration metric), {retries} retries, "
                f"{cuts} throttling cuts, peak RSS {rss / 1024:.1f} MiB"
            )
        print(
            f"latency-bound ({workers} server workers): speed-up with 8 requests in flight: "
            f"{rates[8] / rates[1]:.1f}x as read from stdout "
            f"({synced[8] / synced[1]:.1f}x by sync_duration)"
        )
    finally:
        sim.terminate()
        sim.wait()


def main() -> None:
    """Print the figures."""
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    sim, base_url = start_simulator(orders=10_000)
    try:
        served, seconds = serve_rate(base_url)
        print(
            f"wms-simulator: served {served} order_dtl records at {served / seconds:,.0f} records/s"
        )
        for records in (10_000, 40_000):
            count, seconds, sync_seconds, total, rss, _ = extract(base_url, records)
            print(
                f"tap-oracle-wms: {count} order_dtl records at page_size {PAGE_SIZE}: "
                f"{count / seconds:,.0f} records/s as read from its stdout "
                f"({count / sync_seconds:,.0f} by its sync_duration metric; "
                f"{total:.2f} s with start-up), peak RSS {rss / 1024:.1f} MiB"
            )
    finally:
        sim.terminate()
        sim.wait()
    latency_bound(workers=16)
    latency_bound(workers=4)
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
