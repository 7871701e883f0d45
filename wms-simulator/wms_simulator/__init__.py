"""A fast, deterministic Oracle WMS Cloud lgfapi simulator served over loopback HTTP.

with WMSSimulator(orders=200, seed=1) as sim:
    config = {"base_url": sim.base_url, "username": sim.username, "password": sim.password}
"""

from __future__ import annotations

import datetime as dt
import threading
import types
import typing as t

from wms_simulator.capacity import Capacity, live_latency
from wms_simulator.faults import FaultSettings
from wms_simulator.server import SimulatorServer
from wms_simulator.state import SimulatorState
from wms_simulator.store import Store

__all__ = ["FaultSettings", "WMSSimulator"]

OAUTH_SCOPE = "urn:resource:fusion:scm:logistics:wms:lgfapi/"


class WMSSimulator:
    """The lgfapi of one WMS environment, with seeded data, a clock, and fault injection."""

    def __init__(
        self,
        orders: int = 1000,
        seed: int = 1,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        environment: str = "gnos_sim",
        username: str = "demo",
        password: str = "demo-password",
        oauth_client_id: str = "demo-client",
        oauth_client_secret: str = "demo-secret",
        token_ttl: float = 3600,
        start: dt.datetime | None = None,
        page_latency: float = 0,
        row_latency: float = 0,
        workers: int = 0,
        live_latency_scale: float = 0,
        cursor_ignores_ordering: bool = False,
        profile: str = "default",
        facilities: int | None = None,
        clock_skew_minutes: float = 0,
    ) -> None:
        """Seed the data; `start()` (or `with`) begins serving.

        `facilities`: each company gets that many facilities, each with its own data (see
        `Store`); None: GNOS has DC01 and DC02, OTHR has DC90.
        `profile`: "default" (fast, this project's first shapes) or "live" (the shapes
        observed on a live instance: see live.py and wms-lgf-api.md).
        `cursor_ignores_ordering`: sequenced cursors return rows in id order whatever
        `ordering` asks (unconfirmed on a live WMS either way); paged mode still orders.
        `page_latency`, `row_latency` (seconds) and `workers` set the capacity model
        (see `set_capacity`); all off by default. `live_latency_scale` sets the latencies
        to the live WMS's figure (1,000-row pages in 17-21 s) times the scale: 1 = as slow
        as the live instance, 0.01 = 100 times faster (instead of the two latencies).
        `clock_skew_minutes`: the WMS's clock runs this far ahead of the host's (behind when
        negative); its data and its `Date` header follow the simulated clock, never the host's.
        """
        if live_latency_scale:
            if page_latency or row_latency:
                msg = "give live_latency_scale or page_latency/row_latency, not both"
                raise ValueError(msg)
            page_latency, row_latency = live_latency(live_latency_scale)
        self.username, self.password = username, password
        self.oauth_client_id, self.oauth_client_secret = oauth_client_id, oauth_client_secret
        self.oauth_scope = OAUTH_SCOPE
        self.environment = environment
        self.profile = profile
        if clock_skew_minutes:
            start = (start or dt.datetime.now(dt.UTC)) + dt.timedelta(minutes=clock_skew_minutes)
        self._store = Store(orders, seed, start, profile, facilities)
        # "noaccess" authenticates but lacks lgfapi_read_access: the WMS answers 403.
        self._state = SimulatorState(
            self._store,
            {username: password, "noaccess": "noaccess-password"},
            {
                "client_id": oauth_client_id,
                "client_secret": oauth_client_secret,
                "scope": OAUTH_SCOPE,
            },
            token_ttl,
        )
        self._state.capacity.set(page_latency, row_latency, workers)
        self._state.cursor_ignores_ordering = cursor_ignores_ordering
        self._address = (host, port)
        self._server: SimulatorServer | None = None
        self._thread: threading.Thread | None = None
        self.root_url = self.base_url = self.oauth_token_url = ""

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> WMSSimulator:
        """Bind a port and serve in a background thread."""
        self._server = SimulatorServer(self._address, self._state, self.environment, self)
        host, port = self._server.server_address[:2]
        assert isinstance(host, str)  # an AF_INET server's address: (host, port)
        self.root_url = f"http://{host}:{port}"
        self.base_url = f"{self.root_url}/{self.environment}"
        self.oauth_token_url = f"{self.root_url}/oauth2/v1/token"
        self._store.base_url = f"{self.base_url}/wms/lgfapi/v10"
        # Live record URLs are absolute with an explicit :443 (shape only: not served here).
        self._store.display_url = f"https://{host}:443/{self.environment}/wms/lgfapi/v10"
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, name="wms-simulator"
        )
        # Encoding rows is the costly part of serving: do it once, before serving.
        self._store.warm()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> WMSSimulator:
        """Start serving."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop serving."""
        self.stop()

    @property
    def api_url(self) -> str:
        """The entity API root, e.g. `…/gnos_sim/wms/lgfapi/v10/entity/`."""
        return f"{self._store.base_url}/entity/"

    # -- data ------------------------------------------------------------------------
    def now(self) -> dt.datetime:
        """Return the simulated current time."""
        return self._store.now()

    def advance(self, minutes: float) -> None:
        """Move the simulated clock forward."""
        self._store.advance(minutes)

    def touch(
        self, entity: str, count: int, company: str | None = None, facility: str | None = None
    ) -> list[int]:
        """Update `count` existing rows (mod_ts = simulated now); their ids."""
        return self._store.touch(entity, count, company, facility)

    def insert(
        self, entity: str, count: int, company: str | None = None, facility: str | None = None
    ) -> list[int]:
        """Add `count` rows created now (orders come with lines and allocations); their ids."""
        return self._store.insert(entity, count, company, facility)

    def delete(
        self, entity: str, count: int, company: str | None = None, facility: str | None = None
    ) -> list[int]:
        """Purge `count` rows that no other row refers to (e.g. allocations); their ids."""
        return self._store.delete(entity, count, company, facility)

    def set_value(self, entity: str, row_id: int, name: str, value: t.Any) -> None:
        """Give one row's field a value, as a data-entry error would (say `mod_ts` in 2099).

        Filters see the new value; an `id` (e.g. None) only changes what is served.
        """
        self._store.set_value(entity, row_id, name, value)

    def count(self, entity: str, company: str | None = None, facility: str | None = None) -> int:
        """Return the true number of rows of `entity` under the given company/facility codes."""
        return self._store.count(entity, company, facility)

    def rows(self, entity: str) -> types.MappingProxyType:
        """Read-only view of an entity's rows (id -> Python values), for checks in tests."""
        return types.MappingProxyType(self._store.rows[entity])

    # -- faults, auth, stats ---------------------------------------------------------
    def set_faults(self, settings: FaultSettings | None = None, /, **fields: t.Any) -> None:
        """Inject faults into entity API requests (all off when nothing is given).

        Give a `FaultSettings` or its fields by name: `fail_every` (every N-th request
        answers `fail_status`, 503 or 429, with Retry-After `retry_after` seconds) and
        `drop_every` (every N-th connection dropped, alternately reset and truncated).
        For latency, see `set_capacity`.
        """
        if settings is None:
            settings = FaultSettings(**fields)
        elif fields:
            msg = "give a FaultSettings or its fields, not both"
            raise TypeError(msg)
        self._state.faults.set(settings)

    def set_capacity(
        self, page_latency: float = 0, row_latency: float = 0, workers: int = 0
    ) -> None:
        """Model a WMS's capacity (0 = off).

        Each list page takes `page_latency` seconds plus `row_latency` per row on the
        server, and at most `workers` entity API requests are served at once (the others
        queue).
        """
        self._state.capacity.set(page_latency, row_latency, workers)

    @property
    def capacity(self) -> Capacity:
        """The capacity model, with its counters (`peak_busy`: most requests served at once)."""
        return self._state.capacity

    @property
    def request_log(self) -> list[str]:
        """The latest entity API requests (path and query, oldest first; up to 10,000)."""
        return list(self._state.capacity.log)

    def expire_tokens(self) -> None:
        """Invalidate every issued OAuth2 token (the next API call answers 401)."""
        self._state.tokens.clear()

    @property
    def token_requests(self) -> int:
        """How many OAuth2 tokens were issued."""
        return self._state.token_requests

    @property
    def connections(self) -> int:
        """How many TCP connections clients opened (keep-alive reuses one)."""
        return self._server.connections if self._server is not None else 0

    @property
    def api_requests(self) -> int:
        """How many lgfapi requests were received."""
        return self._state.api_requests
