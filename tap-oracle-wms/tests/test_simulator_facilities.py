"""`--facilities N`: each company gets N facilities with their own data; facilities can be added."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests
from wms_simulator import WMSSimulator


def _facility_codes(base_url: str, auth: tuple[str, str], company: str) -> list[str]:
    url = f"{base_url}/wms/lgfapi/v10/entity/facility/"
    params = {"parent_company_id__code": company, "page_mode": "paged", "page_size": 100}
    body = requests.get(url, params=params, auth=auth, timeout=10).json()
    return sorted(row["code"] for row in body["results"])


def test_cli_facilities_gives_each_company_n_facilities_with_their_own_orders():
    exe = Path(sys.executable).parent / "wms-simulator"
    command = [str(exe), "--orders", "240", "--facilities", "3"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        base_url = proc.stdout.readline().split()[-1]
        auth = ("demo", "demo-password")
        assert _facility_codes(base_url, auth, "GNOS") == ["DC01", "DC02", "DC03"]
        assert _facility_codes(base_url, auth, "OTHR") == ["DC90", "DC91", "DC92"]
        url = f"{base_url}/wms/lgfapi/v10/entity/order_hdr/"
        counts = {}
        for code in ("DC01", "DC02", "DC03", "DC90", "DC91", "DC92"):
            params = {"facility_id__code": code, "page_mode": "paged", "page_size": 1}
            counts[code] = requests.get(url, params=params, auth=auth, timeout=10).json()[
                "result_count"
            ]
        assert sum(counts.values()) == 240
        assert all(counts.values()), counts  # every facility has orders of its own
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_cli_refuses_zero_facilities():
    exe = Path(sys.executable).parent / "wms-simulator"
    run = subprocess.run([str(exe), "--facilities", "0"], capture_output=True, text=True)
    assert run.returncode == 2 and "--facilities must be at least 1" in run.stderr


def test_default_layout_is_unchanged():
    sim = WMSSimulator(orders=10, seed=3)
    codes = {(row["code"], row["parent_company_id"]) for row in sim.rows("facility").values()}
    assert codes == {("DC01", 1), ("DC02", 1), ("DC90", 2)}


def test_admin_insert_adds_a_facility_to_a_company():
    with WMSSimulator(orders=10, seed=3) as sim:
        added = requests.post(
            sim.root_url + "/__simulator__/insert",
            params={"entity": "facility", "count": 1, "company": "GNOS"},
            timeout=10,
        )
        assert added.status_code == 200
        named = requests.post(
            sim.root_url + "/__simulator__/insert",
            params={"entity": "facility", "count": 1, "company": "GNOS", "facility": "DC07"},
            timeout=10,
        )
        assert named.status_code == 200
        auth = (sim.username, sim.password)
        assert _facility_codes(sim.base_url, auth, "GNOS") == ["DC01", "DC02", "DC03", "DC07"]
        assert sim.count("location", "GNOS", "DC07") > 0  # orders can be inserted there
        again = requests.post(
            sim.root_url + "/__simulator__/insert",
            params={"entity": "facility", "count": 1, "company": "GNOS", "facility": "DC07"},
            timeout=10,
        )
        assert again.status_code == 400 and "exists" in again.text
