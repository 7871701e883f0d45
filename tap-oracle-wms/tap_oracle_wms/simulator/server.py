"""The simulator's HTTP side: lgfapi routes, auth, envelopes, cursors, faults, admin."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.utils
import itertools
import math
import secrets
import threading
import time
import typing as t
import uuid
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from tap_oracle_wms.simulator.entities import ENTITIES, describe
from tap_oracle_wms.simulator.query import CONTROL_PARAMS, Query, QueryError
from tap_oracle_wms.simulator.store import ScopeError, Store, encode

MAX_PAGE_SIZE = 1250
DEFAULT_PAGE_SIZE = 100  # the WMS default is the user's "rows per page" (10 to 125)
API_VERSIONS = ("v9", "v10")
ADMIN_PREFIX = "/__simulator__/"
TOKEN_PATH = "/oauth2/v1/token"
_CACHE_SIZE = 64


class WMSHTTPError(Exception):
    """An error answered with the WMS error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        """Remember status, WMS code and message."""
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class Faults:
    """Injected faults, counted over entity API requests only."""

    def __init__(self) -> None:
        """Start with every fault off."""
        self.lock = threading.Lock()
        self.counter = itertools.count(1)
        self.set()

    def set(
        self,
        latency_ms: float = 0,
        fail_every: int = 0,
        fail_status: int = 503,
        retry_after: float = 1,
        drop_every: int = 0,
    ) -> None:
        """Replace the fault settings (0 = off) and restart the request count."""
        with self.lock:
            self.latency_ms, self.fail_every, self.fail_status = latency_ms, fail_every, fail_status
            self.retry_after, self.drop_every = retry_after, drop_every
            self.counter = itertools.count(1)
            self.drops = 0

    def next(self) -> tuple[float, str | None]:
        """Latency (s) and the fault for the next request: None, "fail", "reset", "truncate"."""
        with self.lock:
            n = next(self.counter)
            if self.fail_every and n % self.fail_every == 0:
                return self.latency_ms / 1000, "fail"
            if self.drop_every and n % self.drop_every == 0:
                self.drops += 1
                return self.latency_ms / 1000, "reset" if self.drops % 2 else "truncate"
            return self.latency_ms / 1000, None


class SimulatorState:
    """Everything the request handlers share: data, credentials, tokens, caches, faults."""

    def __init__(
        self, store: Store, credentials: dict[str, str], oauth: dict[str, str], token_ttl: float
    ) -> None:
        """Bind the store and credentials."""
        self.store = store
        self.credentials = credentials  # username -> password; "noaccess" lacks read access
        self.oauth = oauth
        self.token_ttl = token_ttl
        self.tokens: dict[str, float] = {}
        self.token_requests = 0
        self.api_requests = 0
        self.faults = Faults()
        self.lock = threading.Lock()
        self._queries: OrderedDict[tuple, tuple[int, list[int]]] = OrderedDict()
        self._snapshots: OrderedDict[str, list[int]] = OrderedDict()

    def ids_for(self, entity: str, params: dict[str, str]) -> list[int]:
        """Return matching ids in order, cached per query until the data changes."""
        key = (entity, tuple(sorted((k, v) for k, v in params.items() if k not in _PAGING)))
        with self.lock:
            hit = self._queries.get(key)
            if hit and hit[0] == self.store.version:
                self._queries.move_to_end(key)
                return hit[1]
        with self.store.lock:
            version = self.store.version
            ids = Query(self.store, entity, params).run()
        with self.lock:
            self._queries[key] = (version, ids)
            while len(self._queries) > _CACHE_SIZE:
                self._queries.popitem(last=False)
        return ids

    def snapshot(self, ids: list[int]) -> str:
        """Register an ordered id list for a sequenced extraction; its id."""
        sid = secrets.token_hex(8)
        with self.lock:
            self._snapshots[sid] = ids
            while len(self._snapshots) > _CACHE_SIZE:
                self._snapshots.popitem(last=False)
        return sid

    def resolve_cursor(self, token: str) -> tuple[str, list[int], int]:
        """Snapshot id, ids and offset behind an opaque cursor token."""
        try:
            sid, offset = base64.urlsafe_b64decode(token.encode()).decode().split(":")
            ids = self._snapshots[sid]
            return sid, ids, int(offset)
        except (ValueError, KeyError, binascii.Error, UnicodeDecodeError) as exc:
            raise WMSHTTPError(400, "VALIDATION_ERROR", "Invalid or expired cursor") from exc

    def issue_token(self) -> str:
        """Issue a new bearer token."""
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = time.monotonic() + self.token_ttl
            self.token_requests += 1
        return token

    def token_valid(self, token: str) -> bool:
        """Whether a bearer token is known and unexpired."""
        expiry = self.tokens.get(token)
        return expiry is not None and expiry > time.monotonic()


# Parameters that change how results are paged or shown, not which rows match.
_PAGING = CONTROL_PARAMS - {"ordering"}


def cursor_token(sid: str, offset: int) -> str:
    """Return the opaque token for a position in a snapshot."""
    return base64.urlsafe_b64encode(f"{sid}:{offset}".encode()).decode()


class Handler(BaseHTTPRequestHandler):
    """One lgfapi request."""

    protocol_version = "HTTP/1.1"  # keep-alive, so clients reuse connections
    disable_nagle_algorithm = True  # no delayed-ACK stalls between header and body writes
    server: SimulatorServer

    def log_message(self, format: str, *args: t.Any) -> None:
        """Stay quiet: the simulator serves thousands of pages."""

    # -- plumbing --------------------------------------------------------------------
    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
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
        self._send(exc.status, encode(body), headers)

    def _read_body(self) -> bytes:
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
                self._admin(admin_path[len(ADMIN_PREFIX) :], dict(parse_qsl(parts.query)))
            elif parts.path == TOKEN_PATH:
                self._token()
            else:
                with state.lock:
                    state.api_requests += 1
                self._api(parts.path, parts.query)
        except WMSHTTPError as exc:
            self._error(exc)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- admin and OAuth -------------------------------------------------------------
    def _admin(self, action: str, params: dict[str, str]) -> None:
        sim = self.server.simulator
        if action == "health":
            self._send(200, b'{"status":"ok"}')
            return
        if self.command != "POST":
            raise WMSHTTPError(405, "METHOD_NOT_ALLOWED", "admin actions need POST")
        try:
            if action == "advance":
                sim.advance(float(params["minutes"]))
                self._send(200, encode({"now": sim.now().isoformat()}))
            elif action in ("touch", "insert", "delete"):
                method = {"touch": sim.touch, "insert": sim.insert, "delete": sim.delete}[action]
                ids = method(
                    params["entity"],
                    int(params["count"]),
                    params.get("company"),
                    params.get("facility"),
                )
                self._send(200, encode({"ids": ids}))
            elif action == "faults":
                names = ("latency_ms", "fail_every", "fail_status", "retry_after", "drop_every")
                sim.set_faults(
                    **{
                        k: float(v) if k in ("latency_ms", "retry_after") else int(v)
                        for k, v in params.items()
                        if k in names
                    }
                )
                self._send(200, b'{"status":"ok"}')
            else:
                raise WMSHTTPError(404, "NOT_FOUND", f"unknown admin action '{action}'")
        except (KeyError, ValueError, ScopeError) as exc:
            raise WMSHTTPError(400, "VALIDATION_ERROR", f"bad admin request: {exc}") from exc

    def _token(self) -> None:
        if self.command != "POST":
            raise WMSHTTPError(405, "METHOD_NOT_ALLOWED", "token endpoint needs POST")
        state = self.server.state
        form = dict(parse_qsl(self._read_body().decode()))
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            client_id, _, client_secret = _basic(auth).partition(":")
        if form.get("grant_type") != "client_credentials":
            self._send(
                400,
                encode(
                    {
                        "error": "unsupported_grant_type",
                        "error_description": "only client_credentials",
                    }
                ),
            )
            return
        if (client_id, client_secret) != (state.oauth["client_id"], state.oauth["client_secret"]):
            self._send(
                401,
                encode(
                    {
                        "error": "invalid_client",
                        "error_description": "Client authentication failed.",
                    }
                ),
            )
            return
        if form.get("scope") not in (None, state.oauth["scope"]):
            self._send(
                400, encode({"error": "invalid_scope", "error_description": "Unknown scope."})
            )
            return
        self._send(
            200,
            encode(
                {
                    "access_token": state.issue_token(),
                    "token_type": "Bearer",
                    "expires_in": int(state.token_ttl),
                }
            ),
        )

    # -- lgfapi ----------------------------------------------------------------------
    def _authenticate(self) -> None:
        state = self.server.state
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer ") and state.token_valid(auth[7:].strip()):
            return
        if auth.startswith("Basic "):
            user, _, password = _basic(auth).partition(":")
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
        delay, fault = self.server.state.faults.next()
        if delay:
            time.sleep(delay)
        if fault == "fail":
            faults = self.server.state.faults
            exc = WMSHTTPError(
                faults.fail_status,
                "SERVICE_UNAVAILABLE" if faults.fail_status != 429 else "TOO_MANY_REQUESTS",
                "Simulated overload, retry later",
            )
            self._error(exc, {"Retry-After": f"{faults.retry_after:g}"})
            return
        rest = segments[5:]
        store = self.server.state.store
        if not rest:
            body = {name: store.entity_url(name) for name in sorted(ENTITIES)}
            self._reply(200, encode(body), fault)
            return
        entity = rest[0]
        if entity not in ENTITIES:
            raise WMSHTTPError(404, "NOT_FOUND", f"Entity '{entity}' does not exist")
        if len(rest) == 1:
            self._reply(*self._list(entity, query), fault)
        elif rest[1] == "describe" and len(rest) == 2:
            self._reply(200, encode(describe(ENTITIES[entity])), fault)
        elif len(rest) == 2 and rest[1].isdigit():
            row = store.rows[entity].get(int(rest[1]))
            if row is None:
                raise WMSHTTPError(404, "NOT_FOUND", f"No {entity} with id {rest[1]}")
            headers = {}
            if row.get("mod_ts") is not None:
                headers["Last-Modified"] = email.utils.format_datetime(
                    row["mod_ts"].astimezone(dt.timezone.utc), usegmt=True
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
        self._send(status, body, headers)

    def _list(self, entity: str, query: str) -> tuple[int, bytes]:
        state = self.server.state
        # A repeated parameter: only the last one counts.
        params = dict(parse_qsl(query, keep_blank_values=True))
        page_size = _int_param(params, "page_size", DEFAULT_PAGE_SIZE)
        if page_size < 1:
            raise WMSHTTPError(400, "VALIDATION_ERROR", "page_size must be positive")
        page_size = min(page_size, MAX_PAGE_SIZE)
        mode = params.get("page_mode", "paged")
        if mode not in ("paged", "sequenced"):
            raise WMSHTTPError(400, "VALIDATION_ERROR", f"Invalid page_mode '{mode}'")
        empty_code = params.get("empty_response_http_code", "404")
        if empty_code not in ("200", "204", "404"):
            raise WMSHTTPError(400, "VALIDATION_ERROR", "empty_response_http_code: 200, 204 or 404")
        if params.get("format", "json") != "json":
            raise WMSHTTPError(400, "VALIDATION_ERROR", "Only format=json is simulated")
        if "values_list" in params:  # its answer shape is undocumented: refuse, don't guess
            raise WMSHTTPError(400, "VALIDATION_ERROR", "values_list is not simulated")
        fields = [f for f in params.get("fields", "").split(",") if f]
        for name in fields:
            if name not in ENTITIES[entity].by_name and name != "url":
                raise WMSHTTPError(400, "VALIDATION_ERROR", f"Invalid field '{name}' in fields")
        base = state.store.entity_url(entity)
        kept = "&".join(
            p for p in query.split("&") if p and p.split("=")[0] not in ("page", "cursor")
        )
        try:
            if mode == "sequenced" and params.get("cursor"):
                sid, ids, offset = state.resolve_cursor(params["cursor"])
            else:
                ids = state.ids_for(entity, params)
                sid = state.snapshot(ids) if mode == "sequenced" else ""
                offset = 0
        except QueryError as exc:
            raise WMSHTTPError(400, "VALIDATION_ERROR", str(exc)) from exc
        if not ids:
            if empty_code == "404":
                raise WMSHTTPError(404, "NOT_FOUND", f"No {entity} records match the query")
            if empty_code == "204":
                return 204, b""
        if mode == "sequenced":
            nxt = (
                _link(base, kept, f"cursor={cursor_token(sid, offset + page_size)}")
                if offset + page_size < len(ids)
                else None
            )
            prev = (
                _link(base, kept, f"cursor={cursor_token(sid, max(0, offset - page_size))}")
                if offset > 0
                else None
            )
            head = {"next_page": nxt, "previous_page": prev}
        else:
            page = _int_param(params, "page", 1)
            count = len(ids)
            pages = max(1, math.ceil(count / page_size))
            if page < 1 or page > pages:
                raise WMSHTTPError(404, "NOT_FOUND", f"Invalid page '{page}'")
            offset = (page - 1) * page_size
            head = {
                "result_count": count,
                "page_count": pages,
                "page_nbr": page,
                "next_page": _link(base, kept, f"page={page + 1}") if page < pages else None,
                "previous_page": _link(base, kept, f"page={page - 1}") if page > 1 else None,
            }
        chunk = ids[offset : offset + page_size]
        store = state.store
        if fields:  # the slow path: only asked-for fields, encoded per request
            wanted = set(fields)
            rows = [
                encode(
                    {
                        k: v
                        for k, v in store.to_json_obj(entity, store.rows[entity][i]).items()
                        if k in wanted
                    }
                )
                for i in chunk
            ]
        else:
            rows = [store.encoded(entity, i) for i in chunk]
        return 200, encode(head)[:-1] + b',"results":[' + b",".join(rows) + b"]}"


def _link(base: str, kept: str, extra: str) -> str:
    """Return a list URL that keeps the caller's parameters and adds `extra`."""
    return f"{base}?{kept}&{extra}" if kept else f"{base}?{extra}"


def _int_param(params: dict[str, str], name: str, default: int) -> int:
    try:
        return int(params.get(name) or default)
    except ValueError as exc:
        raise WMSHTTPError(400, "VALIDATION_ERROR", f"Invalid {name} '{params[name]}'") from exc


def _basic(header: str) -> str:
    try:
        return base64.b64decode(header[6:].strip()).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""


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

    def process_request(self, request: t.Any, client_address: t.Any) -> None:
        """Count the connection, then serve it in its own thread."""
        self.connections += 1
        super().process_request(request, client_address)
