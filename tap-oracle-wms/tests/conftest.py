"""Shared fixtures: a live WMS simulator over loopback and a runner for the tap's CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from wms_simulator import WMSSimulator

TAP = str(Path(sys.executable).parent / "tap-oracle-wms")


PROFILES = ("default", "live")


@pytest.fixture(scope="session", params=PROFILES)
def sim(request):
    """A shared simulator per profile that tests must not modify (`fresh_sim` to mutate).

    Tests using it run against the default profile and the live one (the shapes observed
    on a production WMS); tests of things the shapes do not touch use `default_sim`.
    """
    with WMSSimulator(orders=120, seed=11, profile=request.param) as simulator:
        yield simulator


@pytest.fixture(scope="session")
def default_sim():
    """The shared default-profile simulator (for tests independent of record shapes)."""
    with WMSSimulator(orders=120, seed=11) as simulator:
        yield simulator


@pytest.fixture(scope="session")
def live_sim():
    """A shared live-profile simulator (for tests of live shapes only)."""
    with WMSSimulator(orders=120, seed=11, profile="live") as simulator:
        yield simulator


@pytest.fixture
def fresh_sim():
    """A simulator of this test's own, free to mutate."""
    with WMSSimulator(orders=60, seed=5) as simulator:
        yield simulator


def base_config(simulator: WMSSimulator, **overrides) -> dict:
    """Tap settings for basic auth against a simulator."""
    config = {
        "base_url": simulator.base_url,
        "username": simulator.username,
        "password": simulator.password,
        "page_size": 50,
    }
    config.update(overrides)
    return config


@pytest.fixture
def config_for():
    """Build tap settings for a simulator."""
    return base_config


@dataclass
class TapRun:
    """The outcome of one `tap-oracle-wms` process."""

    returncode: int
    messages: list[dict]
    stdout: str
    stderr: str
    records: dict[str, list[dict]] = field(default_factory=dict)

    @property
    def last_state(self) -> dict | None:
        states = [m["value"] for m in self.messages if m["type"] == "STATE"]
        return states[-1] if states else None


@pytest.fixture
def run_tap(tmp_path):
    """Run the tap as a real subprocess; parse its stdout as Singer messages."""

    def run(
        config: dict, state: dict | None = None, *extra: str, catalog: dict | None = None
    ) -> TapRun:
        config_path = tmp_path / "config.json"
        config_path.write_text(json.dumps(config))
        args = [TAP, "--config", str(config_path), *extra]
        if state is not None:
            state_path = tmp_path / "state.json"
            state_path.write_text(json.dumps(state))
            args += ["--state", str(state_path)]
        if catalog is not None:
            catalog_path = tmp_path / "catalog.json"
            catalog_path.write_text(json.dumps(catalog))
            args += ["--catalog", str(catalog_path)]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
        messages = []
        if "--discover" not in extra:
            messages = [json.loads(line) for line in proc.stdout.splitlines()]
        result = TapRun(proc.returncode, messages, proc.stdout, proc.stderr)
        for message in messages:
            if message["type"] == "RECORD":
                result.records.setdefault(message["stream"], []).append(message["record"])
        return result

    return run
