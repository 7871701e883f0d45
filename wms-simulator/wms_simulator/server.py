"""The simulator's HTTP side: routing, authentication and replies (with injected faults).

The jobs behind the routes live in their own modules: list paging (listing.py), sessions and
cursors (state.py), faults (faults.py), admin actions and OAuth2 tokens (admin.py).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import sys
import typing as t
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from wms_simulator.admin import ADMIN_PREFIX, TOKEN_PATH, admin, basic_credentials, token
from wms_simulator.entities import describe
from wms_simulator.errors import WMSHTTPError
from wms_simulator.listing import list_page
from wms_simulator.live import DESCRIBE_OMITS, LIVE_TYPE_WORDS
from wms_simulator.state import SimulatorState
from wms_simulator.store import encode

__all__ = ["Handler", "SimulatorServer", "SimulatorState", "WMSHTTPError"]

API_VERSIONS = ("v9", "v10")


class Handler(BaseHTTPRequestHandler):
    """One lgfapi request."""

    protocol_version = "HTTP/1.1"  # keep-alive, so clients reuse connections
    disable_nagle_algorithm = True  # no delayed-ACK stalls between header and body writes
    server: SimulatorServer

    def log_message(self, format: str, *args: t.Any) -> None:
        """Stay quiet: the simulator serves thousands of pages."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        """Return the `Date` header: the WMS's own (simulated) clock, not the host's."""
        if timestamp is not None:
            return super().date_time_string(timestamp)
        now = self.server.state.store.now()
        return email.utils.format_datetime(now.astimezone(dt.UTC), usegmt=True)

    # -- plumbing --------------------------------------------------------------------
    def send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        """Send a complete JSON answer."""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _error(self, exc: WMSHTTPError, headers: dict[str, str] | None = None) -> None:
        body = {
            "reference": str(uuid.uuid4()),
            "code": exc.code,
            "message": exc.message,
            "details": None,
        }
        self.send(exc.status, encode(body), headers)

    def read_body(self) -> bytes:
        """Return the request body."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        """Route GET requests."""
        self._dispatch()

    def do_POST(self) -> None:
        """Route POST requests (token endpoint and admin)."""
        self._dispatch()

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        state = self.server.state
        # Admin actions answer under the server root and, for convenience, under base_url.
        admin_path = parts.path.removeprefix(f"/{self.server.environment}")
        try:
            if admin_path.startswith(ADMIN_PREFIX):
                admin(self, admin_path[len(ADMIN_PREFIX) :], dict(parse_qsl(parts.query)))
            elif parts.path == TOKEN_PATH:
                token(self)
            else:
                with state.lock:
                    state.api_requests += 1
                with state.capacity.serving(self.path):
                    self._api(parts.path, parts.query)
        except WMSHTTPError as exc:
            self._error(exc)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- lgfapi ----------------------------------------------------------------------
    def _authenticate(self) -> None:
        state = self.server.state
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer ") and state.token_valid(auth[7:].strip()):
            return
        if auth.startswith("Basic "):
            user, _, password = basic_credentials(auth).partition(":")
            if state.credentials.get(user) == password:
                if user == "noaccess":
                    raise WMSHTTPError(
                        403, "PERMISSION_DENIED", "User lacks the lgfapi_read_access permission"
                    )
                return
        raise WMSHTTPError(401, "AUTHENTICATION_FAILED", "Invalid credentials")

    def _api(self, path: str, query: str) -> None:
        segments = [s for s in path.split("/") if s]
        env = self.server.environment
        # /{env}/wms/lgfapi/{version}/entity/[name/[id|describe/]]
        if segments[:3] != [env, "wms", "lgfapi"] or len(segments) < 5 or segments[4] != "entity":
            raise WMSHTTPError(404, "NOT_FOUND", f"No such resource: {path}")
        if segments[3] not in API_VERSIONS:
            raise WMSHTTPError(404, "NOT_FOUND", f"Unsupported API version '{segments[3]}'")
        if self.command != "GET":
            raise WMSHTTPError(405, "METHOD_NOT_ALLOWED", "Only GET is simulated")
        self._authenticate()
        faults = self.server.state.faults
        fault = faults.next()
        if fault == "fail":
            exc = WMSHTTPError(
                faults.fail_status, faults.fail_code, "Simulated overload, retry later"
            )
            self._error(exc, {"Retry-After": f"{faults.retry_after:g}"})
            return
        rest = segments[5:]
        store = self.server.state.store
        if not rest:
            body = {name: store.entity_url(name) for name in sorted(store.entities)}
            self._reply(200, encode(body), fault)
            return
        entity = rest[0]
        if entity not in store.entities:
            raise WMSHTTPError(404, "NOT_FOUND", f"Entity '{entity}' does not exist")
        if len(rest) == 1:
            self._reply(*list_page(self.server.state, entity, query), fault)
        elif rest[1] == "describe" and len(rest) == 2:
            spec = store.entities[entity]
            if store.live:
                answer = describe(spec, LIVE_TYPE_WORDS, DESCRIBE_OMITS.get(entity, frozenset()))
            else:
                answer = describe(spec)
            self._reply(200, encode(answer), fault)
        elif len(rest) == 2 and rest[1].isdigit():
            row = store.rows[entity].get(int(rest[1]))
            if row is None:
                raise WMSHTTPError(404, "NOT_FOUND", f"No {entity} with id {rest[1]}")
            headers = {}
            if row.get("mod_ts") is not None:
                headers["Last-Modified"] = email.utils.format_datetime(
                    row["mod_ts"].astimezone(dt.UTC), usegmt=True
                )
            self._reply(200, store.encoded(entity, row["id"]), fault, headers)
        else:
            raise WMSHTTPError(404, "NOT_FOUND", f"No such resource: {path}")

    def _reply(
        self, status: int, body: bytes, fault: str | None, headers: dict[str, str] | None = None
    ) -> None:
        if fault == "reset":
            self.close_connection = True
            return  # close without a response: the client sees the connection drop
        if fault == "truncate":
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.send(status, body, headers)


class SimulatorServer(ThreadingHTTPServer):
    """A threaded HTTP server carrying the simulator's shared state."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], state: SimulatorState, environment: str, simulator: t.Any
    ) -> None:
        """Bind the address and remember the shared state."""
        super().__init__(address, Handler)
        self.connections = 0  # accepted TCP connections: shows whether clients keep them alive
        self.state = state
        self.environment = environment
        self.simulator = simulator

    def handle_error(self, request: t.Any, client_address: t.Any) -> None:
        """Stay quiet when a client vanished (a killed tap); report anything else."""
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)

    def process_request(self, request: t.Any, client_address: t.Any) -> None:
        """Count the connection, then serve it in its own thread."""
        self.connections += 1
        super().process_request(request, client_address)
