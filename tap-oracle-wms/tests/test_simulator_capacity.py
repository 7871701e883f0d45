"""The simulator's capacity model: latency per page and per row, bounded workers that queue."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from wms_simulator import WMSSimulator


def get_pages(sim: WMSSimulator, count: int, page_size: int = 10) -> list[int]:
    """Send `count` list requests at the same moment, each on its own connection."""
    barrier = threading.Barrier(count)
    statuses: list[int] = []

    def one() -> None:
        barrier.wait()
        response = requests.get(
            sim.api_url + "order_dtl/",
            params={"page_size": page_size},
            auth=(sim.username, sim.password),
            timeout=30,
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def settled(capacity) -> bool:
    """Whether every request has left the server (a handler counts out after replying)."""
    deadline = time.monotonic() + 5
    while (capacity.busy or capacity.queued) and time.monotonic() < deadline:
        time.sleep(0.01)
    return capacity.busy == 0 and capacity.queued == 0


def test_capacity_is_off_by_default(fresh_sim):
    capacity = fresh_sim.capacity
    assert (capacity.page_latency, capacity.row_latency, capacity.workers) == (0, 0, 0)
    assert get_pages(fresh_sim, 3) == [200, 200, 200]
    assert settled(capacity) and capacity.peak_queued == 0


def test_a_page_takes_its_page_and_row_latency(fresh_sim):
    fresh_sim.set_capacity(page_latency=0.05, row_latency=0.002)
    auth = (fresh_sim.username, fresh_sim.password)
    started = time.monotonic()
    response = requests.get(
        fresh_sim.api_url + "order_dtl/", params={"page_size": 100}, auth=auth, timeout=30
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 200 and len(response.json()["results"]) == 100
    assert elapsed >= 0.05 + 100 * 0.002  # a lower bound: the model's floor, not a speed goal


def test_requests_beyond_the_workers_queue(fresh_sim):
    fresh_sim.set_capacity(page_latency=0.2, workers=2)
    started = time.monotonic()
    assert get_pages(fresh_sim, 6) == [200] * 6
    elapsed = time.monotonic() - started
    capacity = fresh_sim.capacity
    assert capacity.peak_busy == 2  # never more than the workers at once
    assert capacity.peak_queued >= 1
    assert elapsed >= 3 * 0.2  # six pages on two workers take three rounds at least
    assert settled(capacity)


def test_workers_can_change_while_serving(fresh_sim):
    fresh_sim.set_capacity(page_latency=0.05, workers=1)
    fresh_sim.capacity.reset_peaks()
    assert get_pages(fresh_sim, 3) == [200] * 3
    assert fresh_sim.capacity.peak_busy == 1
    fresh_sim.set_capacity()
    assert get_pages(fresh_sim, 2) == [200] * 2


def test_negative_settings_are_refused():
    with pytest.raises(ValueError, match="page_latency, row_latency and workers"):
        WMSSimulator(orders=5, row_latency=-1)


def test_the_live_latency_figure_scaled():
    sim = WMSSimulator(orders=5, live_latency_scale=0.01)
    assert (sim.capacity.page_latency, sim.capacity.row_latency) == (0, pytest.approx(0.00018))
    assert 17 <= 1000 * WMSSimulator(orders=5, live_latency_scale=1).capacity.row_latency <= 21
    with pytest.raises(ValueError, match="not both"):
        WMSSimulator(orders=5, live_latency_scale=0.01, row_latency=0.001)
    with pytest.raises(ValueError, match="positive"):
        WMSSimulator(orders=5, live_latency_scale=-1)


def test_cli_offers_the_live_latency():
    exe = str(Path(sys.executable).parent / "wms-simulator")
    shown = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=30, check=True)
    assert "--live-latency SCALE" in shown.stdout and "17-21 s" in shown.stdout
    both = subprocess.run(
        [exe, "--live-latency", "0.01", "--row-latency", "0.001"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert both.returncode == 2 and "--live-latency replaces" in both.stderr
    proc = subprocess.Popen(
        [exe, "--orders", "5", "--profile", "live", "--live-latency", "0.001"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = proc.stdout.readline().split()[-1]
        started = time.monotonic()
        response = requests.get(
            f"{base_url}/wms/lgfapi/v10/entity/order_dtl/",
            params={"page_size": 20},
            auth=("demo", "demo-password"),
            timeout=10,
        )
        assert response.status_code == 200 and len(response.json()["results"]) == 20
        assert time.monotonic() - started >= 20 * 0.018 * 0.001
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_cli_takes_the_capacity_options():
    exe = str(Path(sys.executable).parent / "wms-simulator")
    bad = subprocess.run(
        [exe, "--workers", "-2"], capture_output=True, text=True, timeout=30, check=False
    )
    assert bad.returncode == 2 and "--workers must be 0 (off) or positive" in bad.stderr
    proc = subprocess.Popen(
        [
            exe,
            "--orders",
            "5",
            "--page-latency",
            "0.01",
            "--row-latency",
            "0.0001",
            "--workers",
            "2",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = proc.stdout.readline().split()[-1]
        response = requests.get(
            f"{base_url}/wms/lgfapi/v10/entity/order_dtl/",
            auth=("demo", "demo-password"),
            timeout=10,
        )
        assert response.status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
