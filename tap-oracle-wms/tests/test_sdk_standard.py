"""The Meltano SDK's standard tap tests, against a small live simulator."""

from __future__ import annotations

import pytest
from singer_sdk.testing import get_tap_test_class
from tap_oracle_wms.tap import TapOracleWMS
from wms_simulator import WMSSimulator

# The SDK builds its test class from a config at import time, so the simulator starts here.
_SIM = WMSSimulator(orders=25, seed=4).start()


@pytest.fixture(scope="module", autouse=True)
def _stop_simulator():
    yield
    _SIM.stop()


TestTapOracleWMS = get_tap_test_class(
    TapOracleWMS,
    config={
        "base_url": _SIM.base_url,
        "username": _SIM.username,
        "password": _SIM.password,
        "entities": ["allocation", "order_hdr", "order_dtl", "item", "company", "order_status"],
        "page_size": 20,
    },
)
