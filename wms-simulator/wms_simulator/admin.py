"""Admin actions (clock, mutations, faults) and the OAuth2 token endpoint."""

from __future__ import annotations

import base64
import binascii
import typing as t
from urllib.parse import parse_qsl

from wms_simulator.errors import WMSHTTPError
from wms_simulator.faults import FaultSettings
from wms_simulator.store import ScopeError, encode

if t.TYPE_CHECKING:
    from email.message import Message

    from wms_simulator.state import SimulatorState


class SharedServer(t.Protocol):
    """The server's shared parts these answers use."""

    @property
    def state(self) -> SimulatorState:
        """The tokens and the OAuth client."""

    @property
    def simulator(self) -> t.Any:
        """The `WMSSimulator` the admin actions change."""


class Handler(t.Protocol):
    """The request being answered (the server's handler): admin needs no import of the server."""

    @property
    def command(self) -> str:
        """The HTTP method."""

    @property
    def headers(self) -> Message:
        """The request headers."""

    @property
    def server(self) -> SharedServer:
        """The server the request came to."""

    def send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        """Send a complete JSON answer."""

    def read_body(self) -> bytes:
        """Return the request body."""


ADMIN_PREFIX = "/__simulator__/"
TOKEN_PATH = "/oauth2/v1/token"


def admin(handler: Handler, action: str, params: dict[str, str]) -> None:
    """Answer `/__simulator__/{action}`: health (GET) or a change to the simulator (POST)."""
    sim = handler.server.simulator
    if action == "health":
        handler.send(200, b'{"status":"ok"}')
        return
    if handler.command != "POST":
        raise WMSHTTPError(405, "METHOD_NOT_ALLOWED", "admin actions need POST")
    try:
        if action == "advance":
            sim.advance(float(params["minutes"]))
            handler.send(200, encode({"now": sim.now().isoformat()}))
        elif action in ("touch", "insert", "delete"):
            method = {"touch": sim.touch, "insert": sim.insert, "delete": sim.delete}[action]
            ids = method(
                params["entity"],
                int(params["count"]),
                params.get("company"),
                params.get("facility"),
            )
            handler.send(200, encode({"ids": ids}))
        elif action == "faults":
            sim.set_faults(FaultSettings.from_params(params))
            handler.send(200, b'{"status":"ok"}')
        else:
            raise WMSHTTPError(404, "NOT_FOUND", f"unknown admin action '{action}'")
    except (KeyError, ValueError, ScopeError) as exc:
        raise WMSHTTPError(400, "VALIDATION_ERROR", f"bad admin request: {exc}") from exc


def _oauth_error(handler: Handler, status: int, error: str, description: str) -> None:
    handler.send(status, encode({"error": error, "error_description": description}))


def token(handler: Handler) -> None:
    """Answer the IDCS-style token endpoint: client-credentials grant only."""
    if handler.command != "POST":
        raise WMSHTTPError(405, "METHOD_NOT_ALLOWED", "token endpoint needs POST")
    state = handler.server.state
    form = dict(parse_qsl(handler.read_body().decode()))
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    auth = handler.headers.get("Authorization", "")
    if auth.startswith("Basic "):
        client_id, _, client_secret = basic_credentials(auth).partition(":")
    if form.get("grant_type") != "client_credentials":
        _oauth_error(handler, 400, "unsupported_grant_type", "only client_credentials")
    elif (client_id, client_secret) != (state.oauth["client_id"], state.oauth["client_secret"]):
        _oauth_error(handler, 401, "invalid_client", "Client authentication failed.")
    elif form.get("scope") not in (None, state.oauth["scope"]):
        _oauth_error(handler, 400, "invalid_scope", "Unknown scope.")
    else:
        body = {
            "access_token": state.issue_token(),
            "token_type": "Bearer",
            "expires_in": int(state.token_ttl),
        }
        handler.send(200, encode(body))


def basic_credentials(header: str) -> str:
    """Return `user:password` from a Basic Authorization header ("" when unreadable)."""
    try:
        return base64.b64decode(header[6:].strip()).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""
