"""`make dagster`: the UI comes up on the demo with both facilities' runs and checks."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import requests

STARTUP_SECONDS = 240
QUERY = """{
  runsOrError { ... on Runs { results { status tags { key value } } } }
  assetNodes { assetKey { path } }
}"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_demo_serves_the_ui_with_both_facilities_runs(tmp_path):
    port = _free_port()
    command = [sys.executable, "-m", "gruponos_dagster.demo", "--port", str(port)]
    with open(tmp_path / "demo.log", "w") as log:
        demo = subprocess.Popen(command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while True:
                assert demo.poll() is None, (tmp_path / "demo.log").read_text()[-3000:]
                try:
                    answer = requests.post(
                        f"http://127.0.0.1:{port}/graphql", json={"query": QUERY}, timeout=10
                    )
                    break
                except requests.ConnectionError:
                    assert time.monotonic() < deadline, (tmp_path / "demo.log").read_text()
                    time.sleep(1)
            data = answer.json()["data"]
            runs = data["runsOrError"]["results"]
            partitions = sorted(
                tag["value"]
                for run in runs
                for tag in run["tags"]
                if tag["key"] == "dagster/partition"
            )
            assert partitions == ["GNOS/DC01", "GNOS/DC02"]
            assert {run["status"] for run in runs} == {"SUCCESS"}
            assets = sorted("/".join(node["assetKey"]["path"]) for node in data["assetNodes"])
            assert assets == ["wms/allocation", "wms/order_dtl", "wms/order_hdr"]
        finally:
            demo.send_signal(signal.SIGTERM)
            assert demo.wait(timeout=60) == 0
    # The UI's processes went with it (dagster dev, its daemon and webserver).
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert f"-p {port}" not in ps and f"--port {port}" not in ps
