"""Authentication: HTTP basic, or an OAuth2 client-credentials bearer token."""

from __future__ import annotations

import threading
import time
import typing as t

import msgspec
import requests
from requests.auth import AuthBase, HTTPBasicAuth

from tap_oracle_wms.errors import WMSAuthError, WMSConfigError, WMSUnavailableError

DEFAULT_SCOPE = "urn:resource:fusion:scm:logistics:wms:lgfapi/"
_EXPIRY_MARGIN_S = 60  # renew a little early so a token never expires mid-request


class OAuth2ClientCredentials(AuthBase):
    """A bearer token from the client-credentials grant, cached until shortly before expiry."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str | None,
        session: requests.Session,
        timeout: float,
        verify: bool,
    ) -> None:
        """Remember where and how to get tokens; nothing is fetched yet."""
        self.token_url, self.client_id, self._client_secret = token_url, client_id, client_secret
        self.scope, self.session, self.timeout, self.verify = scope, session, timeout, verify
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Attach the current token."""
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request

    def invalidate(self) -> None:
        """Forget the cached token (after a 401), so the next request fetches a new one."""
        with self._lock:
            self._token = None

    def token(self) -> str:
        """Return the cached token, fetching a new one when missing or about to expire."""
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at:
                self._token, lifetime = self._fetch()
                self._expires_at = time.monotonic() + max(lifetime - _EXPIRY_MARGIN_S, 1)
            return self._token

    def _fetch(self) -> tuple[str, float]:
        data = {"grant_type": "client_credentials"}
        if self.scope:
            data["scope"] = self.scope
        try:
            response = self.session.post(
                self.token_url,
                data=data,
                auth=HTTPBasicAuth(self.client_id, self._client_secret),
                timeout=self.timeout,
                verify=self.verify,
            )
        except requests.RequestException as exc:
            msg = f"Cannot reach the OAuth2 token endpoint ({type(exc).__name__})"
            raise WMSUnavailableError(msg, url=self.token_url) from None
        try:
            body: dict[str, t.Any] = msgspec.json.decode(response.content)
        except msgspec.DecodeError:
            body = {}
        if response.status_code != 200 or "access_token" not in body:
            msg = (
                "OAuth2 token request refused; check oauth_client_id, oauth_client_secret "
                "and oauth_scope"
            )
            raise WMSAuthError(
                msg,
                url=self.token_url,
                status=response.status_code,
                code=str(body.get("error") or "") or None,
                wms_message=str(body.get("error_description") or "") or None,
            )
        return str(body["access_token"]), float(body.get("expires_in") or 3600)


def build_auth(
    config: t.Mapping[str, t.Any], session: requests.Session, timeout: float, verify: bool
) -> AuthBase:
    """Return the authenticator the settings ask for."""
    method = config.get("auth_method", "basic")
    if method == "basic":
        if not config.get("username") or not config.get("password"):
            msg = "auth_method 'basic' needs the settings username and password"
            raise WMSConfigError(msg)
        return HTTPBasicAuth(config["username"], config["password"])
    if method == "oauth2":
        missing = [
            name
            for name in ("oauth_token_url", "oauth_client_id", "oauth_client_secret")
            if not config.get(name)
        ]
        if missing:
            msg = f"auth_method 'oauth2' needs the settings {', '.join(missing)}"
            raise WMSConfigError(msg)
        return OAuth2ClientCredentials(
            config["oauth_token_url"],
            config["oauth_client_id"],
            config["oauth_client_secret"],
            config.get("oauth_scope") or DEFAULT_SCOPE,
            session,
            timeout,
            verify,
        )
    msg = f"auth_method must be 'basic' or 'oauth2', not {method!r}"
    raise WMSConfigError(msg)
